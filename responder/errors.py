"""The error taxonomy every cloud adapter classifies into, once.

Parts: CloudError (base, carries code/message/operation), NoCapacity, AccountLimit (a NoCapacity
that is the account's own limit, not the region's stock), Transient (the call may succeed if made
again: 5xx, InternalError, ServiceUnavailable, timeouts, resets), Throttled (a Transient the API
asked for), Deferred (the client-side API budget holds the call back; nothing was sent), NotFound,
Invalid, TokenReused (the cloud saw this ClientToken with other parameters: the first call
happened), Fatal, PermissionDenied (a Fatal that is the deployment's fault: the cloud's
policy does not allow a call; it names the cloud and the permissions); BadEvent for payloads we
refuse at the edge; Unavailable (the store or a cloud is down: the edge answers 503 so the platform
redelivers); ConfigurationError (a setting, store URL or scenario a person wrote that cannot work:
every command stops with its one-line message, exit 2).

Adapters raise these; callers decide. Unknown cloud codes are Fatal: retrying an error we do not
understand risks spending money twice. Retrying a Transient create is safe only because every
create carries a deterministic token and its exact parameters are saved before the call.
"""

from __future__ import annotations


class CloudError(Exception):
    """A cloud call failed. `code` is the cloud's own error code, kept for the operator."""

    def __init__(self, code: str, message: str = "", operation: str = "", http_status: int | None = None):
        self.code = code
        self.message = message
        self.operation = operation
        self.http_status = http_status
        where = f" during {operation}" if operation else ""
        super().__init__(f"{code}{where}: {message}" if message else f"{code}{where}")


class NoCapacity(CloudError):
    """The offering (type, zone, market) has no stock right now; another may."""


class AccountLimit(NoCapacity):
    """This account's own service limit or quota refuses the launch (OCI LimitExceeded /
    QuotaExceeded, e.g. the Always Free A1 and E2.1.Micro limits): not the region's stock. Waiting
    does not help until something of ours is released or the limit is raised."""

    def __init__(self, code: str, message: str = "", operation: str = "", http_status: int | None = None):
        note = "this account's service limit, not the region's stock (Always Free limits count here)"
        super().__init__(code, f"{message} ({note})" if message else note, operation, http_status)


class Transient(CloudError):
    """The call failed on the way or on the server's side (5xx, timeout, reset); the same call,
    with the same token and parameters, may succeed after a backoff. A create may have happened."""


class Throttled(Transient):
    """The API asked us to slow down; the same call may succeed after a backoff."""


class TokenReused(CloudError):
    """The cloud already saw this ClientToken with other parameters (EC2 IdempotentParameterMismatch,
    ECS IdempotenceParamNotMatch): the first call happened. Find what it made; never re-create."""


class Deferred(Transient):
    """No call was made: the client-side API budget (capacity/budget.py) has no token for it now.
    `retry_at` is when one will be there. Raised by an adapter's CallGate before the SDK call;
    whoever drives the work comes back then, without counting a failure (it is a Transient so
    that code which only knows Transient ends its run and keeps the call pending)."""

    def __init__(self, retry_at: float, operation: str = "", key: str = ""):
        super().__init__("BudgetWait", f"API budget {key} has no token now", operation)
        self.retry_at = retry_at
        self.key = key


class NotFound(CloudError):
    """The resource does not exist (or not in this region / account)."""


class Invalid(CloudError):
    """The request is wrong (bad type, zone, parameter); retrying cannot help."""


class Fatal(CloudError):
    """Anything else: permissions, unknown codes, server faults we do not retry."""


class PermissionDenied(Fatal):
    """The cloud refused the call for want of a permission (Aliyun Forbidden.RAM, EC2
    UnauthorizedOperation, OCI NotAuthorizedOrNotFound where only authorization can be missing):
    a configuration fault. `permissions` names what the policy must allow; no retry can add it."""

    def __init__(self, cloud: str, permissions: tuple[str, ...], code: str, message: str = "", operation: str = "",
                 http_status: int | None = None):
        self.cloud = cloud
        self.permissions = tuple(permissions)
        wanted = ", ".join(self.permissions) or "a permission the responder's table does not know"
        told = f" ({message})" if message else ""
        super().__init__(code, f"the {cloud} policy does not allow {wanted}{told}", operation, http_status)


class BadEvent(ValueError):
    """A payload we refuse at the edge: the message names the problem, the status is a 4xx."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Unavailable(Exception):
    """The store or a cloud is down: the edge answers 503 so the platform redelivers."""


class ConfigurationError(ValueError):
    """A setting, store URL or scenario file a person wrote cannot be used. The message is one line
    that names what is wrong and how to fix it; a command prints it alone and exits 2."""
