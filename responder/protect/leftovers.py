"""What the cloud holds that the responder made and that bills past retention, and its clean-up.

Parts: plan_retention (pure: which of our images to delete), task_open_in (a store's answer to
"is the task of this claim still open"), cloud_leftovers (our images beyond retention with their
snapshots, our snapshots whose image is gone, our launch templates of ended tasks), remove (delete
what cloud_leftovers found), places_to_scan and cloud_orphans (the cloud's part of `responder
orphans`).

Only what carries the responder's tags is ever listed (CloudPort.own_images, LeftoversPort), so
nothing of another's is touched, whatever its name. The task records' part of `responder orphans`
(kept disks, converted EIPs) is orphans.py; this is the cloud's part.
"""

from __future__ import annotations

from typing import Callable

from responder.clouds.base import CloudPort
from responder.clouds.leftovers_port import OwnImage
from responder.errors import CloudError, NotFound
from responder.replace.record import Task

# A launch template outlives its task by this much before it goes: the task that launched with it
# may live in another store (one SQLite per container), where this one cannot see it is still open.
# A snapshot no AMI uses is as old before it goes: EC2 does not say when a pending AMI's block
# device mappings name their snapshots, and an AMI may stay pending "several hours" (Create Amazon
# EBS snapshots), so the harsher reading is that a young unused snapshot may belong to one.
GRACE_SECONDS = 86400.0


def plan_retention(images: list[OwnImage], keep: int, max_interruption_images: int) -> list[str]:
    """Our images to delete: per instance, protect images beyond the newest `keep` that are
    available (a pending one never counts as kept), and interruption images beyond the newest
    `max_interruption_images`. Failed images of ours always go."""
    doomed = [i.image_id for i in images if i.state == "failed"]
    by_instance: dict[tuple[str, str], list[OwnImage]] = {}
    for image in images:
        if image.state != "failed":
            by_instance.setdefault((image.instance_id, image.made_by), []).append(image)
    for (_, made_by), group in by_instance.items():
        limit = keep if made_by == "protect" else max_interruption_images
        ready = sorted((i for i in group if i.state == "available"), key=lambda i: i.created, reverse=True)
        doomed += [i.image_id for i in ready[limit:]]
    return doomed


def task_open_in(store) -> Callable[[str], bool]:
    """claim → the task of that claim is in the store and not finished. No store: always open
    (the harsher reading: never delete a template whose task cannot be looked up)."""
    def task_open(claim: str) -> bool:
        if store is None:
            return True
        row = store.get_by_key(claim) if claim else None
        return row is not None and not Task(row).finished
    return task_open


def cloud_leftovers(cloud: CloudPort, region: str, keep: int, max_interruption_images: int,
                    task_open: Callable[[str], bool], now: float,
                    grace: float = GRACE_SECONDS) -> list[dict]:
    where = {"cloud": cloud.cloud, "region": region}
    snapshots = cloud.own_snapshots(region) if hasattr(cloud, "own_snapshots") else []  # before the images
    images = cloud.own_images(region)
    doomed = set(plan_retention(images, keep, max_interruption_images))
    found = [dict(kind="image", id=i.image_id, instance=i.instance_id, made_by=i.made_by, created=i.created,
                  snapshots=[s.snapshot_id for s in snapshots if s.image_id == i.image_id], **where)
             for i in images if i.image_id in doomed]
    found += [dict(kind="snapshot", id=s.snapshot_id, instance=s.instance_id, size_gib=s.size_gib, **where)
              for s in snapshots if not s.image_id and now - s.created_at >= grace]
    if hasattr(cloud, "own_launch_templates"):
        found += [dict(kind="launch-template", id=t.template_id, name=t.name, claim=t.claim, **where)
                  for t in cloud.own_launch_templates(region)
                  if now - t.created_at >= grace and not task_open(t.claim)]
    return found


_DELETE = {"image": "delete_image", "snapshot": "delete_snapshot", "launch-template": "delete_launch_template"}


def remove(cloud: CloudPort, leftovers: list[dict]) -> tuple[list[str], list[str]]:
    """Delete each (an image with its snapshots); (deleted ids, errors). One refusal does not stop the rest."""
    deleted, errors = [], []
    for item in leftovers:
        try:
            getattr(cloud, _DELETE[item["kind"]])(item["region"], item["id"])
            deleted.append(item["id"])
        except NotFound:
            pass  # a concurrent pass (another ticker) deleted it first
        except CloudError as exc:
            errors.append(f"{item['id']}: {exc}")
    return deleted, errors


def places_to_scan(store, settings, given: tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str]]:
    """(cloud, region) pairs: the given ones, else the protect selectors' and the task records'."""
    if given:
        return sorted(set(given))
    found = {(c, r) for c, r, _, _ in settings.protect_selectors}
    found |= {(row.cloud, row.region) for row in store.list(limit=1000)} if store is not None else set()
    return sorted(found)


def cloud_orphans(clouds: dict[str, CloudPort], places: list[tuple[str, str]], keep: int,
                  task_open: Callable[[str], bool], now: float, grace: float = GRACE_SECONDS) -> list[dict]:
    """cloud_leftovers of every place; a place that cannot be read is an entry of kind `error`
    (nothing can be said about what bills there)."""
    found: list[dict] = []
    for cloud_name, region in places:
        cloud = clouds.get(cloud_name)
        if cloud is None:
            continue  # not configured: nothing of ours can be read there
        try:
            found += cloud_leftovers(cloud, region, keep, 1, task_open, now, grace)
        except CloudError as exc:
            found.append({"kind": "error", "cloud": cloud_name, "region": region, "error": str(exc)})
    return found
