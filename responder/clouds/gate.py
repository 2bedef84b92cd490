"""The API budget's door in every adapter: what an adapter asks before each API call and tells
after it.

Parts: CallGate (the protocol capacity/budget.py implements), OpenGate / OPEN_GATE (no budget),
through_gate (one call through a gate).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol

from responder.errors import Throttled


class CallGate(Protocol):
    """What an adapter asks before each API call and tells after it: the client-side API budget
    (capacity/budget.py implements it; the adapter only knows this protocol). `before` raises
    errors.Deferred when the call must wait (nothing is sent); `after` reports whether the cloud
    throttled it (and the throttle's error code), so the budget's rate follows what the cloud says."""

    def before(self, cloud: str, region: str, action: str) -> None: ...

    def after(self, cloud: str, region: str, action: str, throttled: bool, code: str = "") -> None: ...


class OpenGate:
    """No budget: every call goes at once (tests of one adapter, the CLI's one-shot commands)."""

    def before(self, cloud: str, region: str, action: str) -> None:
        return None

    def after(self, cloud: str, region: str, action: str, throttled: bool, code: str = "") -> None:
        return None


OPEN_GATE = OpenGate()


@contextmanager
def through_gate(gate: CallGate, cloud: str, region: str, action: str) -> Iterator[None]:
    """One API call through the adapter's gate: asked first (errors.Deferred: nothing is sent),
    told after whether the cloud throttled it — the body raises the error its adapter classified."""
    gate.before(cloud, region, action)
    throttled = ""
    try:
        yield
    except Throttled as exc:
        throttled = exc.code
        raise
    finally:
        gate.after(cloud, region, action, bool(throttled), throttled)
