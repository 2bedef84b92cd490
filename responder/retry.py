"""The one retry policy: what is worth trying again, and how long to wait before the next try.

Parts: is_transient (Transient and Throttled cloud errors), Backoff (capped, jittered, exponential;
the exponent is bounded so a long streak cannot overflow), RetryBudget (attempt cap and deadline).

Whoever drives a loop applies it: the task runner on the task row (replacements, so a restart
resumes the backoff) and the capacity engine inside a long CLI run (ODCR). Adapters never retry
and SDK retries are off, so a failed call is tried again by exactly one layer.
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


@dataclass(frozen=True)
class RetryBudget:
    attempts: int
    deadline: float  # absolute time after which nothing is tried again

    def exhausted(self, failures: int, now: float) -> bool:
        return failures >= self.attempts or now >= self.deadline
