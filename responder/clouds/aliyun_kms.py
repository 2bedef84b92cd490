"""Aliyun KMS GetSecretValue through the core SDK's CommonRequest (no KMS SDK needed).

Parts: get_secret_value (the secret's text; the endpoint is the settings' Aliyun endpoint when one
is set, e.g. the sandbox, otherwise kms.<region>.aliyuncs.com over HTTPS).

Credentials are the responder's own (ALIBABA_CLOUD_* from settings, FC's STS token included).
No retry here: a store URL is read once at start, and a failure stops the start with a message.
"""

from __future__ import annotations

import json

from responder.settings import Settings

KMS_VERSION = "2016-01-20"


def get_secret_value(settings: Settings, region: str, name: str) -> str:
    # Lazy: the Aliyun SDK loads with the first Aliyun call, not at start.
    from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    if not region:
        raise ValueError("an Aliyun KMS secret needs its region: aliyun:REGION:NAME")
    if settings.aliyun_security_token:
        credential = StsTokenCredential(settings.aliyun_access_key_id, settings.aliyun_access_key_secret,
                                        settings.aliyun_security_token)
    else:
        credential = AccessKeyCredential(settings.aliyun_access_key_id, settings.aliyun_access_key_secret)
    endpoint = settings.aliyun_endpoint.split("://", 1)[-1].rstrip("/")
    loopback = endpoint.startswith(("127.", "localhost"))
    client = AcsClient(region_id=region, credential=credential, auto_retry=False, max_retry_time=0, timeout=10,
                       connect_timeout=5, proxy={"http": None, "https": None} if loopback else None)
    request = CommonRequest(domain=endpoint or f"kms.{region}.aliyuncs.com", version=KMS_VERSION,
                            action_name="GetSecretValue")
    request.set_method("POST")
    request.set_protocol_type("http" if loopback or settings.aliyun_endpoint.startswith("http://") else "https")
    request.add_query_param("SecretName", name)
    body = json.loads(client.do_action_with_exception(request))
    return body["SecretData"]
