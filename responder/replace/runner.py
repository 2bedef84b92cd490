"""The task runner: received → imaging → launching → done | failed | rejected.

Parts: TaskRunner (submit an event, work some tasks, advance one, note a state change, tick every
due task, prune rejected rows; TaskDriving: drive every task until a deadline, run one to the end),
SubmitResult.

`work(task_ids)` is idempotent and never waits: it takes the tasks' leases and works them
together in rounds — each round every task still moving names its next call (steps.decide), the
executor makes the round's calls together (earliest release first, reads of many tasks batched
into one call, every call through the API budget), and each answer is folded back (steps.observe).
A task leaves the rounds when a step sets a time to come back, its call must wait, or it ends: it
is saved and its lease let go at once, so no wait or retry holds a lease. The leases of the tasks
still moving are renewed before each round, and every save names its lease (saving.py): a worker
whose lease ran out and passed to another writes nothing more of that task, nor launches for it.
`tick` works every due task this way, so a wave's tasks share their reads and their budget. The request that claims a
task holds its lease from the claim on: the first delivery of an event always gets the same answer.

A transient error goes to the one retry layer (retrying.py); a task holding an image or a
replacement never fails for one, it ends `done` and degraded past its own deadline. A task never
ends `failed` while a replacement it launched exists: pending launches are looked up by their
token first, an instance found is adopted, and a later error that cannot be retried degrades it.

A rejection stands on its row for a while (replace.verify): copies of the event get it without a
cloud read; prune_rejected keeps the rejected rows bounded.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from responder.capacity.budget import ApiBudget
from responder.capacity.shared_windows import SharedWindows
from responder.clouds.base import CloudPort
from responder.errors import CloudError, NotFound, PermissionDenied, Transient
from responder.logformat import log_context
from responder.model import EventKind, Interruption
from responder.replace import batching, capped, deadline, race, steps
from responder.replace.build_times import BuildTimes
from responder.replace.calls import CallOutcome
from responder.replace.caps import MoneyCaps
from responder.replace.churn import ChurnPolicy
from responder.replace.churn_store import ChurnHistory
from responder.replace.driving import TaskDriving
from responder.replace.executor import Executor
from responder.replace.group_reads import VERIFY_LINGER_S, lingering
from responder.replace.image_polls import Facts
from responder.replace.record import EventFacts, Note, RetryState, Task, TaskRecord
from responder.replace.retrying import RetryPolicy
from responder.replace.saving import TaskSaving
from responder.replace.steps import Call, CapReached
from responder.replace.verify import event_rejection, verdict_seconds
from responder.settings import Settings
from responder.store import LeaseLost, Store, TaskRow

log = logging.getLogger("responder.tasks")
MAX_ROUNDS = 40  # calls one task may make in one go: a step that neither waits nor moves is a bug, not a loop
MAX_DECISIONS = 8  # decisions in a row that only change the state, before one must call or wait
TICK_BATCH = 500  # due tasks worked together by one tick: a whole wave
PRUNE_SECONDS = 60.0  # rejected rows past retention are deleted from the tick at most this often


@dataclass(frozen=True)
class SubmitResult:
    task: Task
    duplicate: bool


class TaskRunner(TaskDriving, TaskSaving):
    def __init__(self, store: Store, clouds: dict[str, CloudPort], settings: Settings,
                 clock: Callable[[], float] = time.time, rand: Callable[[], float] = random.random,
                 on_finish: Callable[[TaskRow], None] | None = None, caps: MoneyCaps | None = None,
                 sleep: Callable[[float], None] = time.sleep, budget: ApiBudget | None = None):
        self.store = store
        self.clouds = clouds
        self.settings = settings
        self.clock = clock
        self.rand = rand
        self.on_finish = on_finish
        self.caps = caps or MoneyCaps(store, per_hour=settings.max_launches_per_hour,
                                      per_event=settings.max_spend_per_event, clock=clock)
        self.facts = Facts(times=BuildTimes(store.engine, clock),
                           churn=ChurnHistory(store.engine, ChurnPolicy.from_settings(settings), clock))
        self.sleep = sleep
        # The process's API budget, asked by every adapter before each call (RESPONDER_API_BUDGET).
        self.budget = budget or (ApiBudget.from_settings(settings, clock, shared=SharedWindows(store.engine))
                                if settings.api_budget else None)
        for cloud in clouds.values() if self.budget is not None else ():
            cloud.gate = self.budget
        self.retries = RetryPolicy(settings, clock, rand, self.budget)
        self.executor = Executor(clouds, settings, self.caps, save=self.save, clock=clock, sleep=sleep, rand=rand)
        self._wake = threading.Event()
        self._rejections, self._next_prune = 0, 0.0
        self.arrivals = batching.Arrivals()  # whether a notice comes in a wave: its reads then join the wave's
        self.verify_linger_s = VERIFY_LINGER_S  # a request in a wave waits for company to verify with
        self.verify_company = 0  # requests served side by side (gunicorn's threads): that many wait no longer
        # What happened, as notices saved with the state (the outbox): set by the app factory
        # when notification channels are configured; None saves the task alone.
        self.notices: Callable[[Task], list] | None = None

    # -- entry points -------------------------------------------------------------------------
    def submit(self, event: Interruption, may_linger: bool = True) -> SubmitResult:
        """Claim the task for this instance (holding its lease), then move it as far as it goes
        without waiting. Duplicates return the existing task at once: its owner works it. In a
        wave (`may_linger`) its verification waits verify_linger_s for others' (group_reads.py)."""
        if event.cloud.value not in self.clouds:
            raise CloudError("CloudNotConfigured", f"no {event.cloud.value} cloud is configured for {event.key}")
        received = self.clock()
        record = TaskRecord(event=EventFacts(account=event.account, event_id=event.event_id,
                                             event_time=event.event_time, shape=event.shape,
                                             detail=dict(event.detail),
                                             notice_at=race.notice_at(event.event_time, received)),
                            timings={"received": received})
        claim = self.store.claim(event.key, event.cloud.value, event.region, event.instance_id, event.kind.value,
                                 data=record.to_json(), lease_seconds=self.settings.lease_seconds)
        if claim.duplicate:
            task = Task(claim.task)
            if task.status == "rejected" and task.record.recheck_soon:  # read once more when it lapses
                record.standing_rejection = task.reason
                self.store.recheck_later(event.key, event.kind.value, record.to_json())
            if task.status == "rejected" or task.record.standing_rejection:  # no read: the answer stands
                return SubmitResult(task.with_verdict(), duplicate=True)
            if event.kind == EventKind.INTERRUPTION and steps.acts_as_rebalance(task):
                return SubmitResult(self._interrupt_after_rebalance(task.id), duplicate=False)
            if task.status == "failed" and task.record.denied and not task.record.launch.replacement_ids:
                return SubmitResult(self._retry_denied(task.id), duplicate=False)
            return SubmitResult(task, duplicate=True)
        (task,) = self.hold([Task(claim.task)])
        try:
            rejection = event_rejection(event, self.settings)
            if rejection:
                task.finish("rejected", rejection)
                self.save_finished(task)
                return SubmitResult(task, duplicate=False)
            with self.arrivals.arrive(task.cloud, task.region, self.clock()) as arrival, \
                    lingering(self.verify_linger_s if arrival.may_linger and may_linger else 0.0, self.verify_company):
                self._work(task, hand_over=arrival.in_a_wave)
        finally:
            self.store.release(task.id)
        self._wake.set()
        return SubmitResult(task, duplicate=False)

    def _retry_denied(self, task_id: str) -> Task:
        """A redelivery of an event whose task a permission refusal ended: the policy may have been
        fixed since. Resume from the record (its tokens and image stay); refused again, it fails again."""
        if not self.store.lease(task_id, self.settings.lease_seconds):
            return Task(self.store.get(task_id))
        try:
            (task,) = self.hold([Task(self.store.get(task_id))])
            if task.status == "failed" and task.record.denied:
                task.record.denied = ""
                task.row.status, task.row.reason, task.next_at = "received", "", 0.0
                self._work(task)
            return task
        finally:
            self.store.release(task_id)

    def _interrupt_after_rebalance(self, task_id: str) -> Task:
        """The real interruption of an instance whose rebalance recommendation was answered with an
        image only: verify it again (now the cloud must say it is reclaiming), then launch from
        that image."""
        if not self.store.lease(task_id, self.settings.lease_seconds):
            return Task(self.store.get(task_id))
        try:
            (task,) = self.hold([Task(self.store.get(task_id))])
            if steps.acts_as_rebalance(task):
                record = task.record
                record.interrupted_at = self.clock()
                record.source, record.plan.candidates, record.plan.probed_markets = None, None, []
                task.row.status, task.row.reason, task.next_at = "received", "", 0.0
                self._work(task)
            return task
        finally:
            self.store.release(task_id)

    def advance(self, task_id: str) -> Task | None:
        """Work one task now (replay, tests); returns it as it stands (someone else's if leased)."""
        worked = self.work([task_id])
        return worked[0] if worked else Task.of(self.store.get(task_id))

    def work(self, task_ids: list[str]) -> list[Task]:
        """Lease these tasks, move the due ones as far as they go without waiting — all of them
        together, in rounds (_work_together) — then save and release them. A task another worker
        holds is left to it (and not returned)."""
        leased = [task_id for task_id in task_ids if self.store.lease(task_id, self.settings.lease_seconds)]
        put_down: set[str] = set()
        try:
            tasks = self.hold([t for t in (Task.of(self.store.get(task_id)) for task_id in leased) if t is not None])
            now = self.clock()
            self._work(*[t for t in tasks if t.status in steps.DECIDERS and t.next_at <= now], put_down=put_down)
            return tasks
        finally:
            for task_id in leased:
                if task_id not in put_down:
                    self.store.release(task_id)

    def note(self, event: Interruption) -> Task | None:
        """A state-change or health event about an instance we have a task for: record it there."""
        row = self.store.get_by_key(event.key)
        if row is None:
            return None
        if not self.store.lease(row.id, self.settings.lease_seconds):
            return Task(row)  # a worker holds it; the note is not worth a lost update
        try:
            (task,) = self.hold([Task(self.store.get(row.id))])
            now = self.clock()
            task.record.notes = (task.record.notes + [Note(event.kind.value, dict(event.detail), now)])[-20:]
            if event.detail_value("state") in ("terminated", "shutting-down"):
                task.record.original_terminated_at = now
            self.save(task)
            return task
        except LeaseLost:
            return Task(self.store.get(row.id))
        finally:
            self.store.release(row.id)

    def wake(self) -> None:
        self._wake.set()

    def wait_for_work(self, seconds: float) -> None:
        """Sleep until `seconds` pass or a new task arrives (submit wakes the ticker)."""
        self._wake.wait(seconds)
        self._wake.clear()

    def tick(self) -> int:
        """Advance every unfinished task that is due, together (a wave's reads batch, its calls
        share the API budget in priority order); returns how many were due."""
        if self.clock() >= self._next_prune:
            self.prune_rejected()
        due = self.store.due(limit=TICK_BATCH)
        self.work([row.id for row in due])
        return len(due)

    def prune_rejected(self) -> int:
        """RESPONDER_REJECTED_KEEP_HOURS / _ROWS, applied by the tick and after a run of rejections."""
        self._next_prune, keep = self.clock() + PRUNE_SECONDS, self.settings
        return self.store.prune_rejected(self.clock() - keep.rejected_keep_hours * 3600.0, keep.rejected_keep_rows)

    # -- working tasks in rounds -----------------------------------------------------------
    def _work(self, *tasks: Task, put_down: set[str] | None = None, hand_over: bool = False) -> None:
        """Rounds: each task still moving says its next call (steps.decide, until a call, a wait
        or the end); the executor makes the round's calls together (priority order, batched reads,
        the API budget); each answer is folded into its task. A task leaves the rounds when it
        waits, ends, or its call must wait: it is saved and its lease let go at once (its ids go
        into `put_down`), so a task that waits is never held by one that still works.
        `hand_over` (a request's own task, in a wave): once its image is asked, its next batchable
        read waits for the next grid point, where the tick reads it with the wave's. The notice's
        own verification stays in the request: its answer says `rejected` for a forged event at
        once (the documented answer, and a flood's copies are answered from that row); requests
        verifying at the same moment share their DescribeInstances (batching._instances)."""
        put_down = set() if put_down is None else put_down
        moving = list(tasks)
        for _ in range(MAX_ROUNDS):
            moving = self.renew(moving, put_down)
            pairs = []
            for task in moving:
                call = self._next_call(task)
                if call is not None and hand_over and call.verb in batching.BATCHED and task.record.image.image_id:
                    task.next_at, call = batching.on_grid(self.clock()), None
                if call is None:
                    self.put_down(task, put_down)
                else:
                    pairs.append((task, call))
            if not pairs:
                return
            outcomes = self.executor.run_round(pairs)
            moving = []
            for (task, call), outcome in zip(pairs, outcomes):
                with log_context(task_id=task.id, instance_id=task.instance_id):
                    going_on = self._fold(task, call, outcome) and task.next_at <= self.clock()
                if going_on:
                    moving.append(task)
                else:
                    self.put_down(task, put_down)
        for task in moving:
            self.put_down(task, put_down)

    def _next_call(self, task: Task) -> Call | None:
        """The task's next call; None when it ends, waits, or has nothing to call now. A decision
        with several calls is made one call a round: the next round decides again from the record."""
        for _ in range(MAX_DECISIONS):
            if task.finished:
                return None
            decision = steps.decide(task, self.settings, self.clock(), self.clouds[task.cloud].capabilities)
            if decision.finish:
                task.finish(*decision.finish)
                return None
            if decision.wait_until is not None:
                task.next_at = batching.on_grid(decision.wait_until)  # a wave's polls fall due together
                return None
            if decision.calls:
                return decision.calls[0]
        log.error("task %s: %d decisions without a call or a wait", task.id, MAX_DECISIONS)
        return None

    def _fold(self, task: Task, call: Call, outcome: CallOutcome) -> bool:
        """Fold one call's outcome into its task; False when the task must stop for now."""
        exc = outcome.error
        if isinstance(exc, LeaseLost):  # another worker has it now: nothing of this view is kept
            return False
        if isinstance(exc, CapReached):
            if call.verb == "reserve" and task.record.launch.replacement_ids:
                # `both`: the replacement runs; the reservation beside it is what the cap refused.
                task.record.reservation.attempted, task.record.reservation.refused = True, str(exc)
                return True
            self._fail(task, capped.capped_reason(task, str(exc)))
            return False
        if isinstance(exc, Transient):
            return self._retry_later(task, call, exc)
        if isinstance(exc, PermissionDenied):  # a configuration fault: named, and /invoke answers 5xx
            task.record.denied = f"{exc.cloud}: {', '.join(exc.permissions)}"
            self._fail(task, f"{task.status}: {exc}")
            return False
        if isinstance(exc, NotFound) and call.verb == "describe_instance":
            ended = steps.observe(task, call, None, self.settings, self.clock(), self.facts, error=exc)
        elif isinstance(exc, CloudError):
            self._fail(task, f"{task.status}: {exc}")
            return False
        else:
            task.record.retry = RetryState()  # any success resets the backoff
            ended = steps.observe(task, call, outcome.answer, self.settings, self.clock(), self.facts)
        if ended:
            task.finish(*ended)
            if task.status == "rejected":  # the row remembers the cloud's answer while it stands
                task.record.standing_rejection = ""
                task.next_at = self.clock() + verdict_seconds(task.record.recheck_soon)
            return False
        return True

    def _retry_later(self, task: Task, call: Call, exc: Transient) -> bool:
        """Schedule the next try (retrying.py); True when it is at once, in this very round."""
        end = self.retries.schedule(task, call, exc)
        if end is not None:
            (self._degrade if end.degrade else self._fail)(task, end.reason)
            return False
        return task.next_at <= self.clock()

    def _degrade(self, task: Task, what: str) -> None:
        task.finish("done", deadline.degrade(task, what))
        log.warning("task %s done, degraded: %s", task.id, task.reason)

    def _fail(self, task: Task, reason: str) -> None:
        """End the task `failed` — unless a launch whose answer was lost made an instance: adopt it."""
        launch = task.record.launch
        if not launch.replacement_ids:
            unsettled = [e.token for e in launch.ledger if e.status in ("pending", "error")]
            try:
                found = self.executor.find_launched(task, unsettled)
            except CloudError as exc:
                found = ()
                reason += (f"; could not check whether a launch went through ({exc.code}): "
                           f"look for tag responder:claim={task.key}")
            if found:
                now = self.clock()
                launch.replacement_ids, launch.adopted, launch.launched_at = list(found), True, now
                launch.next_check_at = now
                task.record.stamp("launch_issued", now)
                task.status, task.next_at = "launching", now
                log.warning("task %s: adopted %s, launched by a call whose answer was lost", task.id, found)
                return
        if launch.replacement_ids:  # a task with a replacement never fails: what was left undone is named
            self._degrade(task, reason)
            return
        log.warning("task %s failed: %s", task.id, reason)
        task.finish("failed", reason)
