"""OCI error codes, classified once into responder.errors.

Parts: NO_CAPACITY_MESSAGES, ACCOUNT_LIMIT, THROTTLED, TRANSIENT, TOKEN_REUSED, NOT_FOUND, INVALID,
AUTH (module-level frozensets), the is_* predicates, classify (an oci.exceptions.ServiceError →
the taxonomy) and classify_transport (no HTTP answer at all).

OCI answers errors as JSON {"code", "message"} with an HTTP status and an opc-request-id header
(https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm). Capacity is not a code
of its own: LaunchInstance answers HTTP 500 InternalError with the message "Out of host capacity.",
so the message decides, and a plain InternalError stays Transient. Unknown codes below 500 are
Fatal: an error we do not understand is not retried.
"""

from __future__ import annotations

from responder.clouds.permissions import required
from responder.errors import AccountLimit, CloudError, Fatal, Invalid, NoCapacity
from responder.errors import NotFound, PermissionDenied, Throttled, TokenReused, Transient

# Matched case-insensitively inside InternalError's message (HTTP 500 from LaunchInstance).
NO_CAPACITY_MESSAGES = frozenset({"out of host capacity", "out of capacity"})
NO_CAPACITY_CODE = "OutOfHostCapacity"

ACCOUNT_LIMIT = frozenset({
    "LimitExceeded",  # 400: a service limit (Always Free: A1 4 OCPUs / 24 GB, 2 x E2.1.Micro)
    "QuotaExceeded",  # 400: a compartment quota policy
})

THROTTLED = frozenset({"TooManyRequests"})  # 429

TRANSIENT = frozenset({
    "InternalError",  # 500 (when not "Out of host capacity")
    "InternalServerError",
    "ServiceUnavailable",  # 503
    "GatewayTimeout",
})

TOKEN_REUSED = frozenset({
    "InvalidatedRetryToken",  # 409: the opc-retry-token was used with another request body
})

NOT_FOUND = frozenset({
    "NotAuthorizedOrNotFound",  # 404: OCI does not say which of the two
    "NotFound",
})

INVALID = frozenset({
    "InvalidParameter",
    "MissingParameter",
    "CannotParseRequest",
    "RelatedResourceNotAuthorizedOrNotFound",  # 404 in OCI's words, but it names *our* request's fault
    "IncorrectState",
    "Conflict",
    "NotAuthorizedOrResourceAlreadyExists",
    "UnsupportedOperation",
})

AUTH = frozenset({
    "NotAuthenticated",  # 401: bad signature, unknown key, clock skew
    "SignUpRequired",
    "NotAuthorized",
})

# OCI answers a missing permission as 404 NotAuthorizedOrNotFound, never naming which. On a call
# whose only target is the compartment (a listing, a launch, an image of an instance the responder
# just read) nothing else can be missing: that is a permission refusal, named from the table. On a
# Get or a Terminate of one resource it stays NotFound: the resource may really be gone.
COMPARTMENT_OPERATIONS = frozenset({"list_availability_domains", "list_shapes", "list_images", "list_instances",
                                    "launch_instance", "create_image", "list_vnic_attachments", "list_subnets"})

AUTH_HINT = ("check OCI_USER_OCID, OCI_TENANCY_OCID, OCI_FINGERPRINT (the fingerprint of the API key uploaded "
             "to the user) and OCI_KEY_FILE (the matching private key), and the machine's clock")


def is_no_capacity(code: str, message: str) -> bool:
    lowered = message.lower()
    return code == NO_CAPACITY_CODE or (code in TRANSIENT and any(m in lowered for m in NO_CAPACITY_MESSAGES))


def is_account_limit(code: str) -> bool:
    return code in ACCOUNT_LIMIT


def is_throttled(code: str, status: int | None = None) -> bool:
    return code in THROTTLED or status == 429


def is_not_found(code: str, status: int | None = None) -> bool:
    return code in NOT_FOUND or (status == 404 and code not in INVALID)


def is_invalid(code: str) -> bool:
    return code in INVALID


def is_auth(code: str, status: int | None = None) -> bool:
    return code in AUTH or status == 401


def classify(error, doing: str = "") -> CloudError:
    """The one place an oci ServiceError becomes NoCapacity / AccountLimit / Throttled / ... / Fatal."""
    code = str(getattr(error, "code", "") or "Unknown")
    message = str(getattr(error, "message", "") or "")
    status = getattr(error, "status", None)
    operation = str(getattr(error, "operation_name", "") or "")
    text = f"{doing}: {message}" if doing and message else (doing or message)
    if is_auth(code, status):
        return Fatal(code, f"{text} ({AUTH_HINT})", operation, status)
    if code == "NotAuthorizedOrNotFound" and operation in COMPARTMENT_OPERATIONS:
        api = "".join(part.capitalize() for part in operation.split("_"))
        return PermissionDenied("oci", required("oci", api), code, text, operation, status)
    if is_no_capacity(code, message):
        return NoCapacity(NO_CAPACITY_CODE, text, operation, status)
    if is_account_limit(code):
        return AccountLimit(code, text, operation, status)
    if is_throttled(code, status):
        return Throttled(code, text, operation, status)
    if code in TOKEN_REUSED:
        return TokenReused(code, text, operation, status)
    if code in TRANSIENT or (status or 0) >= 500:
        return Transient(code, text, operation, status)
    if is_not_found(code, status):
        return NotFound(code, text, operation, status)
    if is_invalid(code) or status == 400:
        return Invalid(code, text, operation, status)
    return Fatal(code, text, operation, status)


def classify_transport(error: BaseException, operation: str, doing: str = "") -> CloudError:
    """No HTTP answer: a timeout, reset or refused connection may be tried again (the call may or
    may not have happened); a key the SDK cannot load is ours to fix."""
    # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
    from oci.exceptions import ClientError, ConnectTimeout, RequestException

    message = f"{doing}: {error}" if doing else str(error)
    if isinstance(error, (ConnectTimeout, RequestException)):
        return Transient(type(error).__name__, message, operation)
    if isinstance(error, ClientError):  # InvalidPrivateKey, MissingPrivateKeyPassphrase, InvalidKeyFilePath
        return Fatal(type(error).__name__, f"{message} ({AUTH_HINT}; OCI_KEY_PASSPHRASE if the key has one)",
                     operation)
    return Fatal(type(error).__name__, message, operation)
