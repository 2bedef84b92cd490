"""EC2 error codes, classified once into responder.errors.

Parts: NO_CAPACITY, THROTTLED, NOT_FOUND, INVALID, FATAL (module-level frozensets), the is_*
predicates over a code, classify (a botocore ClientError → the taxonomy, keeping AWS's code and
message and naming the operation and what we were doing), and region_refused (a refusal that
says the region is not one this account uses, not that our credentials are wrong).

Unknown codes are Fatal: an error we do not understand is not retried (Karpenter pkg/errors and
botocore's retry checkers work the same way), unless EC2 answered it with HTTP 5xx: server faults
(InternalError, Unavailable, ServiceUnavailable) and transport failures (timeouts, resets, refused
connections: classify_transport) are Transient, re-sent with the same token and parameters.
"""

from __future__ import annotations

import functools
import re

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from responder.clouds.permissions import required
from responder.errors import CloudError, Fatal, Invalid, NoCapacity
from responder.errors import NotFound, PermissionDenied, Throttled, TokenReused, Transient

NO_CAPACITY = frozenset({
    "InsufficientInstanceCapacity",  # HTTP 500 from RunInstances / CreateCapacityReservation
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacityOnHost",
    "Unsupported",  # "instance type not supported in your requested Availability Zone"
    "UnfulfillableCapacity",
    "SpotMaxPriceTooLow",  # the spot market price is above our max: no capacity for us there
    # A cluster placement group's live members are in another zone: that zone is closed to the group
    # until they are gone (the original, once released), so it is tried again like a sold-out offering.
    "InvalidPlacementGroup.InUse",
})

THROTTLED = frozenset({
    "RequestLimitExceeded",  # EC2: HTTP 503
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "EC2ThrottledException",
})

TRANSIENT = frozenset({
    "InternalError",  # HTTP 500
    "InternalFailure",
    "ServiceUnavailable",  # HTTP 503
    "Unavailable",
})

TOKEN_REUSED = frozenset({"IdempotentParameterMismatch"})

NOT_FOUND = frozenset({
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",  # an id that cannot exist is, for a caller, not found
    "InvalidAMIID.NotFound",
    "InvalidAMIID.Unavailable",
    "InvalidCapacityReservationId.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
})

INVALID = frozenset({
    "InvalidParameterValue",
    "InvalidParameter",
    "InvalidParameterCombination",
    "MissingParameter",
    "InvalidInstanceType",
    "InvalidAvailabilityZone",
    "IncorrectState",
    "IncorrectInstanceState",
    "ValidationError",
    "UnsupportedOperation",
})

# The policy does not allow the call (EC2 UnauthorizedOperation, HTTP 403; Secrets Manager
# AccessDeniedException). EC2 names the action in the message ("... is not authorized to perform:
# ec2:RunInstances on resource: ..."); when it does not, the table names what the call needs.
PERMISSION = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"})
_PERFORM = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")

FATAL = frozenset({
    "AuthFailure",
    "OptInRequired",
    "Blocked",
})


def is_no_capacity(code: str) -> bool:
    return code in NO_CAPACITY


def is_throttled(code: str) -> bool:
    return code in THROTTLED


def is_not_found(code: str) -> bool:
    return code in NOT_FOUND or code.endswith(".NotFound") or code.endswith("NotFoundException")


def is_invalid(code: str) -> bool:
    # Every EC2 "Invalid*" code not already a NotFound is a request we got wrong.
    return code in INVALID or (code.startswith("Invalid") and not is_not_found(code))


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "") or "")


def classify(error: ClientError, doing: str = "") -> CloudError:
    """The one place an AWS error becomes NoCapacity / Throttled / NotFound / Invalid / Fatal."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "") or "")
    if doing:
        message = f"{doing}: {message}" if message else doing
    operation = getattr(error, "operation_name", "") or ""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in PERMISSION:
        named = _PERFORM.search(message)
        wanted = (named.group(1),) if named else required("aws", operation)
        return PermissionDenied("aws", wanted, code, message.split(" Encoded authorization failure")[0], operation,
                                status)
    if code in FATAL:
        kind: type[CloudError] = Fatal
    elif is_no_capacity(code):
        kind = NoCapacity
    elif is_throttled(code):
        kind = Throttled
    elif code in TOKEN_REUSED:
        kind = TokenReused
    elif code in TRANSIENT or (status or 0) >= 500 and code not in FATAL:
        kind = Transient
    elif is_not_found(code):
        kind = NotFound
    elif is_invalid(code):
        kind = Invalid
    else:
        kind = Fatal
    return kind(code or "Unknown", message, operation, status)


def classify_transport(error: BotoCoreError, operation: str, doing: str = "") -> CloudError:
    """No HTTP answer at all: a timeout, a reset or a refused connection may be tried again (the
    call may or may not have happened); anything else botocore raises (credentials, parameter
    validation) is ours to fix."""
    message = f"{doing}: {error}" if doing else str(error)
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return Transient(type(error).__name__, message, operation)
    return Fatal(type(error).__name__, message, operation)


@functools.lru_cache(maxsize=1)
def _known_regions() -> frozenset[str]:
    """Every EC2 region of every partition this botocore knows (its endpoint data; no call)."""
    # Lazy: botocore.session costs about 1 s and 30 MB; only a refused call needs the region list.
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(r for p in session.get_available_partitions()
                     for r in session.get_available_regions("ec2", partition_name=p))


def region_refused(error: CloudError, region: str) -> bool:
    """EC2 refuses a request for a region the account does not use: OptInRequired (an opt-in
    region not enabled), or AuthFailure, which is also its answer to wrong credentials, so it
    counts only for a region botocore does not know at all (a forged one). Error codes for the
    Amazon EC2 API: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html"""
    return error.code == "OptInRequired" or (error.code == "AuthFailure" and region not in _known_regions())
