"""Settings read from a secret store. The store URL: RESPONDER_DATABASE_SECRET names an AWS Secrets
Manager secret (or an Aliyun KMS secret) holding the old tool's JSON fields username, password,
host, port, dbname (and optionally engine). The notification channels: RESPONDER_NOTIFY_SECRET
names one holding RESPONDER_NOTIFY_URLS' value (as text, or JSON {"urls": "..."}), so webhook
tokens are in no function configuration.

Parts: SecretRefused, parse_reference (`[aws:|aliyun:][region:]name`, or an ARN), url_from_fields,
read_secret_text / read_secret (one GetSecretValue), notify_urls_from, with_secret_url (Settings
with database_url and notify_urls filled in).

The password is URL-quoted into the URL and nowhere else: Settings' repr and the log redaction
mask a URL's password (responder.logsafe.redact_url), and no error raised here carries it.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from responder.clouds.aliyun_kms import get_secret_value
from responder.errors import PermissionDenied
from responder.settings import Settings

DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mysql+pymysql", "aurora-mysql": "mysql+pymysql",
           "postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "aurora-postgresql": "postgresql+psycopg"}


class SecretRefused(RuntimeError):
    """The secret could not be read or lacks a field; the message names which, never a value."""


def parse_reference(ref: str, default_region: str = "") -> tuple[str, str, str]:
    """(cloud, region, secret id)."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        return "aws", parts[3] if len(parts) > 3 else default_region, ref
    cloud = "aws"
    head, sep, rest = ref.partition(":")
    if sep and head in ("aws", "aliyun"):
        cloud, ref = head, rest
    region, sep, name = ref.partition(":")
    if not sep:
        region, name = default_region, ref
    if not name:
        raise SecretRefused("RESPONDER_DATABASE_SECRET names no secret")
    return cloud, region, name


def url_from_fields(fields: dict) -> str:
    missing = [k for k in ("username", "password", "host", "dbname") if not fields.get(k)]
    if missing:
        raise SecretRefused(f"the database secret lacks {', '.join(missing)}")
    engine = str(fields.get("engine") or "").lower()
    port = int(fields.get("port") or 0)
    driver = DRIVERS.get(engine) or ("postgresql+psycopg" if port == 5432 else "mysql+pymysql")
    where = f"{fields['host']}:{port}" if port else str(fields["host"])
    return (f"{driver}://{quote(str(fields['username']), safe='')}:{quote(str(fields['password']), safe='')}"
            f"@{where}/{quote(str(fields['dbname']), safe='')}")


def read_secret(settings: Settings, cloud: str, region: str, name: str) -> dict:
    try:
        return json.loads(read_secret_text(settings, cloud, region, name))
    except ValueError:
        raise SecretRefused(f"the database secret {name} is not JSON") from None


def read_secret_text(settings: Settings, cloud: str, region: str, name: str, what: str = "database") -> str:
    try:
        if cloud == "aws":
            import boto3  # lazy: boto3 costs about 0.3 s of a cold start, and only an AWS secret needs it

            client = boto3.client("secretsmanager", region_name=region or None,
                                  endpoint_url=settings.aws_endpoint_url or None)
            text = client.get_secret_value(SecretId=name)["SecretString"]
        else:
            text = get_secret_value(settings, region, name)
    except SecretRefused:
        raise
    except Exception as exc:  # an SDK error names the secret at most; keep only its class
        denied = _permission_refused(cloud, exc)
        why = f"{exc.__class__.__name__}: {denied}" if denied else exc.__class__.__name__
        raise SecretRefused(f"the {what} secret {name} could not be read ({why})") from None
    return text


def notify_urls_from(text: str) -> str:
    """The channels' text from the secret's value: the text itself, or a JSON object's "urls"
    (the shape the Secrets Manager console writes)."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("urls"), str):
        return parsed["urls"].strip()
    raise SecretRefused('the notification secret is JSON without a "urls" text')


def _permission_refused(cloud: str, exc: Exception) -> str:
    """The permission a policy refused, named as the cloud's policy names it (or "")."""
    if cloud == "aws":
        from botocore.exceptions import ClientError  # Lazy: botocore loads only when an AWS secret is read

        if not isinstance(exc, ClientError):
            return ""
        from responder.clouds.aws_errors import classify  # Lazy: with botocore, above
        found = classify(exc)
    else:
        from aliyunsdkcore.acs_exception.exceptions import ServerException  # Lazy: the Aliyun SDK, on first use

        if not isinstance(exc, ServerException):
            return ""
        from responder.clouds.aliyun_errors import classify  # Lazy: with the Aliyun SDK, above
        found = classify(exc, "GetSecretValue")
    return f"the {found.cloud} policy does not allow {', '.join(found.permissions)}" \
        if isinstance(found, PermissionDenied) else ""


def with_secret_url(settings: Settings) -> Settings:
    """Settings whose database_url (RESPONDER_DATABASE_SECRET) and notify_urls (RESPONDER_NOTIFY_SECRET)
    come from their secrets, where those are set; the secret wins over the plain variable."""
    changes: dict = {}
    if settings.database_secret:
        cloud, region, name = parse_reference(settings.database_secret)  # AWS: "" = boto3's own region chain
        changes["database_url"] = url_from_fields(read_secret(settings, cloud, region, name))
    if settings.notify_secret:
        cloud, region, name = parse_reference(settings.notify_secret)
        urls = notify_urls_from(read_secret_text(settings, cloud, region, name, "notification"))
        changes["notify_urls"] = (urls,) if urls else ()
    return settings.with_(**changes) if changes else settings
