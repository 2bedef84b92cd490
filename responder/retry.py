"""The one retry policy: what is worth trying again, and how long to wait before the next try.

Parts: is_transient (Transient and Throttled cloud errors), Backoff (capped, jittered, exponential;
the exponent is bounded so a long streak cannot overflow), RetryBudget (attempt cap and deadline),
fault_delay (a server fault, timeout or reset: at once with a small jitter for a few tries, then
backing off), THROTTLE_BACKOFF (a throttle where no API budget paces the calls).

Whoever drives a loop applies it: the task runner on the task row (replacements, so a restart
resumes the backoff) and the capacity engine inside a long CLI run (ODCR). Adapters never retry
and SDK retries are off, so a failed call is tried again by exactly one layer. A throttle is not a
fault: the API budget (capacity/budget.py) learns from it and says when the call may go again; a
call the budget held back (errors.Deferred) was never sent and counts as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from responder.errors import Transient


def is_transient(error: BaseException) -> bool:
    return isinstance(error, Transient)


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5
    cap: float = 20.0

    def delay(self, failures: int, rand: Callable[[], float]) -> float:
        """Seconds before try number `failures + 1`, jittered to [50 %, 100 %] of the capped value."""
        exponent = min(max(failures - 1, 0), 30)
        return min(self.cap, self.base * 2 ** exponent) * (0.5 + 0.5 * rand())


QUICK_TRIES = 3  # server faults in a row retried at once: most are one bad answer among many good ones
QUICK_JITTER = 0.1  # seconds: enough to keep the retries of a burst from landing together
FAULT_BACKOFF = Backoff(base=0.5, cap=20.0)
THROTTLE_BACKOFF = Backoff(base=1.0, cap=20.0)


def fault_delay(failures: int, rand: Callable[[], float]) -> float:
    """Seconds before the next try after `failures` server faults (5xx, timeout, reset) in a row."""
    if failures <= QUICK_TRIES:
        return QUICK_JITTER * rand()
    return FAULT_BACKOFF.delay(failures - QUICK_TRIES, rand)


@dataclass(frozen=True)
class RetryBudget:
    attempts: int
    deadline: float  # absolute time after which nothing is tried again

    def exhausted(self, failures: int, now: float) -> bool:
        return failures >= self.attempts or now >= self.deadline
