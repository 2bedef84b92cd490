"""An OCI preemption: received, verified against the cloud, and relaunched — by the target that
owns the instance, or by a one-shot target made from the instance when none does.

Parts: handle_oci_preemption (intake's action for an OCI interruption), root_state (what state a
relaunch starts from, kept with each preemption on the row: clean, or the preserved boot volume
that holds the original's), PREEMPTED_KEEP,
ANSWER_SECONDS (a redelivery within this long is answered from memory, without an OCI call),
REJECTED_SECONDS (the same for a final rejection: a forged event costs one read per instance and
hour in each process), REMEMBERED (how many answers a process keeps, the least recent go first).

OCI terminates a preemptible instance when it takes the capacity back; there is no notice
window to image it in (docs.oracle.com, Content/Compute/Concepts/preemptible.htm: "When
preemptible capacity is reclaimed, the instance is terminated"). So the replacement is a launch
of the same shape, image, subnet, size and tags as the original, through the adapter, with a
retry token per launch and under the money caps and pacing of a target:
- an instance a target owns (its responder:target tag names a live target): the event makes that
  target due now and records the preemption on its row;
- an instance no target owns (or owned by a one-shot target, which never launches twice): a
  one-shot target is made from the instance's own configuration (responder.targets.oci_relaunch;
  the subnet comes from its primary VNIC), named after the OCID so a copy of the event adds
  nothing; RESPONDER_OCI_RELAUNCH_PREEMPTED=false records and notifies only.
The tick that follows (run here, right after) does the launch.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from responder.clouds.base import TOKEN_TAG
from responder.errors import NotFound, Transient, Unavailable
from responder.model import Interruption
from responder.replace.verify import event_rejection, instance_rejection
from responder.targets import events
from responder.targets.model import TARGET_TAG
from responder.targets.oci_relaunch import CannotRelaunch, relaunch_preempted
from responder.targets.table import TargetStore
from responder.targets.tick import tick_targets

log = logging.getLogger("responder.targets")
PREEMPTED_KEEP = 10  # the last preemptions kept on a target's row
# Notifications deliver at least once, and a batch may carry the same message many times: the
# answer for an instance is remembered this long, so a burst of copies costs one GetInstance (OCI
# throttles per user). Only final answers are kept: accepted, noted, and "no such instance"; a
# rejection because the instance is not terminating yet is not, as the real event may follow.
ANSWER_SECONDS = 60.0
REJECTED_SECONDS = 3600.0
REMEMBERED = 10_000  # a flood of made-up OCIDs pushes out the oldest answers, never memory
_answers: "OrderedDict[tuple[str, str], tuple[float, dict]]" = OrderedDict()  # key → (expires, answer)
_answers_lock = threading.Lock()


def _remembered(key: tuple[str, str]) -> dict | None:
    with _answers_lock:
        found = _answers.get(key)
        if found and time.monotonic() < found[0]:
            _answers.move_to_end(key)
            return {**found[1], "duplicate": True}
        return None


def _remember(key: tuple[str, str], answer: dict, seconds: float = ANSWER_SECONDS) -> dict:
    with _answers_lock:
        _answers[key] = (time.monotonic() + seconds, answer)
        _answers.move_to_end(key)
        while len(_answers) > REMEMBERED:
            _answers.popitem(last=False)
    return answer


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def handle_oci_preemption(runner, event: Interruption, labels: dict[str, str]) -> dict[str, Any]:
    """Raises Unavailable when OCI cannot be read (the sender redelivers)."""
    key = (event.region, event.instance_id)
    remembered = _remembered(key)
    if remembered is not None:
        return remembered
    answer: dict[str, Any] = {"instance_id": event.instance_id, "region": event.region, **labels}
    refused, final = event_rejection(event, runner.settings), True
    if refused is None:
        try:
            info = runner.clouds["oci"].describe_instance(event.region, event.instance_id)
        except NotFound:
            refused = f"instance {event.instance_id} does not exist in {event.region}"
        except Transient as exc:
            raise Unavailable(f"OCI could not be read: {exc.code}") from exc
        else:
            refused, final = instance_rejection(event, info, runner.settings), False
    if refused is not None:
        log.warning("OCI preemption event for %s rejected: %s", event.instance_id, refused)
        rejected = {"outcome": "rejected", "reason": refused, **answer}
        return _remember(key, rejected, REJECTED_SECONDS) if final else rejected
    owner = dict(info.tags).get(TARGET_TAG, "")
    tstore = TargetStore(runner.store.engine)
    owning = tstore.get(owner) if owner else None
    if owning is None or owning.target.launch.once:
        return _remember(key, _unowned(runner, tstore, event, info, answer))
    lease, row = tstore.lease_one(owner, runner.settings.targets_tick_budget_seconds)
    events.emit("preempted", target=owner, cloud="oci", region=event.region, instance_id=event.instance_id,
                instance_type=info.instance_type, zone=info.zone, owned=True)
    if row is None:
        reason = f"target {owner} is being reconciled by another ticker; it relaunches the instance"
        return _remember(key, {"outcome": "noted", "reason": reason, "target": owner, **answer})
    stats = dict(row.stats)
    stats["preempted"] = stats.get("preempted", 0) + 1
    # The grace that counts a fresh launch as held until listings show it must not count this
    # one: the cloud itself just said it is being terminated.
    recent, token = stats.get("recent"), dict(info.tags).get(TOKEN_TAG)
    if recent and token:
        recent.get("totals", {}).pop(token, None)
    seen = [p for p in stats.get("preemptions", []) if p.get("instance_id") != event.instance_id]
    stats["preemptions"] = (seen + [_preemption(event, info, tstore)])[-PREEMPTED_KEEP:]
    tstore.finish(lease, owner, stats, 0.0)  # due now: the target's own pacing still applies
    return _remember(key, {"outcome": "accepted", "reason": f"target {owner} relaunches it", "target": owner,
                           "targets": tick_targets(runner), **answer})


def _preemption(event: Interruption, info, tstore) -> dict:
    return {"instance_id": event.instance_id, "zone": info.zone, "at": _iso(tstore.clock()),
            "event_id": event.event_id, "root_state": root_state(info)}


def root_state(info) -> str:
    """What state the relaunch by an owning target starts from: the target's launch is from the
    original's image; a boot volume OCI preserved (preemption action preserve_boot_volume) keeps the
    original's state, detached in its AD, so the record points at it. The one-shot relaunch of an
    instance no target owns boots from that volume (oci_relaunch.root_state says so)."""
    if info.boot_volume_preserved:
        return (f"the relaunch starts clean from image {info.image_id}; the original's boot volume was "
                f"preserved (preserve_boot_volume) and holds its state, detached in {info.zone}")
    return f"the relaunch starts clean from image {info.image_id}: the boot volume was not preserved"


def _unowned(runner, tstore, event: Interruption, info, answer: dict) -> dict:
    """No live target owns the instance: a one-shot target relaunches it (once), unless the
    setting is off or OCI did not say enough to launch its like."""
    emit = dict(cloud="oci", region=event.region, instance_id=event.instance_id, instance_type=info.instance_type,
                zone=info.zone, owned=False)
    if not runner.settings.oci_relaunch_preempted:
        events.emit("preempted", target="-", **emit)
        return {"outcome": "noted", "target": None, **answer,
                "reason": "no target owns it: verified and recorded, not relaunched "
                          "(RESPONDER_OCI_RELAUNCH_PREEMPTED is off)"}
    try:
        name, added = relaunch_preempted(runner.clouds["oci"], tstore, event.region, info,
                                         _preemption(event, info, tstore))
    except Transient as exc:
        raise Unavailable(f"OCI could not be read: {exc.code}") from exc
    except CannotRelaunch as exc:
        events.emit("preempted", target="-", **emit)
        log.warning("OCI preempted instance %s not relaunched: %s", event.instance_id, exc)
        return {"outcome": "noted", "target": None, **answer,
                "reason": f"no target owns it, and it cannot be relaunched: {exc}"}
    if not added:  # a copy of the event: the one-shot target is already hunting (or done)
        return {"outcome": "accepted", "target": name, "created": False, **answer,
                "reason": f"one-shot target {name} relaunches it (made by an earlier copy of this event)"}
    # What the relaunch starts from (the preserved boot volume, or clean from the image) is said
    # in the notice too, not only on the row.
    root = (tstore.get(name).stats or {}).get("root_state", "")
    events.emit("preempted", target=name, relaunch=True, root_state=root, **emit)
    log.info("OCI preempted instance %s: one-shot target %s relaunches it", event.instance_id, name)
    return {"outcome": "accepted", "target": name, "created": True, **answer,
            "reason": f"no target owns it: one-shot target {name} relaunches it", "root_state": root,
            "targets": tick_targets(runner)}
