"""The task state machine: received → imaging → launching → done | failed | rejected.

Parts: TaskRunner (submit an event, advance one task, tick every due task, run one to the end),
SubmitResult.

`advance` is idempotent and never waits: it takes the task's lease, runs steps until one sets a
time to come back (`next_at`) or the task finishes, saves, and releases. Anyone may tick; the
lease keeps two tickers off one task. Throttling and transient faults back off (capped, jittered)
on the row, so a restart resumes from where the row says.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from responder.caching import TTLCache
from responder.clouds.base import CloudPort
from responder.errors import CloudError, Throttled
from responder.model import Interruption
from responder.settings import Settings
from responder.replace.steps import STEPS, Context, finish, stamp
from responder.store import Store, TaskRow
from responder.replace.verify import event_rejection

log = logging.getLogger("responder.replace.runner")
MAX_TRANSIENT_RETRIES = 8
BACKOFF_BASE, BACKOFF_CAP = 0.5, 20.0


@dataclass(frozen=True)
class SubmitResult:
    task: TaskRow
    duplicate: bool


class TaskRunner:
    def __init__(self, store: Store, clouds: dict[str, CloudPort], settings: Settings,
                 clock: Callable[[], float] = time.time, rand: Callable[[], float] = random.random,
                 on_finish: Callable[[TaskRow], None] | None = None):
        self.store = store
        self.clouds = clouds
        self.settings = settings
        self.clock = clock
        self.rand = rand
        self.on_finish = on_finish
        self.catalogs = TTLCache(ttl=3600)
        self.subnets = TTLCache(ttl=300)
        self.market_facts = TTLCache(ttl=60)  # AWS offerings, placement scores, spot prices
        self.build_estimates: dict = {}
        self._wake = threading.Event()

    # -- entry points -------------------------------------------------------------------------

    def submit(self, event: Interruption) -> SubmitResult:
        """Claim the task for this instance, then move it as far as it goes without waiting.

        Duplicates return the existing task at once: the first delivery's owner works it.
        """
        if event.cloud.value not in self.clouds:
            raise CloudError("CloudNotConfigured", f"no {event.cloud.value} cloud is configured for {event.key}")
        claim = self.store.claim(event.key, event.cloud.value, event.region, event.instance_id, event.kind.value,
                                 data={"event": {"account": event.account, "event_id": event.event_id,
                                                 "event_time": event.event_time, "shape": event.shape,
                                                 "detail": dict(event.detail)},
                                       "timings": {"received": self.clock()}})
        if claim.duplicate:
            return SubmitResult(claim.task, duplicate=True)
        task = claim.task
        rejection = event_rejection(event, self.settings)
        if rejection:
            finish(task, "rejected", rejection)
            self._save_finished(task)
            return SubmitResult(task, duplicate=False)
        self._wake.set()
        return SubmitResult(self.advance(task.id) or task, duplicate=False)

    def advance(self, task_id: str) -> TaskRow | None:
        if not self.store.lease(task_id, self.settings.lease_seconds):
            return self.store.get(task_id)  # someone else is working it
        try:
            task = self.store.get(task_id)
            if task is None or task.status not in STEPS or task.next_at > self.clock():
                return task
            self._run_steps(task)
            return task
        finally:
            self.store.release(task_id)

    def note(self, event: Interruption) -> TaskRow | None:
        """A state-change or health event about an instance we have a task for: record it there."""
        task = self.store.get_by_key(event.key)
        if task is None:
            return None
        if not self.store.lease(task.id, self.settings.lease_seconds):
            return task  # a worker holds it; the note is not worth a lost update
        try:
            task = self.store.get(task.id)
            self._record_note(task, event)
        finally:
            self.store.release(task.id)
        return task

    def _record_note(self, task: TaskRow, event: Interruption) -> None:
        task.data.setdefault("notes", []).append({"kind": event.kind.value, "detail": dict(event.detail),
                                                  "at": self.clock()})
        task.data["notes"] = task.data["notes"][-20:]
        if event.detail_value("state") in ("terminated", "shutting-down"):
            task.data["original_terminated_at"] = self.clock()
        self.store.save(task)

    def wake(self) -> None:
        self._wake.set()

    def wait_for_work(self, seconds: float) -> None:
        """Sleep until `seconds` pass or a new task arrives (submit wakes the ticker)."""
        self._wake.wait(seconds)
        self._wake.clear()

    def tick(self) -> int:
        """Advance every unfinished task that is due; returns how many were advanced."""
        due = self.store.due()
        for task in due:
            self.advance(task.id)
        return len(due)

    def seconds_until_due(self, cap: float) -> float:
        """How long a ticker may sleep: until the earliest due task, at most `cap`."""
        earliest = self.store.next_due_at()
        if earliest is None:
            return cap
        return max(0.0, min(cap, earliest - self.clock()))

    def run_to_end(self, task_id: str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> TaskRow:
        """Tick one task until it finishes (replay, tests); sleeps until each step is due."""
        deadline = self.clock() + timeout
        while True:
            task = self.advance(task_id)
            if task is None or task.status not in STEPS or self.clock() >= deadline:
                return task
            sleep(max(0.005, min(task.next_at - self.clock(), deadline - self.clock())))

    # -- internals ----------------------------------------------------------------------------

    def _context(self, task: TaskRow) -> Context:
        return Context(settings=self.settings, store=self.store, cloud=self.clouds[task.cloud], clock=self.clock,
                       catalogs=self.catalogs, subnets=self.subnets, build_estimates=self.build_estimates,
                       market_facts=self.market_facts, rand=self.rand)

    def _run_steps(self, task: TaskRow) -> None:
        ctx = self._context(task)
        for _ in range(10):  # bounded: a step that neither waits nor moves is a bug, not a loop
            status = task.status
            if status not in STEPS:
                break
            try:
                STEPS[status](ctx, task)
                task.data.pop("transient_failures", None)
            except Throttled as exc:
                self._back_off(task, f"throttled: {exc}")
                break
            except CloudError as exc:
                finish(task, "failed", f"{status}: {exc}")
                log.warning("task %s failed in %s: %s", task.id, status, exc)
            except Exception as exc:  # network faults, SDK client errors: transient until proven otherwise
                log.exception("task %s: transient error in %s", task.id, status)
                failures = task.data.get("transient_failures", 0) + 1
                task.data["transient_failures"] = failures
                if failures > MAX_TRANSIENT_RETRIES:
                    finish(task, "failed", f"{status}: gave up after {failures} errors: {exc}")
                else:
                    self._back_off(task, f"error: {exc}")
                break
            if task.next_at > self.clock():
                break  # the step (or the one that handed over) asked to come back later
        if task.status in ("done", "failed", "rejected"):
            self._save_finished(task)
        else:
            self.store.save(task)

    def _back_off(self, task: TaskRow, why: str) -> None:
        n = task.data.get("backoffs", 0)
        task.data["backoffs"] = n + 1
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** n) * (0.5 + self.rand() / 2)
        task.data["last_error"] = why
        task.next_at = self.clock() + delay

    def _save_finished(self, task: TaskRow) -> None:
        stamp(task, "finished", self.clock())
        self.store.save(task)
        log.info("task %s %s: %s", task.id, task.status, task.reason)
        if self.on_finish:
            try:
                self.on_finish(task)
            except Exception:  # a broken webhook must never undo a replacement
                log.exception("notification for task %s failed", task.id)
