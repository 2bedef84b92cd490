"""One adaptive limiter of the API budget (budget.py): a cloud's token bucket, or ECS's calls per
window with its lock-out, whose rate follows what the cloud answers.

Parts: RateMeter (the measured send rate), Limiter (admission, the adaptive rate, ECS's lock-out
and probing, the deferred calls' places in line), MIN_RATE, CLAIM_GRACE.

Adaptive like botocore's `adaptive` retry mode (botocore/retries/adaptive.py, bucket.py,
throttling.py): every answer feeds a measured send rate; a throttle sets the fill rate to 0.7 ×
min(measured, current) and empties the bucket, and successes let it grow again along CUBIC's curve
(botocore's own CubicCalculator), never above twice the measured rate — so several processes or
function instances sharing one account converge without a coordinator. Unlike botocore, the
limiter is on from the first call, at the cloud's documented figures, and never above them. Time
is passed in (`now`): the budget's clock, a ManualClock in tests and benchmarks.
"""

from __future__ import annotations

import math
from collections import deque

from botocore.retries.throttling import CubicCalculator

from responder.capacity.api_limits import Limit

MIN_RATE = 0.5  # calls per second a throttled bucket keeps (botocore's TokenBucket minimum)
# ECS, per minute: after a throttle, probe at one call a second until one passes; the cloud's
# minute may begin up to a second after ours. Both scale with a window given as other than 60 s.
PROBE_SHARE = LOCKOUT_MARGIN_SHARE = 1 / 60
CLAIM_GRACE = 10.0  # a deferred call keeps its place this long after its retry time


class RateMeter:
    """botocore's RateClocker: sends counted in half-second buckets, smoothed 0.8 / 0.2."""

    def __init__(self, now: float):
        self.rate, self.count, self.last = 0.0, 0, math.floor(now)

    def record(self, now: float) -> float:
        bucket = math.floor(now * 2) / 2
        self.count += 1
        if bucket > self.last:
            self.rate = 0.8 * self.count / (bucket - self.last) + 0.2 * self.rate
            self.count, self.last = 0, bucket
        return self.rate


class Limiter:
    """One bucket (or window) of one cloud, region and API (class), adapted to the answers."""

    def __init__(self, limit: Limit, now: float):
        self.limit, self.rate, self.tokens, self.stamp = limit, limit.refill, limit.capacity, now
        self.sent: deque[float] = deque()  # a window's admissions, oldest first
        self.cubic = CubicCalculator(limit.refill, self._time(now))
        self.meter = RateMeter(now)
        self.adapting = False  # since a throttle, until the rate is back at the documented figure
        self.held_until = 0.0  # ECS's lock-out
        self.probing, self.last_probe = False, -math.inf
        self.waiting: dict[str, tuple[tuple, float, float]] = {}  # claim → (priority, deferred since, retry at)

    def _time(self, now: float) -> float:
        """CUBIC's clock, in the limit's own time: a window, or twice the time its bucket takes to
        fill (botocore's constants in seconds would have processes sharing a small bucket probe
        above their share every second or two; tests/test_budget.py measures what this gives)."""
        return now / (self.limit.window or 2 * self.limit.capacity / self.limit.refill)

    @property
    def capacity(self) -> float:
        return max(1.0, self.limit.capacity * self.rate / self.limit.refill)

    def _settle(self, now: float) -> None:
        if self.limit.window:
            while self.sent and self.sent[0] <= now - self.limit.window:
                self.sent.popleft()
        elif now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        for claim in [c for c, (_, _, at) in self.waiting.items() if at + CLAIM_GRACE < now]:
            del self.waiting[claim]

    def _ready_at(self, now: float, need: int) -> float:
        free = self.capacity - len(self.sent) if self.limit.window else self.tokens
        if free >= need:
            return now
        if not self.limit.window:
            return now + (need - free) / self.rate
        index = math.ceil(need - free) - 1  # the admission whose expiry frees enough
        return self.sent[index] + self.limit.window if index < len(self.sent) else now + self.limit.window

    def admits_at(self, now: float, priority: tuple, claim: str) -> float:
        """When this caller may go: after the lock-out, the probe beat, and the tokens of every
        deferred call of higher priority that still waits."""
        self._settle(now)
        ahead = sum(1 for c, (p, _, _) in self.waiting.items() if c != claim and p < priority)
        at = max(self.held_until, self._ready_at(now, 1 + ahead))
        return max(at, self.last_probe + PROBE_SHARE * self.limit.window) if self.probing else at

    def take(self, now: float, claim: str) -> float:
        """Admit one call; returns how long this claim waited for it (0 when it never did)."""
        if self.limit.window:
            self.sent.append(now)
        else:
            self.tokens -= 1
        if self.probing:
            self.last_probe = now
        waited = self.waiting.pop(claim, None)
        return now - waited[1] if waited else 0.0

    def defer(self, now: float, priority: tuple, claim: str, retry_at: float) -> None:
        if claim:
            since = self.waiting.get(claim, (priority, now, retry_at))[1]
            self.waiting[claim] = (priority, since, retry_at)

    def answered(self, now: float, throttled: bool) -> bool:
        """Adapt to one answer; True when the rate changed."""
        measured = self.meter.record(now)
        if throttled:
            base = min(measured, self.rate) if measured > 0 else self.rate
            new = self.cubic.error_received(base, self._time(now))
            self.adapting = True
            self.tokens = 0.0  # the cloud's bucket is empty: ours was a fiction, whatever it held
            if self.limit.lockout:  # refused until the cloud's next window, then probed
                window = self.limit.window
                self.held_until = max(self.held_until,
                                      (math.floor(now / window) + 1 + LOCKOUT_MARGIN_SHARE) * window)
                self.probing = True
        else:
            self.probing = False
            if not self.adapting:
                return False
            new = self.cubic.success_received(self._time(now))
        if measured > 0:
            new = min(new, 2 * measured)
        before = self.rate
        self._settle(now)
        self.rate = min(self.limit.refill, max(min(MIN_RATE, self.limit.refill), new))
        self.tokens = min(self.tokens, self.capacity)
        self.adapting = self.rate < self.limit.refill  # recovered: the documented figures again
        return self.rate != before
