"""Hunting statistics and pacing: what every launch attempt of a target taught, and when the
cloud may be asked again.

Parts: OUTCOMES, outcome_of (an attempt's answer → its kind), CountingAcquirer (counts attempts
per zone and outcomes by kind; stops the run at an account limit), merge_counts (into the row's
stats), paced (OCI: the minimum interval between two calls for one target, and the throttling
backoff on top of it), too_early (a row leased before its minimum interval is over), HUNT_THROTTLE.

The old cron script polled every five minutes and got its users throttled (TooManyRequests) or
blocked. Here an OCI target is never read or launched for more often than
RESPONDER_HUNT_MIN_INTERVAL_SECONDS, whatever ticks: the time of the last call is kept on the row
(`last_call_at`), so a restart, a second ticker or `targets set` (which makes a row due at once)
cannot shorten it. A throttled call doubles the wait from twice that interval up to
HUNT_THROTTLE.cap, jittered, the streak counted on the row.
"""

from __future__ import annotations

from typing import Callable

from responder.errors import AccountLimit, CloudError, NoCapacity, Throttled
from responder.retry import Backoff

OUTCOMES = ("launched", "out_of_capacity", "throttled", "account_limit", "other")
HUNT_THROTTLE_CAP = 3600.0


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "launched"
    if isinstance(error, AccountLimit):  # before NoCapacity: it is one, but not the region's stock
        return "account_limit"
    if isinstance(error, NoCapacity):
        return "out_of_capacity"
    if isinstance(error, Throttled):
        return "throttled"
    return "other"


class CountingAcquirer:
    """Wraps the target's acquirer (inside the money caps: a refused cap is no attempt)."""

    def __init__(self, inner):
        self.inner = inner
        self.by_zone: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.limit: AccountLimit | None = None  # the account's own limit refused a launch: stop

    def create(self, offering, count: int, token: str):
        self.by_zone[offering.zone] = self.by_zone.get(offering.zone, 0) + 1
        try:
            got = self.inner.create(offering, count, token)
        except CloudError as exc:
            kind = outcome_of(exc)
            self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
            if isinstance(exc, AccountLimit):
                self.limit = exc
            raise
        self.outcomes["launched"] = self.outcomes.get("launched", 0) + 1
        return got

    def __getattr__(self, name):  # grow (reservations) and anything else the engine looks for
        return getattr(self.inner, name)


def merge_counts(stats: dict, counter: CountingAcquirer) -> None:
    for key, counts in (("attempts_by_zone", counter.by_zone), ("outcomes", counter.outcomes)):
        merged = dict(stats.get(key) or {})
        for k, n in counts.items():
            merged[k] = merged.get(k, 0) + n
        if merged:
            stats[key] = merged


def count_outcome(stats: dict, kind: str) -> None:
    """An answer outside a launch (a throttled listing) still counts among the outcomes."""
    merged = dict(stats.get("outcomes") or {})
    merged[kind] = merged.get(kind, 0) + 1
    stats["outcomes"] = merged


def too_early(stats: dict, now: float, min_interval: float) -> float | None:
    """When the row may be worked, if that is later than `now`."""
    allowed = float(stats.get("last_call_at") or 0.0) + min_interval
    wait = float(stats.get("not_before") or 0.0)
    later = max(allowed, wait)
    return later if later > now else None


def paced(stats: dict, now: float, next_at: float, min_interval: float, throttled: bool,
          rand: Callable[[], float]) -> float:
    """The row's next_at for an OCI target, after a pass that called the cloud at `now`."""
    stats["last_call_at"] = now
    if throttled:
        stats["throttles"] = stats.get("throttles", 0) + 1
        delay = Backoff(base=2 * min_interval, cap=max(HUNT_THROTTLE_CAP, 2 * min_interval)).delay(
            stats["throttles"], rand)
        stats["not_before"] = now + max(min_interval, delay)
        return stats["not_before"]
    stats["throttles"] = 0
    stats.pop("not_before", None)
    return max(next_at, now + min_interval)
