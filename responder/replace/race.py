"""The race against the release: pure decisions about what to keep, which image to launch from,
and what to give back once the replacement runs.

Parts: choose_policy (the launch policy for one task: `auto` weighs what the task believes its
image and its launch will take, build_times.py, against the time left), notice_at (the notice's
own time from the event, when believable), notice_seconds (notice to release: none for an EC2
instance that hibernates), ours_to_give_back,
follows, reattaches, restores, to_give_back (which disk goes where once the replacement runs),
private_ip_to_move, release_seen (the original counts as gone).

Nothing here calls a cloud: steps.py asks these functions for Calls and the executor makes them.

The estimates are learned from what this responder observed (build_times.py: a high quantile of
the last images and launches of the same kind, a harsh prior before that), never the cloud's or
the emulator's figures. A wrong estimate costs little: `auto` only decides whether to wait for the
fresh image.
"""

from __future__ import annotations

import datetime
import math
from typing import Callable, Optional

from responder.model import NOTICE_SECONDS
from responder.replace.record import KeptDisk, Task

# Aliyun deletes a disk's unfinished snapshots with it: every disk is kept for the image. EC2
# completes them after the volume is gone: only data volumes are kept, for their data to follow.
KEEPS_DISKS = frozenset({"aliyun"})
STOP_ACTIONS = frozenset({"marked-for-stop", "marked-for-hibernation"})  # EC2 keeps a stopped instance's volumes
SAFETY = 1.2  # the estimate is a guess: wait for the fresh image only with this much room to spare
RELEASE_POLL = 5.0


def choose_policy(task: Task, setting: str, now: float) -> tuple[str, str]:
    """(policy, why). `auto`: the fresh image when it should be ready and the replacement Running
    before the release; otherwise launch at once from the newest image we made of this instance,
    else from the image the original was launched from (capacity first; the fresh image is still
    made, for the data)."""
    race, source = task.record.race, task.record.source
    latest = race.latest_image_id
    requested = task.record.timings.get("image_requested", now)
    # What the task believes (build_times.believe, filled before this is asked): learned p90s or priors.
    estimate = race.image_belief.estimate_s if race.image_belief else math.inf
    running_seconds = race.boot_belief.estimate_s if race.boot_belief else math.inf
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
    believed = f"image ~{estimate:.0f} s ({_basis(race.image_belief)}) + Running ~{running_seconds:.0f} s " \
               f"({_basis(race.boot_belief)})"
    if need <= left or not fallback[0]:
        return "fresh-image", f"{believed} fits the {left:.0f} s left"
    return fallback[0], f"{believed} would end after the release ({left:.0f} s left): {fallback[1]}"


def _basis(belief) -> str:
    if belief is None:
        return "unknown"
    if belief.source == "observed":
        return f"p{belief.quantile * 100:.0f} of {belief.samples} observed"
    return f"prior, {belief.samples} observed"


NOTICE_SKEW = 5.0  # an event time this far after receipt is the sender's clock, not a later notice
NOTICE_OLDEST = 3600.0  # an event time older than this is a replay or a broken clock: counted from receipt


def notice_at(event_time: str, received: float) -> Optional[float]:
    """The notice's own time (CloudMonitor `eventTime`, EventBridge `time`) as epoch seconds, when
    it is believable: a delivery that arrives late shortens the race rather than fooling the plan.
    None when absent, unreadable, ahead of receipt by more than NOTICE_SKEW, or older than
    NOTICE_OLDEST (the expected release is then counted from receipt)."""
    text = (event_time or "").strip()
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # the clouds send UTC
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    at = moment.timestamp()
    if at > received + NOTICE_SKEW or received - at > NOTICE_OLDEST:
        return None
    return min(at, received)


def notice_seconds(task: Task) -> float:
    """From the notice to the release. EC2 gives no two-minute warning to an instance that
    hibernates: "you do not receive a two-minute warning because the hibernation process begins
    immediately" (Spot Instance interruption notices, EC2 user guide)."""
    source, detail = task.record.source, task.record.event.detail
    if task.cloud == "aws" and ((source is not None and source.spot_request_state == "marked-for-hibernation")
                                or str(detail.get("instance-action", "")).lower() == "hibernate"):
        return 0.0
    return NOTICE_SECONDS.get(task.cloud, 120.0)


def ours_to_give_back(disk: KeptDisk) -> bool:
    """Only a disk we kept from going with the instance is ours to delete; the owner's persistent
    disks (DeleteWithInstance already false) are reattached or left alone, never deleted."""
    return disk.was_deleted_with_instance


