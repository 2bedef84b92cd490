"""Drive client-side API budgets against one cloud bucket on a ManualClock: how processes that
share an account converge (tests/test_budget.py and bench/budget.py).

Parts: share_one_bucket (N processes, each its own ApiBudget at the documented figures, saturate
one EC2 bucket of those figures; the calls refused and passed after a warm-up), share_one_window
(N processes saturate one ECS window of the emulator's, each budget counting the account's window in
one store or only its own calls; the calls refused and passed, by minute).

The server side is EC2's request token bucket as the EC2 developer guide describes it (capacity,
refill per second, RequestLimitExceeded when empty), or the ECS emulator's own per-minute window
with its lock-out (rate_limits.py); calls take no time.
"""

from __future__ import annotations

from responder.capacity.api_limits import limits_for
from responder.capacity.budget import ApiBudget
from responder.capacity.shared_windows import SharedWindows
from responder.errors import Deferred
from responder.sandbox.rate_limits import RateLimits
from responder.sandbox.stock import ManualClock

STEP = 0.02  # seconds between each process's tries: far more often than any bucket refills


def share_one_bucket(action: str, processes: int, seconds: float, warm_up: float = 120.0) -> tuple[int, int]:
    """(refused, passed) calls after `warm_up` seconds of `seconds`."""
    clock = ManualClock(0.0)
    limit = limits_for("aws", action)[0][1]
    tokens, stamp = limit.capacity, 0.0
    budgets = [ApiBudget(clock) for _ in range(processes)]
    refused = passed = 0
    while clock() < seconds:
        for budget in budgets:
            try:
                budget.before("aws", "r1", action)
            except Deferred:
                continue
            tokens, stamp = min(limit.capacity, tokens + (clock() - stamp) * limit.refill), clock()
            throttled = tokens < 1
            tokens -= 0 if throttled else 1
            budget.after("aws", "r1", action, throttled, "RequestLimitExceeded" if throttled else "")
            if clock() > warm_up:
                refused, passed = refused + throttled, passed + (not throttled)
        clock.advance(STEP)
    return refused, passed


def share_one_window(processes: int, minutes: int, shared: SharedWindows | None, action: str = "CreateImage",
                     start: float = 0.0) -> list[tuple[int, int]]:
    """(refused, passed) in each minute of `minutes`, for `processes` budgets each wanting a call
    every STEP against the emulator's ECS window of 200 a minute for `action`; `shared`: the store's
    windows all of them count in (None: each its own calls only)."""
    clock = ManualClock(start)
    cloud = RateLimits("aliyun", clock)
    budgets = [ApiBudget(clock, shared=shared) for _ in range(processes)]
    counts = [[0, 0] for _ in range(minutes)]
    while clock() < start + 60 * minutes:
        for budget in budgets:
            try:
                budget.before("aliyun", "cn-hangzhou", action)
            except Deferred:
                continue
            refusal = cloud.admit("1", "cn-hangzhou", action)
            budget.after("aliyun", "cn-hangzhou", action, refusal is not None, refusal.code if refusal else "")
            counts[int((clock() - start) // 60)][refusal is None] += 1
        clock.advance(STEP)
    return [(refused, passed) for refused, passed in counts]
