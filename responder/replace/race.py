"""The race against the release: pure decisions about what to keep, which image to launch from,
and what to give back once the replacement runs.

Parts: NOTICE_SECONDS (how long each cloud waits after its notice), estimate_image_seconds (an
image's time from its disks: size, category, first or incremental snapshot), choose_policy (the
launch policy for one task: `auto` weighs the estimate against the time left), decide_protect
(right after verification: read the disks, keep them, convert the public IP), decide_after_running
(once the replacement runs: wait for the fresh image, reattach or give back the kept disks, move
the EIP) and the observers of those calls (OBSERVERS).

Nothing here calls a cloud: steps.py asks these functions for Calls and the executor makes them.

The estimate's figures are the product's own reading of the clouds' snapshot speed (neither
publishes a rate; both say the first snapshot of a disk copies every written block and later
ones only the changes): a fixed start plus seconds per GiB copied, per disk category. A wrong
estimate costs little: `auto` only decides whether to wait for the fresh image.
"""

from __future__ import annotations

from typing import Callable, Optional

from responder.replace.record import KeptDisk, Task

# Aliyun deletes a disk's unfinished snapshots with it; EC2 completes them after the volume is gone.
KEEPS_DISKS = frozenset({"aliyun"})
NOTICE_SECONDS = {"aliyun": 300.0, "aws": 120.0}  # Aliyun: ~5 min to release; AWS: the 2-minute warning
# (fixed start s, s per GiB copied): ESSD / io-class fastest, basic disks slowest.
ESTIMATE_RATE = {"cloud_essd": (20.0, 6.0), "cloud_auto": (20.0, 6.0), "cloud_ssd": (30.0, 8.0),
                 "cloud_efficiency": (30.0, 10.0), "cloud": (40.0, 14.0), "gp3": (20.0, 6.0), "gp2": (20.0, 7.0),
                 "io1": (15.0, 5.0), "io2": (15.0, 5.0), "st1": (30.0, 10.0), "sc1": (40.0, 14.0)}
CHANGED_SHARE = 0.05
SAFETY = 1.2  # the estimate is a guess: wait for the fresh image only with this much room to spare
RELEASE_POLL = 5.0


DEFAULT_SYSTEM_DISK = {"aliyun": ("cloud_essd", 40), "aws": ("gp3", 8)}  # when the disks could not be read


def estimate_image_seconds(disks: list[KeptDisk], incremental: bool, cloud: str = "aliyun") -> float:
    """Disks are snapshotted together, so the image takes as long as its slowest disk."""
    category, size = DEFAULT_SYSTEM_DISK.get(cloud, ("cloud_essd", 40))
    disks = disks or [KeptDisk("", "system", category, size, "")]
    worst = 0.0
    for disk in disks:
        start, per_gib = ESTIMATE_RATE.get(disk.category, (30.0, 10.0))
        worst = max(worst, start + per_gib * disk.size_gib * (CHANGED_SHARE if incremental else 1.0))
    return worst


def choose_policy(task: Task, setting: str, now: float, running_seconds: float) -> tuple[str, str]:
    """(policy, why). `auto`: the fresh image when it should be ready and the replacement Running
    before the release; otherwise launch at once from the newest image we made of this instance,
    else from the image the original was launched from (capacity first; the fresh image is still
    made, for the data)."""
    race, source = task.record.race, task.record.source
    latest = race.latest_image_id
    requested = task.record.timings.get("image_requested", now)
    estimate = estimate_image_seconds(race.disks, incremental=bool(latest), cloud=task.cloud)
    race.image_estimate_s = round(estimate, 1)
    fallback = ("latest-image", f"latest image {latest}") if latest else (
        ("source-image", f"source image {source.image_id}") if source and source.image_id else ("", ""))
    if setting == "fresh-image" or (setting != "auto" and not fallback[0]):
        return "fresh-image", "RESPONDER_LAUNCH_FROM=fresh-image" if setting == "fresh-image" else "no other image known"
    if setting == "source-image" and source and source.image_id:
        return "source-image", "RESPONDER_LAUNCH_FROM=source-image"
    if setting == "latest-image":
        return fallback[0], f"RESPONDER_LAUNCH_FROM=latest-image: {fallback[1]}"
    left = (race.release_expected_at or now) - now
    need = (requested + estimate * SAFETY - now) + running_seconds
    if need <= left or not fallback[0]:
        return "fresh-image", f"image ~{estimate:.0f} s + Running ~{running_seconds:.0f} s fits the {left:.0f} s left"
    return fallback[0], (f"image ~{estimate:.0f} s + Running ~{running_seconds:.0f} s would end after the release "
                         f"({left:.0f} s left): {fallback[1]}")


def ours_to_give_back(disk: KeptDisk) -> bool:
    """Only a disk we kept from going with the instance is ours to delete; the owner's persistent
    disks (DeleteWithInstance already false) are reattached or left alone, never deleted."""
    return disk.was_deleted_with_instance


def reattaches(task: Task, disk: KeptDisk) -> bool:
    """A data disk follows the replacement when it can attach there (same zone) and the
    replacement did not already get its data from the fresh image. On EC2 the volumes are not moved
    (a stopped original still holds them, a terminated one took them): the fresh AMI carries them."""
    if task.cloud not in KEEPS_DISKS:
        return False
    replacement = task.record.launch.replacement
    from_fresh = not task.record.race.launch_image_id
    return (disk.kind == "data" and not from_fresh and replacement is not None and replacement.zone == disk.zone)


def unsettled(task: Task) -> list[KeptDisk]:
    return [d for d in task.record.race.disks if not d.settled and (ours_to_give_back(d) or reattaches(task, d))]


def release_seen(task: Task, states: dict[str, str], now: float) -> None:
    """The original counts as released once the cloud no longer shows it running."""
    state = states.get(task.instance_id, "").lower()
    if state in ("", "terminated", "shutting-down", "stopped", "stopping", "deleted"):
        race = task.record.race
        race.released_at = race.released_at or now
        task.record.stamp("original_released", now)
        running = task.record.timings.get("running")
        if running is not None:
            task.record.timings.setdefault("gap_s", round(max(0.0, running - race.released_at), 3))


Observer = Callable[..., Optional[tuple[str, str]]]
