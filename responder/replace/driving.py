"""Driving tasks in time: what a ticker, an invocation or a replay does between the runner's
steps (the runner itself never sleeps).

Parts: TaskDriving (seconds_until_due, drive_until, run_to_end), mixed into TaskRunner, whose
store, clock, sleep, tick and advance it uses.
"""

from __future__ import annotations

import time
from typing import Callable

from responder.replace.record import Task


class TaskDriving:
    def seconds_until_due(self, cap: float) -> float:
        """How long a ticker may sleep: until the earliest due task, at most `cap`."""
        earliest = self.store.next_due_at()
        if earliest is None:
            return cap
        return max(0.0, min(cap, earliest - self.clock()))

    def drive_until(self, deadline: float, sleep: Callable[[float], None] | None = None) -> None:
        """Work every unfinished task until none is left or `deadline` (this runner's clock). FC
        and Lambda freeze an instance once it has answered, so the invocation that delivered a
        notice works it here; the timer trigger and the ticker are only the safety nets."""
        sleep = sleep or self.sleep
        while self.clock() < deadline:
            self.tick()
            if self.store.next_due_at() is None:
                return
            sleep(max(0.005, min(self.seconds_until_due(cap=5.0), deadline - self.clock())))

    def run_to_end(self, task_id: str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> Task | None:
        """Tick one task until it finishes (replay, tests); sleeps until each step is due."""
        deadline = self.clock() + timeout
        while True:
            task = self.advance(task_id)
            if task is None or task.finished or self.clock() >= deadline:
                return task
            sleep(max(0.005, min(task.next_at - self.clock(), deadline - self.clock())))
