"""Capacity first, state second: a replacement launched from an older image gets the fresh image's
root disk as soon as that image is Available.

Parts: next_step (the swap's next call, or nothing: called first by race_steps.after_running once
the replacement runs), root_state_text (what the finish reason and the notification say), OBSERVERS
(swap_root; replacement_state: running again after a refusal).

The swap keeps the capacity the replacement holds: the instance keeps its id, addresses and data
disks. AWS: CreateReplaceRootVolumeTask with the fresh AMI, polled until `succeeded` (the instance
restarts on the new root volume). Aliyun: StopInstance with StoppedMode=KeepCharging (a stop in
StopCharging mode may give the capacity back and the start fail for lack of stock), then
ReplaceSystemDisk with the fresh image, then StartInstance. The adapter reads before it acts, so a
repeat or a restart moves on from what the cloud shows; the replacing call carries a token from the
claim key (a lost answer repeated swaps nothing twice). A refusal — the cloud rules the swap out for
this instance — leaves the replacement on its older root disk ("refused"): the task goes on, and
its reason and notification say so. RESPONDER_STATE_SWAP=keep never swaps ("kept").

Pure, like race_steps.py: the executor makes the call (executor._swap_root).
"""

from __future__ import annotations

import math
import time
from typing import Optional

from responder.capacity.tokens import token_for
from responder.clouds.base import RootSwap
from responder.replace.calls import Call, Decision
from responder.replace.record import Task
from responder.settings import Settings

POLL = {"aws": 5.0, "aliyun": 2.0}  # a replace-root task takes tens of seconds; a stop or a start, seconds
ENDED = ("done", "refused", "kept")
SWAPS_ROOT = frozenset({"aws", "aliyun"})  # clouds with a root swap (OCI relaunches from the preserved boot volume)
# A swap still not done after this long (a replace-root task stuck in-progress, an instance that
# never leaves Stopping) is given up as refused: the task must not poll it forever. No cloud
# publishes a figure; a stop, a disk replacement and a start take seconds to a few minutes.
GIVE_UP_SECONDS = 1800.0


def next_step(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """None when there is nothing to swap now (launched from the fresh image, the image not
    Available yet or failed, the swap ended); otherwise the swap's next call or when to look again.
    Other steps of the task wait while a swap is under way: the instance may be stopped."""
    record, state = task.record, task.record.race
    if not state.root_state:  # first look once it runs: which root disk it booted from
        state.root_state = "stale" if state.launch_image_id else "fresh"
        state.root_state_since = record.timings.get("running", now)
    if state.swap == "refused" and state.swap_step == "restarting":  # a stop may have come before the refusal
        if now < state.swap_next_at:
            return Decision(wait_until=state.swap_next_at)
        return Decision([Call("replacement_state", {"instance_ids": list(record.launch.replacement_ids)})])
    if not state.launch_image_id or state.swap in ENDED or state.image_failed:
        return None
    if settings.state_swap == "keep":
        state.swap = "kept"
        return None
    if not record.image.available:
        return None
    started = record.timings.get("swap_started")
    if started is not None and now - started > GIVE_UP_SECONDS:
        state.swap, state.swap_step = "refused", "restarting"
        state.swap_refused = f"not done after {GIVE_UP_SECONDS:.0f} s"
        record.degraded.append(f"state swap given up after {GIVE_UP_SECONDS:.0f} s: the replacement may still run "
                               f"the root disk of {state.launch_image_id}")
        return Decision()
    if now < state.swap_next_at:
        return Decision(wait_until=state.swap_next_at)
    record.stamp("swap_started", now)
    return Decision([Call("swap_root", {"instance_id": record.launch.replacement_ids[0],
                                        "image_id": record.image.image_id},
                          token=token_for(task.key, "swap"))])


def root_state_text(task: Task) -> str:
    """Which root disk the replacement runs, and since when (the finish reason, the notification)."""
    record, state = task.record, task.record.race
    image = record.image.image_id
    if state.root_state == "swapped":
        return f"root disk swapped to the fresh image {image} at {_when(state.root_state_since)}"
    if state.root_state != "stale":
        return ""
    older = (f"runs the stand-in public image {state.launch_image_id}, not the original's system (every image of "
             f"ours is gone)" if state.stand_in_image else f"runs the root disk of the older image {state.launch_image_id}")
    if state.swap == "kept":
        return f"{older} (RESPONDER_STATE_SWAP=keep): the fresh image {image} holds the notice-time state"
    if state.swap == "refused":
        return (f"{older}: the swap was refused ({state.swap_refused}); "
                f"the fresh image {image} holds the notice-time state")
    if state.image_failed:
        return f"{older}: the fresh image failed, there was nothing to swap in"
    if state.stand_in_image and state.swap != "done":
        return f"{older} until the fresh image {image} is swapped in"
    return older


def _when(at: Optional[float]) -> str:
    if at is None:
        return "-"
    if at < 1e9:  # a scenario clock (the sandbox, the benchmark), not epoch seconds
        return f"t={at:.0f} s"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


# -- observers -------------------------------------------------------------------------------
def _swapped(task: Task, call: Call, answer: RootSwap, settings, now, facts, error) -> None:
    state = task.record.race
    state.swap_step = answer.step
    if answer.state == "done":
        state.swap, state.root_state, state.root_state_since = "done", "swapped", now
        task.record.stamp("root_swapped", now)
    elif answer.state == "refused":  # see it run again before going on (Aliyun starts it after a refusal)
        state.swap, state.swap_refused, state.swap_step = "refused", answer.step, "restarting"
        task.record.degraded.append(f"state swap refused ({answer.step}): the replacement keeps the root disk of "
                                    f"{state.launch_image_id}; the fresh image {task.record.image.image_id} holds "
                                    "the notice-time state")
    else:
        started, state.swap = answer.step == "starting" and answer.acted, "working"
        boot = task.record.race.observed_boot_s
        # A start takes about as long as the launch did: look then, not every beat.
        state.swap_next_at = _on_beat(task, now + (0.8 * boot if started and boot else 0.0))


def _on_beat(task: Task, after: float) -> float:
    """The first beat of the cloud's POLL at least a beat after `after`: every swap of a wave looks
    on the same beats, so one read of the wave's looks (executor._swap_root) serves them all."""
    beat = POLL.get(task.cloud, 5.0)
    return math.ceil((after + beat) / beat - 1e-9) * beat


def _saw_back(task: Task, call: Call, states: dict[str, str], settings, now, facts, error) -> None:
    state = task.record.race
    if states and all(s.lower() == "running" for s in states.values()):
        state.swap_step = "running"
    else:
        state.swap_next_at = _on_beat(task, now)


OBSERVERS = {"swap_root": _swapped, "replacement_state": _saw_back}
