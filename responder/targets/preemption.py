"""An OCI preemption: received, verified against the cloud, recorded on the target that owns the
instance, and relaunched by that target's hunt at once.

Parts: handle_oci_preemption (intake's action for an OCI interruption), PREEMPTED_KEEP,
ANSWER_SECONDS (a redelivery within this long is answered from memory, without an OCI call).

OCI terminates a preemptible instance when it takes the capacity back; there is no notice
window to image it in (docs.oracle.com, Content/Compute/Concepts/preemptible.htm: "When
preemptible capacity is reclaimed, the instance is terminated"). So the replacement is what the
owning target launches: the same shape, image, subnet, size and tags as the original, through the
adapter, with a retry token per launch and under the target's money caps and pacing. The event
only makes the target due now and records the preemption on its row; the tick that follows (run
here, right after) does the launch. An instance no target owns is verified and recorded (log,
notification) but not relaunched: OCI's GetInstance does not name its subnet, and a clone
launched into a guessed one could land in the wrong network.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from typing import Any

from responder.clouds.base import TOKEN_TAG
from responder.errors import NotFound, Transient
from responder.model import Interruption
from responder.replace.verify import event_rejection, instance_rejection
from responder.targets import events
from responder.targets.model import TARGET_TAG

log = logging.getLogger("responder.targets")
PREEMPTED_KEEP = 10  # the last preemptions kept on a target's row
# Notifications deliver at least once, and a batch may carry the same message many times: the
# answer for an instance is remembered this long, so a burst of copies costs one GetInstance (OCI
# throttles per user). Only final answers are kept: accepted, noted, and "no such instance"; a
# rejection because the instance is not terminating yet is not, as the real event may follow.
ANSWER_SECONDS = 60.0
_answers: dict[tuple[str, str], tuple[float, dict]] = {}
_answers_lock = threading.Lock()


def _remembered(key: tuple[str, str]) -> dict | None:
    with _answers_lock:
        found = _answers.get(key)
        if found and time.monotonic() - found[0] < ANSWER_SECONDS:
            return {**found[1], "duplicate": True}
        return None


def _remember(key: tuple[str, str], answer: dict) -> dict:
    with _answers_lock:
        if len(_answers) > 1000:
            _answers.clear()
        _answers[key] = (time.monotonic(), answer)
    return answer


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def handle_oci_preemption(runner, event: Interruption, labels: dict[str, str]) -> dict[str, Any]:
    """Raises intake.Unavailable when OCI cannot be read (the sender redelivers)."""
    from responder.intake import Unavailable
    from responder.targets.table import TargetStore
    from responder.targets.tick import tick_targets

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
        return _remember(key, rejected) if final else rejected
    owner = dict(info.tags).get(TARGET_TAG, "")
    tstore = TargetStore(runner.store.engine)
    lease, row = tstore.lease_one(owner, runner.settings.targets_tick_budget_seconds) if owner else ("", None)
    events.emit("preempted", target=owner or "-", cloud="oci", region=event.region, instance_id=event.instance_id,
                instance_type=info.instance_type, zone=info.zone, owned=row is not None)
    if row is None:
        reason = ("no target owns it (no responder:target tag, or the target is gone): verified and recorded, "
                  "not relaunched") if not owner or tstore.get(owner) is None else \
            f"target {owner} is being reconciled by another ticker; it relaunches the instance"
        return _remember(key, {"outcome": "noted", "reason": reason, "target": owner or None, **answer})
    stats = dict(row.stats)
    stats["preempted"] = stats.get("preempted", 0) + 1
    # The grace that counts a fresh launch as held until listings show it must not count this
    # one: the cloud itself just said it is being terminated.
    recent, token = stats.get("recent"), dict(info.tags).get(TOKEN_TAG)
    if recent and token:
        recent.get("totals", {}).pop(token, None)
    seen = [p for p in stats.get("preemptions", []) if p.get("instance_id") != event.instance_id]
    stats["preemptions"] = (seen + [{"instance_id": event.instance_id, "zone": info.zone,
                                     "at": _iso(tstore.clock()), "event_id": event.event_id}])[-PREEMPTED_KEEP:]
    tstore.finish(lease, owner, stats, 0.0)  # due now: the target's own pacing still applies
    return _remember(key, {"outcome": "accepted", "reason": f"target {owner} relaunches it", "target": owner,
                           "targets": tick_targets(runner), **answer})
