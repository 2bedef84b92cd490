"""The one retry layer for replacements: when a task tries a failed call again, and when it stops.

Parts: GiveUp (the task must end: failed, or done and degraded, with the reason), RetryPolicy
(schedule: after one transient error, the task's next try on its row — or a GiveUp).

retry.py's policy, applied on the task row so a restart resumes it: a server fault, timeout or
reset is retried at once (the first in this very round), then with a small jitter for a few tries,
then backing off (capped, jittered, reset by any success); a throttle goes again when the API
budget, which learnt from it, admits the call; a call the budget held back (errors.Deferred) comes
back at its time and counts as nothing. How long (deadline.py): a task that holds nothing fails
after the attempt cap or RESPONDER_RETRY_DEADLINE_SECONDS; one that holds an image or a replacement
never fails for a transient error or a throttle, and past its own deadline ends done and degraded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional

from responder.capacity.budget import ApiBudget
from responder.errors import Deferred, Throttled, Transient
from responder.replace import deadline
from responder.replace.calls import Call
from responder.replace.record import Task
from responder.retry import QUICK_JITTER, THROTTLE_BACKOFF, fault_delay
from responder.settings import Settings

log = logging.getLogger("responder.tasks")


@dataclass(frozen=True)
class GiveUp:
    degrade: bool  # done and degraded (the task holds an image or a replacement), not failed
    reason: str


class RetryPolicy:
    def __init__(self, settings: Settings, clock: Callable[[], float], rand: Callable[[], float],
                 budget: Optional[ApiBudget] = None):
        self.settings, self.clock, self.rand, self.budget = settings, clock, rand, budget

    def schedule(self, task: Task, call: Call, exc: Transient) -> Optional[GiveUp]:
        """Set the task's next try after `exc` (task.next_at); a GiveUp when it must end instead."""
        now = self.clock()
        retry = task.record.retry
        if isinstance(exc, Deferred):  # the API budget held it back: nothing was sent, nothing failed
            task.next_at = max(task.next_at, exc.retry_at)
        elif isinstance(exc, Throttled):  # the adapter told the budget; the budget says when
            retry.throttles += 1
            retry.last_error = f"{call.verb}: {exc}"[:500]
            task.next_at = max(now + QUICK_JITTER * self.rand(), self._throttle_over(task, exc, now))
        else:
            retry.failures += 1
            retry.last_error = f"{call.verb}: {exc}"[:500]
            retry.first_failure_at = retry.first_failure_at or now
            task.next_at = now + (0.0 if retry.failures == 1 else fault_delay(retry.failures, self.rand))
        end = self._gives_up(task, call, exc, now)
        if end is None and not isinstance(exc, Deferred):
            log.info("task %s: %s failed (%s), retry in %.1f s", task.id, call.verb, exc.code, task.next_at - now)
        return end

    def _throttle_over(self, task: Task, exc: Throttled, now: float) -> float:
        if self.budget is not None and exc.operation:
            return self.budget.next_admission(task.cloud, task.region, exc.operation)
        return now + THROTTLE_BACKOFF.delay(task.record.retry.throttles, self.rand)

    def _gives_up(self, task: Task, call: Call, exc: Transient, now: float) -> Optional[GiveUp]:
        """Past the task's deadline (or, holding nothing, its attempt cap): failed when it holds
        nothing, done and degraded when it holds an image or a replacement."""
        retry, holds = task.record.retry, deadline.holds(task)
        capped = retry.failures >= self.settings.max_transient_retries and not holds
        if not capped and now < deadline.gives_up_at(task, self.settings):
            return None
        if holds:
            return GiveUp(True, f"{call.verb} did not succeed before the deadline ({exc.code}: {exc})")
        return GiveUp(False, f"{task.status}: gave up after {retry.failures} transient errors"
                             f"{' and throttles' if retry.throttles else ''}: {exc}")
