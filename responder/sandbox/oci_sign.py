"""OCI request signatures, checked as OCI checks them, and the sandbox's API key.

Parts: SignatureError (→ 401 NotAuthenticated), verify (one request's Authorization header against
the configured key), signing_string (what the client signed), ApiKey + new_api_key (an RSA key
pair, its PEM and its OCI fingerprint), fingerprint_of.

The scheme is draft-cavage HTTP Signatures as OCI uses it
(https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm), and the SDK's
oci/signer.py with its vendored httpsig_cffi is the reference we verify against:
`Authorization: Signature version="1",keyId="<tenancy>/<user>/<fingerprint>",algorithm="rsa-sha256",
headers="date (request-target) host",signature="<base64>"`; POST, PUT and PATCH also sign
content-length, content-type and x-content-sha256 (base64 SHA-256 of the body), which must match
the body that arrived. OCI refuses a Date more than 5 minutes from its clock ("the request is
rejected if the date is more than 5 minutes off"): the emulator does too, on the real clock (the
SDK stamps real time, whatever the scenario's time scale).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_SKEW_SECONDS = 300.0
GET_HEADERS = ("date", "(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(Exception):
    """The request is not authenticated; the message says why (OCI's own says little more)."""


@dataclass(frozen=True)
class ApiKey:
    private_pem: str
    public_pem: str
    fingerprint: str


def fingerprint_of(public_key) -> str:
    """OCI's key fingerprint: MD5 of the DER public key, as colon-separated hex pairs."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()  # noqa: S324 - OCI's fingerprint format, not a security hash here
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def new_api_key(bits: int = 2048) -> ApiKey:

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return ApiKey(private, public, fingerprint_of(key.public_key()))


def load_public_key(pem: str):

    return serialization.load_pem_public_key(pem.encode())


def signing_string(names: list[str], method: str, target: str, headers) -> str:
    """The text the client signed: one `name: value` line per signed header, in its order."""
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureError(f"the signed header {name!r} is missing")
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def verify(authorization: str, method: str, target: str, headers, body: bytes, key_id: str, public_key,
           now: float | None = None) -> None:
    """Raise SignatureError unless the request is signed by `key_id`'s key, fresh, and its body is
    the one signed. `target` is the path and query exactly as sent; `headers` a case-insensitive map."""
    if not authorization.startswith("Signature "):
        raise SignatureError("the Authorization header is not an OCI request signature")
    params = dict(_PARAM.findall(authorization))
    if params.get("version", "1") != "1" or params.get("algorithm") != "rsa-sha256":
        raise SignatureError("unsupported signature version or algorithm")
    if params.get("keyId") != key_id:
        raise SignatureError("the keyId (tenancy/user/fingerprint) is not a known API key")
    names = params.get("headers", "date").lower().split()
    required = GET_HEADERS + (BODY_HEADERS if method.upper() in ("POST", "PUT", "PATCH") else ())
    missing = [h for h in required if h not in names]
    if missing:
        raise SignatureError(f"the signature does not cover {', '.join(missing)}")
    _check_date(headers.get("date") or headers.get("x-date") or "", now)
    if method.upper() in ("POST", "PUT", "PATCH"):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("x-content-sha256") != digest:
            raise SignatureError("x-content-sha256 does not match the body")
        if headers.get("content-length") != str(len(body)):
            raise SignatureError("content-length does not match the body")
    try:
        signature = base64.b64decode(params.get("signature", ""), validate=True)
        public_key.verify(signature, signing_string(names, method, target, headers).encode("ascii"),
                          padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as err:
        raise SignatureError("the signature does not match the request") from err


def _check_date(raw: str, now: float | None) -> None:
    try:
        sent = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        raise SignatureError("the date header is missing or malformed") from None
    skew = abs((time.time() if now is None else now) - sent)
    if skew > MAX_SKEW_SECONDS:
        raise SignatureError(f"the date header is {skew:.0f} s off (more than {MAX_SKEW_SECONDS:.0f} s)")
