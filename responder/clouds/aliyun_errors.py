"""ECS error codes, classified once into responder.errors.

Parts: NO_CAPACITY, THROTTLED, NOT_FOUND, INVALID (module-level frozensets), the is_* predicates
over a code, classify (an aliyunsdkcore exception → the taxonomy, keeping Aliyun's code and
message and naming the action and what we were doing), and SDK_FAULTS_AS_WARNINGS (the SDK's own
ERROR line for a fault the product handles, logged at WARNING).

Unknown codes are Fatal: an error we do not understand is not retried. Server faults (HTTP 5xx,
InternalError, ServiceUnavailable) and network failures (the SDK's ClientException SDK.HttpError:
timeout, reset, refused connection) are Transient: every create carries a ClientToken and is re-sent
with the same parameters, so the one retrying layer may safely send the same call again.
"""

from __future__ import annotations

import logging
import re

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException

from responder.clouds.permissions import required
from responder.errors import CloudError, Fatal, Invalid, NoCapacity
from responder.errors import NotFound, PermissionDenied, Throttled, TokenReused, Transient

NO_CAPACITY = frozenset({
    "OperationDenied.NoStock",  # HTTP 403 from RunInstances / CreateCapacityReservation / Modify...
    "Zone.NotOnSale",
    "InvalidResourceType.NotSupported",  # the type is not sold in that zone (now)
    "InstanceType.Offline",
    "OperationDenied.NoSpotStock",
    "ResourceNotAvailable",
    "InvalidInstanceType.NotSupported",  # "not supported in this zone" on some regions
    "Zone.NotOpen",
})

THROTTLED = frozenset({
    "Throttling",
    "Throttling.User",
    "Throttling.Api",
    "Throttling.Resource",
})

TRANSIENT = frozenset({
    "InternalError",  # HTTP 500 "The request processing has failed due to some unknown error."
    "ServiceUnavailable",  # HTTP 503
    "SDK.HttpError",  # no answer at all; see the module docstring
    "SDK.ServerUnreachable",
    "UnknownError",
})

# ECS: a ClientToken sent again with other parameters. The first call happened.
TOKEN_REUSED = frozenset({"IdempotenceParamNotMatch", "IdempotentParameterMismatch"})

NOT_FOUND = frozenset({
    "InvalidInstanceId.NotFound",
    "InvalidImageId.NotFound",
    "InvalidVSwitchId.NotFound",
    "InvalidRegionId.NotFound",
    "InvalidParameter.PrivatePoolOptions.Id",  # an unknown reservation id
    "InvalidParameter.PrivatePoolOptions.Ids",
})

INVALID = frozenset({
    "MissingParameter",
    "IncorrectImageStatus",
    "IncorrectInstanceStatus",
    "InvalidParameter",
    "OperationDenied",
})

# Credentials: never retried, never "invalid input" either.
FATAL = frozenset({
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeySecret",
    "SignatureDoesNotMatch",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.Malformed",
})

# RAM refused the call (HTTP 403): the policy lacks the action. The SDK keeps only Code and Message,
# not AccessDeniedDetail.AuthAction, so the action is named from responder.clouds.permissions.
PERMISSION = frozenset({"Forbidden.RAM", "Forbidden", "NoPermission"})


def is_no_capacity(code: str) -> bool:
    return code in NO_CAPACITY


def is_throttled(code: str) -> bool:
    return code in THROTTLED


def is_not_found(code: str) -> bool:
    return code in NOT_FOUND or (code.startswith("Invalid") and code.endswith(".NotFound"))


def is_invalid(code: str) -> bool:
    # Invalid*.Malformed / .ValueNotSupported / MissingParameter.X: a request we got wrong.
    return (code in INVALID or code.startswith(("Invalid", "MissingParameter"))) and not is_not_found(code)


# First match wins: credentials before everything, capacity before the generic Invalid* prefix.
_KINDS: tuple = (
    (FATAL.__contains__, Fatal),
    (is_no_capacity, NoCapacity),
    (is_throttled, Throttled),
    (TOKEN_REUSED.__contains__, TokenReused),
    (TRANSIENT.__contains__, Transient),
    (is_not_found, NotFound),
    (is_invalid, Invalid),
)


def classify(error: Exception, action: str = "", doing: str = "") -> CloudError:
    """The one place an Aliyun SDK error becomes NoCapacity / Throttled / NotFound / Invalid / Fatal."""
    status = None
    if isinstance(error, ServerException):
        code, message, status = error.get_error_code() or "", error.get_error_msg() or "", error.get_http_status()
    elif isinstance(error, ClientException):
        code, message = error.get_error_code() or "", error.get_error_msg() or ""
    else:
        code, message = type(error).__name__, str(error)
    if doing:
        message = f"{doing}: {message}" if message else doing
    if code in PERMISSION:
        return PermissionDenied("aliyun", required("aliyun", action), code, message, action, status)
    kind = next((k for test, k in _KINDS if test(code)), None)
    if kind is None:  # an unknown code: a server-side fault may be retried, anything else may not
        kind = Transient if status is not None and status >= 500 else Fatal
    return kind(code or "Unknown", message, action, status)


class _HandledFaultsAsWarnings(logging.Filter):
    """aliyunsdkcore logs every error answer ("ServerException occurred ... HTTP Status: 500
    Error:InternalError ...") and every transport failure ("HttpError occurred") at ERROR, before
    it raises. The ones the product handles (a transient fault or a throttle the one retry layer
    retries, no stock the engine moves past, a not-found the steps expect) are logged at WARNING;
    what classify calls Fatal or Invalid (credentials, a request we got wrong) stays an ERROR."""

    _SERVER_FAULT = re.compile(r"HTTP Status: (\d+) Error:(\S+)")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.ERROR:
            return True
        text = record.getMessage()
        fault = self._SERVER_FAULT.search(text)
        if text.startswith("HttpError occurred"):
            handled = True
        elif fault:
            handled = not isinstance(classify(ServerException(fault[2], "", http_status=int(fault[1]))),
                                     (Fatal, Invalid))
        else:
            handled = False
        if handled:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


SDK_FAULTS_AS_WARNINGS = _HandledFaultsAsWarnings()
logging.getLogger("aliyunsdkcore.client").addFilter(SDK_FAULTS_AS_WARNINGS)  # the SDK module's own logger
