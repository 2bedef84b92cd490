"""`responder orphans`: what the responder kept or made that still bills, from its own records.

Parts: find_orphans (every task's kept disks that still exist detached, and converted EIPs that
are bound to nothing).

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
        if race.eip_allocation and not race.eip_bound and task.finished:
            found.append({"kind": "eip", "id": race.eip_allocation, "cloud": task.cloud, "region": task.region,
                          "task": task.id})
    return found
