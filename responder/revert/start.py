"""A move back to spot as a task: its claim key and its first record.

Parts: launch_image (what the spot one boots from), private_ip, first_record (a move back's or a
planned move's: RevertFacts.purpose), start_move (claim the task: the
key is per instance and attempt, so a second ticker or a restart finds the same row and never
starts a second move).

The record carries the revert section (record.RevertFacts) from the start: which replacement is
moved, from which interruption, towards which type. The launch policy is set here: at once from
the original's image, then the fresh root disk swapped in (replace/swap.py), the real data disks
reattached after the retire; with no image known, from the fresh image.
"""

from __future__ import annotations

from responder.model import EventKind
from responder.replace.record import EventFacts, RevertFacts, Task, TaskRecord
from responder.revert.eligible import Verdict
from responder.store import Store


def launch_image(task: Task) -> str:
    """The original's own image (no data disk of ours in it: the real ones are reattached), else
    the older image its replacement was launched from."""
    source = task.record.source
    return (source.image_id if source else "") or task.record.race.launch_image_id


def private_ip(task: Task) -> str:
    """The original's private IP where it moved with the state: onto a replacement, or on by a move."""
    if task.record.revert is not None:
        return task.record.revert.private_ip
    return task.record.source.private_ip if task.record.race.private_ip_moved else ""


def first_record(verdict: Verdict, now: float) -> TaskRecord:
    task = verdict.task
    record = TaskRecord(event=EventFacts(account=task.record.event.account), timings={"received": now})
    earlier = task.record.revert  # a planned move of an instance a move bought: the chain's original
    record.revert = RevertFacts(
        from_task=task.id, attempt=verdict.attempt, purpose=verdict.purpose,
        original_instance_id=earlier.original_instance_id if earlier else task.instance_id,
        original_type=verdict.original_type, launch_image_id=launch_image(task),
        retired_instance_id=verdict.instance_id, retired_type=verdict.now_type, retired_market=verdict.now_market,
        retired_running_since=verdict.since or task.record.timings.get("running"), private_ip=private_ip(task))
    race, what = record.race, "planned move to a calmer pool" if verdict.purpose else "move back to spot"
    if record.revert.launch_image_id:
        race.policy, race.launch_image_id = "source-image", record.revert.launch_image_id
        race.why = f"{what}: at once from the original's image, then the fresh root disk swapped in"
    else:
        race.policy, race.why = "fresh-image", f"{what}: no older image known"
    return record


def start_move(store: Store, verdict: Verdict, now: float) -> Task:
    """Claim the move (a duplicate returns the row already there); not leased: any ticker works it."""
    task = verdict.task
    claim = store.claim(verdict.key, task.cloud, task.region, verdict.instance_id, EventKind.REVERT.value,
                        data=first_record(verdict, now).to_json())
    return Task(claim.task)
