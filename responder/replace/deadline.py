"""How long a task keeps retrying, and how it ends when its remaining steps cannot finish.

Parts: holds (what a task holds that retrying protects: an image, a replacement), own_deadline
(its expected release, plus what its disks need to be imaged at the slow end, plus a margin to
launch and settle), gives_up_at (the deadline the runner applies), leftovers (what it kept that
still bills: kept disks, restored disks, a converted EIP), degrade (the `done` ending that names
what did not happen and what was left).

A task that holds nothing yet is retried at most RESPONDER_RETRY_DEADLINE_SECONDS after receipt
(and fails then, as before). One that holds an image or a replacement never fails for a transient
error or a throttle: its own deadline follows its release time and its disks' sizes, and past it
the task ends `done` with `degraded` naming what did not happen — its leftovers in the reason, the
notification and `responder orphans` (which reads the same record), never billing silently. Pure.
"""

from __future__ import annotations

from responder.replace import race
from responder.replace.priority import release_expected
from responder.replace.record import Task
from responder.settings import Settings

# A chosen slow end, not a published figure (neither cloud publishes a snapshot rate): a first,
# full snapshot at about 10 s per GiB, three times slower than that.
SLOW_SECONDS_PER_GIB = 30.0
SETTLE_MARGIN = 900.0  # after the image: launch, reach Running, move the disks and addresses


def holds(task: Task) -> bool:
    """An image was requested or a replacement launched: giving up would throw away money spent."""
    return bool(task.record.image.image_id or task.record.launch.replacement_ids)


def disk_gib(task: Task) -> int:
    disks = task.record.race.disks
    if disks:
        return sum(d.size_gib for d in disks)
    source = task.record.source
    return int(getattr(source, "system_disk_size", 0) or 0) if source else 0


def own_deadline(task: Task) -> float:
    return release_expected(task) + SLOW_SECONDS_PER_GIB * disk_gib(task) + SETTLE_MARGIN


def gives_up_at(task: Task, settings: Settings) -> float:
    start = task.record.timings.get("received", task.row.created_at)
    revert = task.record.revert
    if revert is not None:  # a move back to spot has no release: counted from its last stock check or its start
        start = max(start, revert.next_check_at, revert.started_at or 0.0)
        own = start + SLOW_SECONDS_PER_GIB * disk_gib(task) + SETTLE_MARGIN
        return max(start + settings.retry_deadline_seconds, own if holds(task) else 0.0)
    outer = start + settings.retry_deadline_seconds
    return max(outer, own_deadline(task)) if holds(task) else outer


def leftovers(task: Task) -> list[str]:
    """What the task kept that still bills for its owner, each named with its id."""
    state = task.record.race
    left = [f"kept disk {d.disk_id} ({d.size_gib} GiB)" for d in state.disks
            if race.ours_to_give_back(d) and not d.settled and d.moved != "reattached"]
    left += [f"restored disk {d.restored_id}" for d in state.disks if d.restored_id and d.moved != "restored"]
    if state.eip_allocation and not state.eip_bound:
        left.append(f"EIP {state.eip_allocation}")
    return left


def degrade(task: Task, what: str) -> str:
    """Record what did not happen and what was left; returns the `done` reason."""
    record = task.record
    left = leftovers(task)
    # What an earlier step already said did not happen (a swap refused) stays beside it.
    earlier = [d for d in record.degraded if not d.startswith("left: ")]
    record.degraded = earlier + [what] + [f"left: {item}" for item in left]
    ids = record.launch.replacement_ids
    head = (f"replaced by {', '.join(ids)}" if ids else
            f"image {record.image.image_id} kept, no replacement launched")
    tail = (f"; still billing, listed by `responder orphans`: {', '.join(left)}" if left else "")
    return f"{head}; degraded: {what}{tail}"
