"""Keeping secrets out of answers, notifications and logs.

Parts: public_task_view (a task's JSON with user data reduced to its size and a sha256 prefix),
user_data_summary, redact_url (a URL without its password), Redactor (masks known secret values
and credential-shaped parameters / headers / XML elements / PEM private keys in any text), RedactingFilter (the same
as a logging.Filter), secret_values (what settings hold that must never be shown),
install_log_redaction (one call from every place that configures logging), active_redactor,
SDK_LOGGERS.

Why a log record factory and not a handler filter: a filter on a handler misses handlers added
later (gunicorn's, a test's capture), and a filter on a logger never sees records propagated from
its children. The record factory runs for every record any logger creates, once it passed the
level check, so every handler receives the masked text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import threading
import traceback
from typing import Any, Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
SHA256_PREFIX_CHARS = 12
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words in every line
USER_DATA_KEYS = frozenset({"user_data", "UserData", "userData"})
# The SDKs log signed URLs, headers and request parameters at DEBUG (boto3's own reference, under
# set_stream_logger: "when logging anything from 'botocore' the full wire trace will appear in your
# logs"); they stay at WARNING unless RESPONDER_SDK_DEBUG is set, and even then every record passes
# through the Redactor.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "aliyunsdkcore", "aliyunsdkecs", "oci")

_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]*:)([^@\s/'\"]+)(@)")
# key = value, key: value, 'key': 'value', "key":"value", key:\nvalue (botocore's "Signature:\n…"),
# key%3Dvalue (a query string quoted inside Aliyun's string-to-sign).
# `\b` before the shorter names keeps NextToken / ClientToken (not secrets) readable.
_CREDENTIAL_NAMES = (r"(?:signature|x-amz-signature|securitytoken|x-amz-security-token|\btoken|session_?token|"
                     r"access_?token|secret_?access_?key|access_?key_?secret|\bpassword|\buser_?data)")
_CREDENTIAL_PARAM = re.compile(
    rf"(?i)({_CREDENTIAL_NAMES}['\"]?\s*(?:[:=]|%3D)\s*(?:b?['\"])?)([^\s'\"&,;<>{{\[][^\s'\"&,;<>]*)")
# EC2's XML answers: <userData><value>…</value></userData>, <sessionToken>…</sessionToken>.
_CREDENTIAL_XML = re.compile(rf"(?i)(<{_CREDENTIAL_NAMES}>\s*(?:<value>)?)([^<\s][^<]*)")
# A PEM private key (the OCI API key file's content), whole or cut off at the end of a line.
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S)
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*(?:b?['\"])?(?:bearer\s+|basic\s+)?)([^\s'\",;&]+)")


def user_data_summary(user_data: str) -> dict[str, Any]:
    """Size (of the decoded bytes when it is base64, as the APIs carry it) and a sha256 prefix."""
    try:
        raw = base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        raw = user_data.encode("utf-8", "surrogatepass")
    return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()[:SHA256_PREFIX_CHARS]}


def public_task_view(value: Any, redactor: "Redactor | None" = None) -> Any:
    """A copy of a task's JSON view safe to answer or send: every user-data field, at any depth,
    becomes its summary (the original instance's user data often carries bootstrap secrets), and
    every other string is masked like a log line (a cloud's error text, kept as the task's reason,
    can quote the signed request)."""
    redactor = redactor or active_redactor()
    if isinstance(value, dict):
        return {k: (user_data_summary(v) if k in USER_DATA_KEYS and isinstance(v, str) and v
                    else public_task_view(v, redactor)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_task_view(v, redactor) for v in value]
    if isinstance(value, str):
        return redactor.redact(value)
    return value


def redact_url(url: str) -> str:
    """`mysql+pymysql://user:pw@host/db` → `mysql+pymysql://user:***@host/db`."""
    return _URL_PASSWORD.sub(rf"\1{MASK}\3", url)


def _url_password(url: str) -> str:
    match = _URL_PASSWORD.search(url)
    return unquote(match.group(2)) if match else ""


def secret_values(settings) -> list[str]:
    """Every value in `settings` that must never be shown: keys, secrets, tokens, the DB password,
    and the webhook URL (Slack, DingTalk and Feishu URLs carry their own access token)."""
    names = ("auth_token", "aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_security_token",
             "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "notify_webhook_url",
             "oci_key_passphrase")
    notify_urls = list(getattr(settings, "notify_urls", ()))  # apprise URLs carry tokens too
    return [v for v in [getattr(settings, n, "") for n in names] + notify_urls
            + [_url_password(settings.database_url)] if v]


def _variants(secret: str) -> set[str]:
    """The forms a secret takes on the wire: as is, percent-encoded once (query strings) and twice
    (Aliyun's string-to-sign inside an error message), form-encoded."""
    once = quote(secret, safe="")
    return {secret, once, quote(once, safe=""), quote_plus(secret), quote(secret, safe="~")}


class Redactor:
    """Masks known secret values and credential-shaped parameters in text."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._known: re.Pattern | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            for secret in secrets:
                if secret and len(secret) >= MIN_SECRET_CHARS:
                    self._secrets |= _variants(secret)
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first: no partial masks
            self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        text = _PEM_KEY.sub(f"-----PRIVATE KEY {MASK}-----", text)
        text = _URL_PASSWORD.sub(rf"\1{MASK}\3", text)
        text = _AUTHORIZATION.sub(rf"\1{MASK}", text)
        text = _CREDENTIAL_XML.sub(rf"\1{MASK}", text)
        return _CREDENTIAL_PARAM.sub(rf"\1{MASK}", text)

    def scrub(self, record: logging.LogRecord) -> logging.LogRecord:
        """Render the record's message now and keep only the masked text (and traceback)."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string still must not print its arguments unmasked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(str(message)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # a handler formatting it again would print the unmasked text
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return record


class RedactingFilter(logging.Filter):
    """The Redactor as a logging.Filter, for a logging config that wants one on its handlers."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        self.redactor.scrub(record)
        return True


_installed: Redactor | None = None
_PATTERNS_ONLY = Redactor()  # no known values yet: credential-shaped text is still masked
_install_lock = threading.Lock()


def install_log_redaction(settings) -> Redactor:
    """Mask `settings`' secrets (and credential-shaped text) in every log record from now on, and
    hold the SDK loggers at WARNING unless settings.sdk_debug. Safe to call again: secrets add up."""
    global _installed
    with _install_lock:
        if _installed is None:
            redactor = Redactor()
            previous = logging.getLogRecordFactory()

            def masked_record(*args, **kwargs) -> logging.LogRecord:
                return redactor.scrub(previous(*args, **kwargs))

            logging.setLogRecordFactory(masked_record)
            _installed = redactor
        _installed.add(secret_values(settings))
    sdk_level = logging.NOTSET if getattr(settings, "sdk_debug", False) else logging.WARNING
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(sdk_level)
    return _installed


def active_redactor() -> Redactor:
    """The installed Redactor (or one knowing no secrets yet): for text that is not a log record."""
    return _installed or _PATTERNS_ONLY
