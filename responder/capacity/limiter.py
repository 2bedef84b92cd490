"""One adaptive limiter of the API budget (budget.py): a cloud's token bucket, or ECS's calls per
window with its lock-out, whose rate follows what the cloud answers.

Parts: RateMeter (the measured send rate), Limiter (admission, the adaptive rate, ECS's lock-out
and probing, the deferred calls' places in line), MIN_RATE, CLAIM_GRACE, TOKEN_MARGIN.

Adaptive like botocore's `adaptive` retry mode (botocore/retries/adaptive.py, bucket.py,
throttling.py): a throttle empties the bucket and cuts the fill rate to 0.7 × the current rate —
or, when most answers are throttled (the cloud's bucket is drained, by this process or its
neighbours), 0.7 × min(measured send rate, current), as botocore does — and successes let it grow
again along CUBIC's curve (botocore's own CubicCalculator) on the limit's own clock. A throttle cuts
again only while throttles are a large share of the answers, or once the last cut has recovered:
several processes or function instances sharing one account converge without a coordinator, and
throttles a cloud answers at random cost a cut now and then, not one each (botocore's cut from the
measured rate on every throttle leaves a bucket far above the demand at the demand's level, where
such throttles then bite; bench/budget.py measures both). Unlike botocore, the limiter is on from
the first call, at the cloud's documented figures, and never above them. Time is passed in
(`now`): the budget's clock, a ManualClock in tests and benchmarks.
"""

from __future__ import annotations

import math
from collections import deque

from botocore.retries.throttling import CubicCalculator

from responder.capacity.api_limits import Limit

MIN_RATE = 0.5  # calls per second a throttled bucket keeps (botocore's TokenBucket minimum)
# ECS, per minute: after a throttle, probe at one call a second (then less often) until one passes;
# the cloud's minute may begin up to a second after ours. Both scale with a window other than 60 s.
PROBE_SHARE = LOCKOUT_MARGIN_SHARE = 1 / 60
# Throttles this many and this large a share of the answers since the last cut are the sender's own
# doing and cut again at once; fewer (a busy neighbour, a cloud's noise) cut once per unit of time.
OURS_AT_LEAST, OURS_SHARE = 3, 0.25
DRAINED_AT_LEAST, DRAINED_SHARE = 8, 0.5  # most answers throttled: cut from the measured rate
CLAIM_GRACE = 10.0  # a deferred call keeps its place this long after its retry time
# A call goes when the bucket holds this much more than its token (or is full). The cloud's bucket and ours count
# the same refill along different sums of times, so at the exact edge ours may hold 1.0000 token
# while the cloud's holds 0.9999 and refuses: one throttle cuts the rate to 0.7 x for about 30 s
# (EC2's CreateImage bucket, 50 / 5: a wave of 200's last CreateImage came 3.4 s late for it).
TOKEN_MARGIN = 0.01


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
        self.held_until = 0.0  # ECS's lock-out: no call before this
        self.probing, self.last_probe, self.probe_gap = False, -math.inf, 0.0
        self.last_cut = -math.inf  # when a throttle last lowered the rate...
        self.since_cut = [0, 0]  # ...and the answers since: [all, throttled]
        self.waiting: dict[str, tuple[tuple, float, float]] = {}  # claim → (priority, deferred since, retry at)

    @property
    def unit(self) -> float:
        """The limit's own time: a window, or twice the time its bucket takes to fill. CUBIC's clock
        runs in it (botocore's constants in seconds would have processes sharing a small bucket
        probe above their share every second or two). A throttle lowers the rate again only once
        it has climbed back (_recovered), or while throttles are a large share of the answers
        (_ours): a few throttles the cloud answers whatever the rate (bench/faults.py's noise)
        cost one cut now and then, not one each. tests/test_budget.py and bench/budget.py measure
        what this gives."""
        return self.limit.window or 2 * self.limit.capacity / self.limit.refill

    def _time(self, now: float) -> float:
        return now / self.unit

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
        if self.limit.window:
            free = self.capacity - len(self.sent)
        else:  # a full bucket is full on both sides; below it, keep the margin
            free = self.tokens if self.tokens >= self.capacity else self.tokens - TOKEN_MARGIN
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
        at = max(self.held_until, self._ready_at(now, 1 + self.ahead(priority, claim)))
        return max(at, self.last_probe + PROBE_SHARE * self.limit.window) if self.probing else at

    def ahead(self, priority: tuple, claim: str) -> int:
        """Deferred calls of higher priority than this caller's that still wait."""
        return sum(1 for c, (p, _, _) in self.waiting.items() if c != claim and p < priority)

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

    def answered(self, now: float, throttled: bool, code: str = "") -> bool:
        """Adapt to one answer (a throttle's `code`, when told); True when the rate changed."""
        measured = self.meter.record(now)
        self.since_cut[0] += 1
        self._settle(now)  # tokens earned so far, at the rate they were earned at
        if throttled:
            self.tokens = 0.0  # the cloud's bucket is empty: ours was a fiction, whatever it held
            if code in self.limit.lockout:
                self._hold(now)
            self.since_cut[1] += 1
            if not (self._ours(OURS_AT_LEAST, OURS_SHARE) or self._recovered(now)):
                return False
            # Most answers throttled: the cloud's bucket is drained, by this process or its
            # neighbours, so fall below what is really sent (botocore's min(measured, current));
            # otherwise below the current rate: a bucket far above the demand is not cut to the
            # demand by a few throttles the cloud answered at random (bench/budget.py).
            drained = self._ours(DRAINED_AT_LEAST, DRAINED_SHARE) and measured > 0
            base = min(measured, self.rate) if drained else self.rate
            self.last_cut, self.since_cut = now, [0, 0]
            new = self.cubic.error_received(base, self._time(now))
            self.adapting = True
        else:
            self.probing, self.probe_gap = False, 0.0
            if not self.adapting:
                return False
            new = self.cubic.success_received(self._time(now))
        before = self.rate
        self.rate = min(self.limit.refill, max(min(MIN_RATE, self.limit.refill), new))
        self.tokens = min(self.tokens, self.capacity)
        self.adapting = self.rate < self.limit.refill  # recovered: the documented figures again
        return self.rate != before

    def _ours(self, at_least: int, share: float) -> bool:
        """Throttles are this many and this large a share of the answers since the last cut."""
        answers, throttled = self.since_cut
        return throttled >= at_least and throttled >= share * answers

    def _recovered(self, now: float) -> bool:
        """The rate has climbed back to where the last cut took it from (CUBIC's K, in units)."""
        return now >= self.last_cut + self.cubic.get_params_snapshot().k * self.unit

    def _hold(self, now: float) -> None:
        """ECS: a throttled API may stay refused until the next minute. Probe it (ECS's advice: one
        call a second), each refused probe doubling the wait, never past the next minute: a lock-out
        costs a handful of refused calls, and a throttle that was not one costs a second."""
        window = self.limit.window
        self.probe_gap = self.probe_gap * 2 if self.probing else PROBE_SHARE * window
        boundary = (math.floor(now / window) + 1 + LOCKOUT_MARGIN_SHARE) * window
        self.held_until = max(self.held_until, min(now + self.probe_gap, boundary))
        self.probing = True
