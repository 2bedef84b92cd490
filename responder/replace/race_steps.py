"""The race's steps, called from steps.py: what to call on receipt, which image to launch from,
and what to settle once the replacement runs. Pure: they read the record and return Decisions;
the answers come back through OBSERVERS.

Parts: on_receipt (keep the disks, convert the public IP: public_ip_step), choose_launch (the launch policy, in
imaging once the stock is known), after_running (restores first, race_data.py; then _settle_rest: wait
for the fresh image, see the original go, move the EIP and the private IP, reattach or give back
the kept disks), summary (the race's part of the finish
reason), RACE_WRITES, OBSERVERS.
"""

from __future__ import annotations

from typing import Optional

from responder.capacity.tokens import token_for
from responder.model import Cloud
from responder.replace import build_times, race, race_data, swap
from responder.replace.calls import Call, Decision
from responder.replace.image_polls import progress_of, settled_poll_at, settled_poll_delay
from responder.replace.record import KeptDisk, Task
from responder.settings import Settings

RACE_WRITES = frozenset({"keep_disks", "convert_public_ip", "bind_eip", "attach_disk", "delete_disk", "follow_instance",
                         "restore_disk", "move_private_ip", "swap_root"})
RELEASE_WAIT = 900.0  # past the expected release, stop waiting to see the original go


