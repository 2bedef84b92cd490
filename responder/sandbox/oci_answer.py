"""The error answer of the OCI emulator: OciError (HTTP status, OCI's code, message) and not_found,
OCI's one answer for a resource that is missing or not allowed
(https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm)."""

from __future__ import annotations


class OciError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def not_found() -> OciError:
    return OciError(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
