"""Deterministic ClientTokens, derived from the claim key, so every process and every store that
works the same interruption sends the same token for the same step.

Parts: key_prefix (a short stable hash of `cloud:region:instance`), token_for (prefix + step +
attempt), client_token (the capacity engine's per-call token inside one run).

Tokens come from the claim key, not from a random task id: two stores (one SQLite per container)
working the same event must not buy twice. Both clouds take <= 64 ASCII characters.
"""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def key_prefix(claim_key: str) -> str:
    return "r" + hashlib.sha256(claim_key.encode("utf-8")).hexdigest()[:24]


def token_for(claim_key: str, step: str, attempt: int = 0) -> str:
    """`step` names the purpose (image, launch, reserve); `attempt` separates deliberate retries."""
    return f"{key_prefix(claim_key)}-{step}" + (f"-a{attempt}" if attempt else "")


def client_token(run_id: str, seq: int) -> str:
    """A ClientToken both clouds accept (ASCII, <= 64): the same (run, step) always gives the same
    token, so a call re-issued after a crash is recognised by the cloud's idempotency."""
    suffix = f"-s{seq}"
    if _SAFE.fullmatch(run_id) and len(run_id) + len(suffix) <= 64:
        return run_id + suffix
    # Hash instead of truncating: two long run ids sharing a prefix must not collide.
    return "r" + hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:40] + suffix
