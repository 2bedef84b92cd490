"""Hunting statistics and pacing: what every launch attempt of a target taught, and when the
cloud may be asked again.

Parts: OUTCOMES, outcome_of (an attempt's answer → its kind), CountingAcquirer (counts attempts
per zone and outcomes by kind; stops the run at an account limit), merge_counts (into the row's
stats), paced (OCI: the minimum interval between two calls for one target, and the throttling
backoff on top of it), too_early (a row leased before its minimum interval is over),
HUNT_THROTTLE_CAP, hunt_line (a target's hunt in one line: the daily report, the status page),
spec_line (what a target hunts, in one line: the start-up and hunt-started messages).

The old cron script polled every five minutes and got its users throttled (TooManyRequests) or
blocked. Here an OCI target is never read or launched for more often than
RESPONDER_HUNT_MIN_INTERVAL_SECONDS, whatever ticks: the time of the last call is kept on the row
(`last_call_at`), so a restart, a second ticker or `targets set` (which makes a row due at once)
cannot shorten it. A throttled call doubles the wait from twice that interval up to
HUNT_THROTTLE.cap, jittered, the streak counted on the row.
"""

from __future__ import annotations

import re
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
    last = stats.get("last_call_at")
    later = max(float(last) + min_interval if last is not None else now, float(stats.get("not_before") or now))
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


_LABELS = {"launched": "launched", "out_of_capacity": "out of capacity", "throttled": "throttled",
           "account_limit": "account limit", "other": "other errors"}


def _short_zone(zone: str) -> str:
    """Uocm:AP-CHUNCHEON-1-AD-1 → AD-1 (a chat line, not an id); other clouds' zones as they are."""
    match = re.search(r"AD-\d+$", zone)
    return match.group(0) if match and ":" in zone else zone


def hunt_line(row_json: dict) -> str:
    """One line per target for the daily report and the status page: state, held / count,
    attempts (per zone), outcomes by kind, the last error."""
    parts = [f"{row_json.get('state', 'new')} {row_json.get('held') if row_json.get('held') is not None else '-'}"
             f"/{row_json.get('count')}"]
    attempts = row_json.get("attempts", 0)
    if attempts:
        zones = ", ".join(f"{_short_zone(z)} {n}" for z, n in (row_json.get("attempts_by_zone") or {}).items())
        parts.append(f"{attempts} attempts" + (f" ({zones})" if zones else ""))
    outcomes = row_json.get("outcomes") or {}
    if outcomes:
        parts.append(", ".join(f"{_LABELS.get(k, k)} {n}" for k, n in outcomes.items()))
    if row_json.get("last_error"):
        parts.append(f"last error {row_json['last_error']}")
    if row_json.get("acquired_at"):
        parts.append(f"acquired {row_json['acquired_at']}")
    return "; ".join(parts)


def spec_line(t) -> str:
    """What a target hunts, as the start-up and hunt-started messages say it: shapes, size,
    boot volume, image, subnet, zones."""
    spec = t.launch
    parts = [", ".join(t.instance_types)]
    if spec.ocpus or spec.memory_gb:
        parts.append(f"{spec.ocpus:g} OCPU / {spec.memory_gb:g} GB")
    if spec.boot_volume_gb:
        parts.append(f"boot {spec.boot_volume_gb} GB")
    if spec.boot_volume_id:  # OCI: the preserved boot volume of a preempted original; its image is the fallback
        parts.append(f"from boot volume {spec.boot_volume_id} (the original's state), else")
    image = f"{spec.image_os} {spec.image_os_version}".strip() or spec.image_id
    if image:
        parts.append(image)
    if spec.subnet:
        parts.append(f"subnet {spec.subnet}")
    parts.append(f"{t.count} x in {', '.join(_short_zone(z) for z in t.zones) or 'every AD'} of {t.region}")
    return "; ".join(parts)
