"""Function Compute's per-request credentials for the Aliyun adapter.

FC assumes the function's role and passes the temporary AccessKey on every request it sends a
custom runtime, as the headers x-fc-access-key-id, x-fc-access-key-secret and x-fc-security-token
(Function Compute, "Custom runtime: context and log format", common request headers). The
environment's ALIBABA_CLOUD_* STS token is fixed when an instance starts and expires under a
long-lived instance, so each request's headers win over it; a configured long-term AccessKey (an
ID without a token) wins over the headers, the operator having chosen it.

Parts: FcCredentials (the three values; never printed), from_headers, RequestCredentials (applies a
request's credentials to the adapter, building it when the environment gave none).
The values are handed to the SDK's credential object only: never logged, never in an answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from responder.settings import Settings

FC_CREDENTIAL_HEADERS = ("x-fc-access-key-id", "x-fc-access-key-secret", "x-fc-security-token")


@dataclass(frozen=True)
class FcCredentials:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str = field(repr=False)


def from_headers(headers: Mapping[str, str]) -> FcCredentials | None:
    """The request's temporary credentials, or None when FC sent none (a function without a role,
    or a request that did not come from FC)."""
    key_id, secret, token = (headers.get(name, "") for name in FC_CREDENTIAL_HEADERS)
    return FcCredentials(key_id, secret, token) if key_id and secret and token else None


def headers_apply(settings: Settings) -> bool:
    """Whether requests' credentials are used: Aliyun is served and no long-term AccessKey is set."""
    long_term_key = bool(settings.aliyun_access_key_id) and not settings.aliyun_security_token
    return "aliyun" in settings.clouds and not long_term_key


class RequestCredentials:
    """Gives the Aliyun adapter in `clouds` (the runner's own dict) each request's credentials.
    Where the environment had none, the adapter is built on the first request that brings them,
    passed through `install` (the app wraps it for metrics and the API budget) and kept."""

    def __init__(self, settings: Settings, clouds: MutableMapping[str, Any], install: Callable[[Any], Any]):
        self._settings, self._clouds, self._install = settings, clouds, install
        self._lock = threading.Lock()

    def apply(self, headers: Mapping[str, str]) -> bool:
        """True when the request's credentials are now the adapter's."""
        if not headers_apply(self._settings):
            return False
        credentials = from_headers(headers)
        if credentials is None:
            return False
        with self._lock:
            cloud = self._clouds.get("aliyun")
            if cloud is None:
                # Lazy: the Aliyun SDK loads with the first Aliyun call, not at start.
                from responder.clouds.aliyun import AliyunCloud

                self._clouds["aliyun"] = self._install(AliyunCloud(
                    credentials.access_key_id, credentials.access_key_secret,
                    security_token=credentials.security_token, endpoint=self._settings.aliyun_endpoint))
                return True
        adapter = getattr(cloud, "_cloud", cloud)  # the adapter under the metrics wrapper
        adapter.use_credentials(credentials.access_key_id, credentials.access_key_secret, credentials.security_token)
        return True