def on_receipt(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """Right after CreateImage: the disks must outlive the instance until the image is made."""
    record = task.record
    state = record.race
    if state.release_expected_at is None:  # from the notice's own time when the event gave one (race.notice_at)
        start = record.event.notice_at if record.event.notice_at is not None else record.timings.get("received", now)
        state.release_expected_at = start + race.notice_seconds(task)
    if (settings.protect_on_receipt or settings.launch_from == "auto") and not state.disks_read:
        return Decision([Call("describe_disks", {"instance_id": task.instance_id})])
    keep = [d.disk_id for d in state.disks if d.was_deleted_with_instance]
    if settings.protect_on_receipt and keep and not state.protected:
        return Decision([Call("keep_disks", {"disk_ids": keep})])
    return public_ip_step(task, settings)


def public_ip_step(task: Task, settings: Settings) -> Optional[Decision]:
    """Aliyun: the public IP becomes an EIP (an EIP already bound is only read), so it can follow;
    before the launch, which then takes no public IP of its own (an instance with one takes no EIP)."""
    source, state = task.record.source, task.record.race
    if (settings.keep_public_ip and task.cloud == Cloud.ALIYUN.value and source and source.public_ip
            and not state.eip_converted):
        return Decision([Call("convert_public_ip", {"instance_id": task.instance_id})])
    return None


def choose_launch(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """In imaging, once candidates are known: wait for the fresh image, or launch now from another."""
    state = task.record.race
    if state.policy:  # chosen; an older image may still wait for its check (a restart in between)
        return _launch_from_older(task, now) if task.status == "imaging" else None
    if not state.latest_looked_up:  # an earlier image of ours: a launch source, and incremental snapshots
        return Decision([Call("latest_image", {"instance_id": task.instance_id})])
    state.policy, state.why = race.choose_policy(task, settings.launch_from, now)
    # Aim the next image poll at this image's own estimate, not at how long the region's last took.
    requested = task.record.timings.get("image_requested", now)
    task.record.image.next_poll_at = min(task.record.image.next_poll_at,
                                         max(now, requested + (state.image_estimate_s or 0.0) * 0.9))
    if state.policy == "fresh-image":
        return None
    source = task.record.source
    state.launch_image_id = state.latest_image_id if state.policy == "latest-image" else source.image_id
    return _launch_from_older(task, now)


def _launch_from_older(task: Task, now: float) -> Optional[Decision]:
    """Read the older image first (DescribeImages): one deleted, deregistered or retired since the
    original was launched would only earn an InvalidImageId at launch (_saw_launch_image)."""
    state = task.record.race
    if state.policy == "fresh-image":
        return None
    if state.policy == "stand-in" and not state.launch_image_id:  # every image of ours is gone
        return Decision([Call("stand_in_image", {"instance_id": task.instance_id})])
    if not state.launch_image_checked:
        return Decision([Call("check_launch_image", {"image_id": state.launch_image_id})])
    task.record.stamp("launch_without_fresh_image", now)
    task.status = "launching"
    return Decision()


def after_running(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """Once the replacement runs: restore data disks in another zone as soon as their snapshots
    allow (race_data.py), and settle the rest; never finish while a restore is under way. A swap of
    the root disk (swap.py) goes first once the fresh image is Available: it may stop the instance."""
    swapping = swap.next_step(task, settings, now)
    if swapping is not None:
        return swapping
    restoring = race_data.next_step(task, now)
    if restoring is not None:
        return restoring
    decision = _settle_rest(task, settings, now)
    due = race_data.next_due(task)
    if due is None or (decision is not None and decision.calls):
        return decision
    if decision is None or decision.wait_until is None:
        return Decision(wait_until=due)
    return Decision(wait_until=min(decision.wait_until, due))


def _settle_rest(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """See the original go (when something must follow it), move the EIP, reattach data disks,
    wait for the fresh image, then give back what we kept."""
    record, state = task.record, task.record.race
    image_pending = bool(state.launch_image_id) and not record.image.available and not state.image_failed
    replacement = record.launch.replacement_ids[0]
    reattach = [d for d in state.disks if race.reattaches(task, d) and not d.moved]
    private_ip = race.private_ip_to_move(task, settings.keep_private_ip)
    needs_release = bool(reattach) or bool(private_ip) or (bool(state.eip_allocation) and not state.eip_bound)
    expected = state.release_expected_at if state.release_expected_at is not None else now
    if needs_release and state.released_at is None and now < expected + RELEASE_WAIT:
        due = max(state.next_release_check_at, expected)
        if now >= due:
            return Decision([Call("original_state", {"instance_ids": [task.instance_id]})])
        if not image_pending:
            return Decision(wait_until=due)
        if now < record.image.next_poll_at:
            return Decision(wait_until=min(due, record.image.next_poll_at))
        return Decision([Call("check_image", {"image_id": record.image.image_id})])
    if state.eip_allocation and not state.eip_bound and state.released_at is not None:
        return Decision([Call("bind_eip", {"allocation_id": state.eip_allocation, "instance_id": replacement})])
    if private_ip and state.released_at is not None:  # a secondary address: the replacement already serves
        return Decision([Call("move_private_ip", {"instance_id": replacement, "ip": private_ip},
                              token=token_for(task.key, "private-ip"))])
    if reattach and state.released_at is not None:
        calls = race_data.reattach_calls(task, now)
        return Decision(calls) if calls else Decision(wait_until=min(d.next_try_at for d in reattach))
    if image_pending:
        if now < record.image.next_poll_at:
            return Decision(wait_until=record.image.next_poll_at)
        return Decision([Call("check_image", {"image_id": record.image.image_id})])
    give_back = race.to_give_back(task)
    if give_back and record.image.available:
        if not state.disk_states_read:
            return Decision([Call("disk_states", {"disk_ids": [d.disk_id for d in give_back]})])
        calls = [Call("delete_disk", {"disk_id": d.disk_id}) for d in give_back if d.disk_id in state.detached]
        attached = [d.disk_id for d in give_back if d.disk_id not in state.detached]
        if attached:  # the original still runs: let the disks go with it again
            calls.append(Call("follow_instance", {"disk_ids": attached}))
        return Decision(calls)
    return None


def summary(task: Task) -> str:
    state = task.record.race
    race.settle_figures(task)
    parts = []
    if state.gone_images:
        parts.append(f"not launched from {', '.join(state.gone_images)}: gone (deleted, deregistered or retired)")
    if state.policy and state.policy != "fresh-image":
        parts.append(f"launched from {state.policy} {state.launch_image_id}"
                     + (" (a public image holding the capacity, not the original's system)" if state.stand_in_image else ""))
        image = task.record.image
        parts.append(f"fresh image {image.image_id} " + ("available" if image.available else f"failed ({state.image_failed})"))
        root = swap.root_state_text(task)
        if root:
            parts.append(root)
    left = [d.disk_id for d in state.disks if not d.settled and race.ours_to_give_back(d)]
    if left:
        parts.append(f"kept disks {', '.join(left)} still bill: they hold the only copy of the data")
    restored = [f"{d.disk_id} as {d.restored_id}" for d in state.disks if d.moved == "restored"]
    if restored:
        parts.append(f"restored {', '.join(restored)} in {task.record.launch.replacement.zone}")
    lost = [d.disk_id for d in state.disks if d.moved == "lost"]
    if lost:
        parts.append(f"data of {', '.join(lost)} did not follow the replacement")
    if state.eip_bound:
        parts.append(f"EIP {state.eip_allocation} moved")
    if state.private_ip_moved:
        revert = task.record.revert
        moved = (revert.private_ip if revert is not None else "") or task.record.source.private_ip
        parts.append(f"private IP {moved} moved (secondary)")
    return "; ".join(parts)


# -- observers -------------------------------------------------------------------------------
def _saw_disks(task: Task, disks, settings, now, facts, error) -> None:
    """Only disks we keep are ours to give back. Aliyun: every disk (the image needs them); EC2:
    the data volumes (their data may follow the replacement; the AMI needs nothing kept). The
    zone of the replacement is not known yet: every data volume is kept, and given back later."""
    source = task.record.source
    stops = task.cloud == "aws" and source is not None and source.spot_request_state in race.STOP_ACTIONS
    kept = []
    for d in disks:
        # A move back to spot keeps them whatever the setting: its own retire would take them.
        keeping = settings.protect_on_receipt or task.record.revert is not None
        ours = keeping and d.delete_with_instance and (
            task.cloud in race.KEEPS_DISKS or d.kind == "data")
        kept.append(KeptDisk(disk_id=d.disk_id, kind=d.kind, category=d.category, size_gib=d.size_gib, zone=d.zone,
                             device=d.device, was_deleted_with_instance=ours, delete_with_instance=d.delete_with_instance,
                             survives=ours or not d.delete_with_instance or stops))
    task.record.race.disks = kept
    task.record.race.disks_read = True


def _kept(task: Task, answer, settings, now, facts, error) -> None:
    task.record.race.protected = True
    task.record.stamp("protected", now)


def _converted(task: Task, allocation: str, settings, now, facts, error) -> None:
    task.record.race.eip_allocation, task.record.race.eip_converted = allocation or "", True


def _saw_latest(task: Task, image_id: str, settings, now, facts, error) -> None:
    """An earlier image of ours makes the next snapshot incremental: now the task can say what it
    believes its image and its launch will take (learned, build_times.py)."""
    task.record.race.latest_image_id, task.record.race.latest_looked_up = image_id or "", True
    build_times.believe(facts.times, task, settings.launch_running_seconds)


def _saw_launch_image(task: Task, image, settings, now, facts, error) -> None:
    """`image`: its ImageInfo, or None when it no longer exists. Gone, failed or retired: the next
    older image not known gone (the latest of ours, then the source image), else the fresh image."""
    state, source = task.record.race, task.record.source
    if image is not None and image.state == "available":
        state.launch_image_checked = True
        return
    state.gone_images.append(state.launch_image_id)
    left = [(policy, i) for policy, i in (("latest-image", state.latest_image_id),
                                         ("source-image", source.image_id if source else ""))
            if i and i not in state.gone_images]
    state.policy, state.launch_image_id = left[0] if left else _no_older_image(task, settings)
    state.why += f"; image {state.gone_images[-1]} is gone ({image.reason or image.state if image else 'not found'})"


def _no_older_image(task: Task, settings: Settings) -> tuple[str, str]:
    """Every image of ours is gone. Capacity first: a stand-in — the cloud's public image that a
    later root swap accepts (clouds/*_disks.py stand_in_image) — when the fresh image will be
    swapped in; with RESPONDER_STATE_SWAP=keep (or a cloud without the swap) the stand-in would
    never get the state: wait for the fresh image."""
    if settings.state_swap == "swap" and task.cloud in swap.SWAPS_ROOT:
        return "stand-in", ""
    task.record.race.why += "; no stand-in (RESPONDER_STATE_SWAP=keep would leave it without the state)" \
        if settings.state_swap == "keep" else ""
    return "fresh-image", ""


def _saw_stand_in(task: Task, image_id: str, settings, now, facts, error) -> None:
    """`image_id`: the stand-in found (available: DescribeImages asked for that), or "" when none
    matches the instance: then only the fresh image is left."""
    state = task.record.race
    if image_id:
        state.launch_image_id, state.stand_in_image, state.launch_image_checked = image_id, image_id, True
        state.why += f"; stand-in public image {image_id} (same OS, architecture and billing) until the fresh image " \
                     "is swapped in"
    else:
        state.policy = "fresh-image"
        state.why += "; no public image a root swap would accept: waiting for the fresh image"


def _checked_image(task: Task, image, settings, now, facts, error) -> None:
    record = task.record
    if image.state == "available":
        record.image.available = True
        record.stamp("image_available", now)
        build_times.observe_image(facts.times, task, now)
    elif image.state == "failed":
        record.race.image_failed = image.reason or "CreateFailed"
        record.stamp("image_failed", now)
    else:  # aimed at the estimate, backing off once past it (a 1 s beat past a wrong estimate made
        # thousands of reads per image at the slow end); the replacement runs: the wave's slow beat
        waited = now - record.timings.get("image_requested", now)
        progress = progress_of(image)
        record.image.next_poll_at = settled_poll_at(now, settled_poll_delay(facts, task, waited, progress))


def _saw_original(task: Task, states: dict[str, str], settings, now, facts, error) -> None:
    race.release_seen(task, states, now)
    if task.record.race.released_at is None:
        task.record.race.next_release_check_at = now + race.RELEASE_POLL


def _moved_private_ip(task: Task, answer, settings, now, facts, error) -> None:
    task.record.race.private_ip_moved = True
    task.record.stamp("private_ip_moved", now)


def _bound(task: Task, answer, settings, now, facts, error) -> None:
    task.record.race.eip_bound = True
    task.record.stamp("eip_bound", now)


def _settle(mark: str):
    def observe(task: Task, answer, settings, now, facts, error, call=None) -> None:
        ids = set(answer or ())
        for disk in task.record.race.disks:
            if disk.disk_id in ids:
                disk.settled = mark
    return observe


def _disk_states(task: Task, seen: dict, settings, now, facts, error) -> None:
    """`seen`: each asked disk id → its DiskInfo, or None when it no longer exists."""
    state = task.record.race
    state.detached = [i for i, d in seen.items() if d is not None and not d.instance_id]
    for disk in state.disks:
        if disk.disk_id in seen and seen[disk.disk_id] is None and not disk.settled:
            disk.settled = "gone"
    state.disk_states_read = True


OBSERVERS = {
    "describe_disks": _saw_disks,
    "keep_disks": _kept,
    "convert_public_ip": _converted,
    "latest_image": _saw_latest,
    "check_image": _checked_image,
    "check_launch_image": _saw_launch_image,
    "stand_in_image": _saw_stand_in,
    "original_state": _saw_original,
    "bind_eip": _bound,
    "move_private_ip": _moved_private_ip,
    "delete_disk": _settle("deleted"),
    "follow_instance": _settle("follows-instance"),
    "disk_states": _disk_states,
}