def follows(task: Task, disk: KeptDisk) -> bool:
    """A data disk's data must follow a replacement launched from another image (one launched from
    the fresh image already carries it)."""
    return (disk.kind == "data" and bool(task.record.race.launch_image_id)
            and task.record.launch.replacement is not None)


def reattaches(task: Task, disk: KeptDisk) -> bool:
    """The disk itself moves when it outlives the original and the replacement is in its zone
    (AttachDisk / AttachVolume need one zone); otherwise its data is restored (restores)."""
    return follows(task, disk) and disk.survives and task.record.launch.replacement.zone == disk.zone


def restores(task: Task, disk: KeptDisk) -> bool:
    """A new disk from the fresh image's snapshot of it, in the replacement's zone."""
    return follows(task, disk) and not reattaches(task, disk)


def to_give_back(task: Task) -> list[KeptDisk]:
    """Kept disks still billing for us whose data needs them no longer: not to follow, or restored.
    A disk whose data could not follow ("lost") is kept: it may hold the only copy."""
    return [d for d in task.record.race.disks
            if ours_to_give_back(d) and not d.settled and (not follows(task, d) or d.moved == "restored")]


def private_ip_to_move(task: Task, keep_private_ip: bool) -> str:
    """The original's private IP, when the setting asks for it and the cloud allows it: the
    replacement is in the original's vswitch / subnet (an address belongs to one), and the original
    is released rather than stopped (a stopped EC2 instance keeps its addresses)."""
    source, replacement, state = task.record.source, task.record.launch.replacement, task.record.race
    if not (keep_private_ip and source and source.private_ip and replacement) or state.private_ip_moved:
        return ""
    if replacement.subnet_id != source.subnet_id or source.spot_request_state in STOP_ACTIONS:
        return ""
    revert = task.record.revert  # a move back carries the address clients know: the original's, when it had moved
    return (revert.private_ip if revert is not None and revert.private_ip else "") or source.private_ip


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


def root_state(task: Task) -> str:
    """fresh (booted from the notice-time image), swapped (that image's root put onto it later,
    set by the swap), stale (booted from an older image and never swapped); "" with no replacement."""
    if task.record.race.root_state:
        return task.record.race.root_state
    if not task.record.launch.replacement_ids or "running" not in task.record.timings:
        return ""
    return "stale" if task.record.race.launch_image_id else "fresh"


def data_kept(task: Task) -> bool:
    """The fresh image Available and, for a replacement launched from another image, every data
    disk's data on it (reattached or restored)."""
    if not task.record.image.available:
        return False
    data = [d for d in task.record.race.disks if d.kind == "data"]
    return not task.record.race.launch_image_id or all(d.moved in ("reattached", "restored") for d in data)


def service_ready_at(task: Task) -> Optional[float]:
    """Running with every data disk attached: at Running from the fresh image (it carries them),
    else when the last data disk arrived; None while one is missing."""
    running = task.record.timings.get("running")
    if running is None:
        return None
    data = [d for d in task.record.race.disks if d.kind == "data"]
    if not task.record.race.launch_image_id or not data:
        return running
    if any(d.moved not in ("reattached", "restored") or d.moved_at is None for d in data):
        return None
    return max([running] + [d.moved_at for d in data])


def gaps(task: Task, released: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    """(capacity gap, service gap) in seconds after the release, 0 when ahead; None: never."""
    running, ready = task.record.timings.get("running"), service_ready_at(task)
    if released is None:
        return (None if running is None else 0.0), (None if ready is None else 0.0)
    return ((None if running is None else round(max(0.0, running - released), 3)),
            (None if ready is None else round(max(0.0, ready - released), 3)))


def settle_figures(task: Task) -> None:
    """At the end, into the record: root state, data kept, and the gaps against the release seen
    (else the expected one)."""
    state, timings = task.record.race, task.record.timings
    state.root_state = root_state(task)
    state.data_kept = data_kept(task)
    ready = service_ready_at(task)
    if ready is not None:
        timings.setdefault("service_ready", ready)
    capacity, service = gaps(task, state.released_at if state.released_at is not None else state.release_expected_at)
    for name, value in (("capacity_gap_s", capacity), ("service_gap_s", service)):
        if value is not None:
            timings.setdefault(name, value)


Observer = Callable[..., Optional[tuple[str, str]]]
