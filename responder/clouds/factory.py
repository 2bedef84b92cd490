"""Build the cloud adapters from settings (credentials from env; FC injects its role's STS token).

Parts: oci_missing (the OCI API-key settings not set, or no SDK), clouds_from_settings (the adapters of every configured cloud), unconfigured_clouds (each
served cloud (RESPONDER_CLOUDS) that cannot be called, with the reason and the settings that
would fix it), chain_checks (the checks only an SDK's credential chain can answer, which a server
runs after its start: responder.clouds.credential_check), unconfigured_reason. Imports are lazy so
a deployment for one cloud does not need the other's credentials to start.

A cloud without credentials is left out rather than built to fail: its events are answered
`unconfigured` at once (2xx, so senders stop redelivering an event no retry can fix), /healthz
says `degraded` naming it, and start-up logs it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from responder.extras import OCI_MISSING, oci_installed
from responder.settings import Settings

ALIYUN_MISSING = ("no Aliyun credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
                  "(on Function Compute, give the function a role: FC injects its STS token)")
AWS_MISSING = ("no AWS credentials: boto3's chain found none (environment, profile, or the Lambda / "
               "instance role)")
OCI_SETTINGS = (("oci_user", "OCI_USER_OCID"), ("oci_fingerprint", "OCI_FINGERPRINT"),
                ("oci_tenancy", "OCI_TENANCY_OCID"), ("oci_region", "OCI_REGION"), ("oci_key_file", "OCI_KEY_FILE"))


def _aws_needs_chain(settings: Settings) -> bool:
    """AWS is served and only boto3's chain can say whether it has credentials. Keys in the
    environment (Lambda sets them too) or an endpoint override (the sandbox) answer at once."""
    return "aws" in settings.clouds and not settings.aws_endpoint_url and not (
        settings.aws_access_key_id and settings.aws_secret_access_key)


def _aws_chain_has_credentials() -> bool:
    """boto3's own chain, as the adapter will use it (profile, container or instance role); off
    EC2 its metadata lookup gives up after botocore's 1 s timeout."""
    # Lazy: boto3 costs about 0.1 s of CPU and 9 MB at a start; it loads only when AWS is used.
    import boto3

    return boto3.session.Session().get_credentials() is not None


def chain_checks(settings: Settings) -> dict[str, Callable[[], str]]:
    """cloud → a check returning why it is unconfigured ("" when it is not), for each served cloud
    whose credentials only its SDK's chain can tell: AWS without keys in the environment."""
    if not _aws_needs_chain(settings):
        return {}
    return {"aws": lambda: "" if _aws_chain_has_credentials() else AWS_MISSING}


def unconfigured_clouds(settings: Settings, deferred: Collection[str] = ()) -> dict[str, str]:
    """cloud → why it cannot be called. An endpoint override (the sandbox) counts as configured.
    A cloud in `deferred` (its chain_checks entry runs later) counts as configured here."""
    missing: dict[str, str] = {}
    if "aliyun" in settings.clouds and not (settings.aliyun_access_key_id or settings.aliyun_endpoint):
        missing["aliyun"] = ALIYUN_MISSING
    if "aws" not in deferred and _aws_needs_chain(settings) and not _aws_chain_has_credentials():
        missing["aws"] = AWS_MISSING
    if "oci" in settings.clouds and oci_missing(settings):
        missing["oci"] = oci_missing(settings)
    return missing


def oci_missing(settings: Settings) -> str:
    """Why OCI cannot be called: the API-key settings that are not set, or the SDK not installed
    (the `oci` extra); "" when it can."""
    unset = [env for attr, env in OCI_SETTINGS if not getattr(settings, attr)]
    if unset:
        return f"no OCI API key: set {', '.join(unset)}"
    return "" if oci_installed() else OCI_MISSING


def clouds_from_settings(settings: Settings, missing: dict[str, str] | None = None) -> dict:
    """The adapters of the configured clouds; `missing` (from unconfigured_clouds) saves a second
    look through the credential chain."""
    missing = unconfigured_clouds(settings) if missing is None else missing
    clouds: dict = {}
    if "aliyun" in settings.clouds and "aliyun" not in missing:
        # Lazy: each cloud's SDK loads only when that cloud is used (a cold start pays for none it skips).
        from responder.clouds.aliyun import AliyunCloud

        clouds["aliyun"] = AliyunCloud(settings.aliyun_access_key_id, settings.aliyun_access_key_secret,
                                       security_token=settings.aliyun_security_token,
                                       endpoint=settings.aliyun_endpoint)
    if "aws" in settings.clouds and "aws" not in missing:
        # Lazy: boto3 costs about 0.3 s of a start; it loads only when AWS is used.
        from responder.clouds.aws import AwsCloud

        # boto3 finds credentials itself (env, profile, Lambda role); we only pass an endpoint override.
        clouds["aws"] = AwsCloud(endpoint_url=settings.aws_endpoint_url or None, advisor_url=settings.spot_advisor_url)
    if "oci" in settings.clouds and "oci" not in missing:
        # Lazy: the OCI SDK is an install extra and costs about 0.3 s and 30 MB to load.
        from responder.clouds.oci import OciCloud

        # The SDK itself is imported on the first call, not here (responder/clouds/oci.py).
        clouds["oci"] = OciCloud.from_settings(settings)
    return clouds


def unconfigured_reason(cloud: str, settings: Settings) -> str:
    """Why an event of `cloud` cannot be acted on here (the answer's and the notification's reason)."""
    if cloud not in settings.clouds:
        return f"{cloud} is not served here (RESPONDER_CLOUDS={','.join(settings.clouds)})"
    if cloud == "oci" and oci_missing(settings):
        return oci_missing(settings)
    return {"aliyun": ALIYUN_MISSING, "aws": AWS_MISSING}.get(cloud, f"no {cloud} cloud is configured")
