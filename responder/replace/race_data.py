"""Data disks follow the replacement: reattached in its zone, restored from the fresh image's
snapshot in another.

Parts: next_step (the restores' next calls: read the image's snapshot per device, CreateDisk /
CreateVolume from it with a token from the claim key, attach the new disk), next_due (when a
restore waiting for its snapshot or disk should look again), reattach_calls (the kept disks to
move once the original is gone), OBSERVERS (image_snapshots, restore_disk, attach_disk).

Pure, like race_steps.py: the executor makes the calls. A restore does not wait for the release
(the new disk is ours from the start), only for its snapshot to be usable: Aliyun ESSD snapshots
with instant access make a disk while still progressing (CreateSnapshot,
https://www.alibabacloud.com/help/en/doc-detail/25524.htm), EBS snapshots only once `completed`
(the harsher reading: the EBS guide never says a pending snapshot makes a volume).
"""

from __future__ import annotations

from typing import Optional

from responder.capacity.tokens import token_for
from responder.replace import race
from responder.replace.calls import Call, Decision
from responder.replace.record import KeptDisk, Task

SNAPSHOT_POLL = 10.0  # a snapshot not usable yet: look again then
DISK_POLL = 2.0  # a disk still creating / detaching


def _restoring(task: Task) -> list[KeptDisk]:
    todo = [d for d in task.record.race.disks if race.restores(task, d) and not d.moved]
    if task.record.race.image_failed:  # its snapshots went with it: only a disk already made can follow
        return [d for d in todo if d.restored_id]
    return todo


def next_step(task: Task, now: float) -> Optional[Decision]:
    due = [d for d in _restoring(task) if now >= d.next_try_at]
    if not due:
        return None
    record = task.record
    if any(not d.snapshot_id for d in due):  # which snapshot of the fresh image is this disk's
        return Decision([Call("image_snapshots", {"image_id": record.image.image_id})])
    target, zone = record.launch.replacement_ids[0], record.launch.replacement.zone
    calls = []
    for disk in due:
        if disk.restored_id:
            calls.append(_attach(disk, disk.restored_id, target))
        else:
            calls.append(Call("restore_disk", {"disk_id": disk.disk_id, "snapshot_id": disk.snapshot_id, "zone": zone,
                                               "category": disk.category},
                              token=token_for(task.key, "rs-" + disk.disk_id)))
    return Decision(calls)


def next_due(task: Task) -> Optional[float]:
    todo = _restoring(task)
    return min(d.next_try_at for d in todo) if todo else None


def reattach_calls(task: Task, now: float) -> list[Call]:
    target = task.record.launch.replacement_ids[0]
    return [_attach(d, d.disk_id, target)
            for d in task.record.race.disks if race.reattaches(task, d) and not d.moved and now >= d.next_try_at]


def _attach(disk: KeptDisk, disk_id: str, target: str) -> Call:
    """At the original's device name, going with the replacement as it went with the original."""
    return Call("attach_disk", {"disk_id": disk_id, "instance_id": target, "device": disk.device,
                                "delete_with_instance": disk.delete_with_instance})


# -- observers -------------------------------------------------------------------------------
def _saw_snapshots(task: Task, call: Call, by_device: dict, settings, now, facts, error) -> None:
    """A pending image may not name every snapshot yet: look again; once it is done (or failed), a
    device it never named has no snapshot to restore from — the kept disk holds the data."""
    settled = task.record.image.available or bool(task.record.race.image_failed)
    for disk in _restoring(task):
        disk.snapshot_id = disk.snapshot_id or (by_device or {}).get(disk.device, "")
        if not disk.snapshot_id:
            if settled:
                disk.moved = "lost"
            else:
                disk.next_try_at = now + SNAPSHOT_POLL


def _restored(task: Task, call: Call, disk_id: str, settings, now, facts, error) -> None:
    disk = next(d for d in task.record.race.disks if d.disk_id == call.args["disk_id"])
    if disk_id:
        disk.restored_id = disk_id
        task.record.stamp("disk_restored", now)
    else:
        disk.next_try_at = now + SNAPSHOT_POLL


def _attached(task: Task, call: Call, answer: Optional[list], settings, now, facts, error) -> None:
    """`answer`: the disk ids now on the replacement ([] not yet; None: the disk is not there)."""
    asked = call.args["disk_id"]
    for disk in task.record.race.disks:
        if asked not in (disk.disk_id, disk.restored_id):
            continue
        if answer is None:
            disk.moved = "lost"
        elif asked not in answer:
            disk.next_try_at = now + DISK_POLL
        elif asked == disk.restored_id:
            disk.moved = "restored"
        else:
            disk.moved = disk.settled = "reattached"
        if disk.moved:
            task.record.stamp("data_on_replacement", now)
            if disk.moved != "lost":
                disk.moved_at = now


OBSERVERS = {
    "image_snapshots": _saw_snapshots,
    "restore_disk": _restored,
    "attach_disk": _attached,
}
