"""How a worked task goes back to the store, under the lease it was worked by.

Parts: TaskSaving (hold: the tasks a worker just leased name its lease; renew: the leases of the
tasks still moving, before each round; put_down: saved, released, and out of the rounds; save,
save_finished), mixed into TaskRunner, whose store, settings, clock, clouds, notices, on_finish and
prune_rejected it uses.

A lease runs out on its own: a round slowed by a starved machine, a store or a budget that takes
its time, a tick of a whole wave. Another worker may then take the task and work it from its row.
Two things keep the two apart, so that money stays safe:
- every save names the lease it was worked under (store.save's `holder`), and renews it; a save
  whose lease passed to another writes nothing (store.LeaseLost). So a worker that lost the task
  cannot write its stale view over the new holder's, and cannot save a launch's intent: a request
  is sent only after it is on the row under its token (launch.py), so it never sends a request
  the new holder does not see, nor other parameters under one token (ECS answers
  IdempotenceParamNotMatch, and one of the two purchases would be lost to the task);
- the leases of the tasks still moving are renewed before each round (one UPDATE for the round), so
  a worker keeps a task it is still working however many rounds its tick takes, and one that lost
  it drops it before calling anything more for it.
"""

from __future__ import annotations

import logging

from responder.logformat import log_context
from responder.replace import pricing
from responder.replace.record import Task
from responder.store import LeaseLost

log = logging.getLogger("responder.tasks")


class TaskSaving:
    def hold(self, tasks: list[Task]) -> list[Task]:
        """The tasks this thread just leased (or claimed with a lease): their saves name it."""
        holder = self.store.holder() if self.settings.lease_seconds else None
        for task in tasks:
            task.holder = holder
        return tasks

    def renew(self, tasks: list[Task], put_down: set[str]) -> list[Task]:
        """The tasks whose leases are still this worker's, renewed; the others leave the rounds
        unsaved (their new holder works them from the row)."""
        held = [task for task in tasks if task.holder is not None]
        if not held:
            return tasks
        kept = self.store.renew([task.id for task in held], held[0].holder, self.settings.lease_seconds)
        for task in held:
            if task.id not in kept:
                self._lost(task)
                put_down.add(task.id)
        return [task for task in tasks if task.holder is None or task.id in kept]

    def put_down(self, task: Task, put_down: set[str]) -> None:
        """Saved (finished or waiting) and its lease let go; a task whose lease passed to another
        is left as its new holder has it."""
        put_down.add(task.id)
        try:
            with log_context(task_id=task.id, instance_id=task.instance_id):
                if task.finished:
                    self.save_finished(task)
                else:
                    self.save(task)
        except LeaseLost:
            self._lost(task)
            return
        self.store.release(task.id)

    def save(self, task: Task) -> None:
        """LeaseLost when the task's lease is no longer the one it is worked under."""
        lease = {"holder": task.holder, "lease_seconds": self.settings.lease_seconds}
        if self.notices is None:
            self.store.save(task.synced_row(), **lease)
            return
        try:
            notices = self.notices(task)
        except Exception:  # deriving a message must never stop the state from being saved
            log.exception("notifications for task %s could not be derived", task.id)
            notices = []
        self.store.save_with_outbox(task.synced_row(), notices, **lease)

    def save_finished(self, task: Task) -> None:
        task.record.stamp("finished", self.clock())
        if task.status == "done":  # the prices of what it bought: never delays or fails the task
            pricing.price_task(self.clouds[task.cloud], task, self.clock())
        self.save(task)
        if task.status == "rejected":
            self._rejections += 1
            if self._rejections % PRUNE_EVERY_REJECTIONS == 0:
                self.prune_rejected()
        log.info("task %s %s: %s", task.id, task.status, task.reason)
        if self.on_finish:
            try:
                self.on_finish(task.row)
            except Exception:  # a broken webhook must never undo a replacement
                log.exception("notification for task %s failed", task.id)

    @staticmethod
    def _lost(task: Task) -> None:
        log.warning("task %s: its lease ran out and another worker took it; this worker's view of it "
                    "is dropped, the other works it from the row", task.id)


PRUNE_EVERY_REJECTIONS = 100  # rejected rows past retention are pruned after this many new rejections
