"""`responder orphans`: what the responder kept or made that still bills, from its own records.

Parts: find_orphans (every task's kept disks that still exist detached, restored disks left
unattached, and converted EIPs that are bound to nothing), restored_left (one task's restored
disks that exist and are attached to nothing).

The task records are the source: they name every disk the responder kept from going with its
instance and every EIP it converted, so nothing of another's is ever listed.
"""

from __future__ import annotations

from responder.clouds.base import CloudPort
from responder.replace.record import Task


def find_orphans(store, clouds: dict[str, CloudPort], limit: int = 1000) -> list[dict]:
    found = []
    for row in store.list(limit=limit):
        task = Task(row)
        cloud = clouds.get(task.cloud)
        race = task.record.race
        if cloud is None:
            continue
        kept = [d.disk_id for d in race.disks if d.was_deleted_with_instance and d.settled != "reattached"]
        if kept:
            for disk in cloud.describe_disks(task.region, disk_ids=tuple(kept)):
                if not disk.instance_id:
                    found.append({"kind": "disk", "id": disk.disk_id, "cloud": task.cloud, "region": task.region,
                                  "task": task.id, "size_gib": disk.size_gib, "category": disk.category})
        found += restored_left(task, cloud)
        if race.eip_allocation and not race.eip_bound and task.finished:
            found.append({"kind": "eip", "id": race.eip_allocation, "cloud": task.cloud, "region": task.region,
                          "task": task.id})
    return found


def restored_disks(task: Task) -> tuple[str, ...]:
    return tuple(d.restored_id for d in task.record.race.disks if d.restored_id)


def restored_left(task: Task, cloud: CloudPort) -> list[dict]:
    """A disk made from a snapshot in the replacement's zone is ours from its creation: it bills
    from then on, attached or not (a task that failed before the attach leaves it detached)."""
    ids = restored_disks(task)
    if not ids:
        return []
    return [{"kind": "restored-disk", "id": d.disk_id, "cloud": task.cloud, "region": task.region, "task": task.id,
             "size_gib": d.size_gib, "category": d.category}
            for d in cloud.describe_disks(task.region, disk_ids=ids) if not d.instance_id]
