"""A move back to spot as the replacement flow's steps run it: the interruption's machinery
without the deadline, for a task of kind `revert` (started by responder/revert/).

Parts: is_revert, window_end (the daily RESPONDER_REVERT_WINDOW: when the one we are in ends),
saw_instance (the instance to move, as the cloud shows it), before_launch (the setting and the
window, until the spot one is bought), before_writes (received: those, then spot stock first),
usable (the ranked candidates worth moving to), guarded (those the churn guard allows; guard_reasons,
waiting_why: why the move waits), no_stock_at_launch (look again later),
before_retire (the spot one runs: keep the disks, image, the fresh image Available, the root swapped),
retired (the release is our own), finished (the finish reason and the record's revert section).

How it differs from an interruption, and why:
- Nothing is written before spot stock is seen: the task probes first and waits (STOCK_RECHECK)
  while there is none, and a launch refused for stock waits the same way, so a move that never
  finds stock costs reads (and on EC2 refused launches) only.
- Spot only, the original's type ranked first (TaskRecord.wanted, through the planner).
- It launches first, from the original's image (capacity first); once the spot one runs it images
  the instance it moves off and swaps that fresh root disk in (swap.py): the root state is as late
  as the image. The real data disks are kept and reattached (restored from the image in another
  zone) after the retire, so no data-disk write made before the retire is lost.
- The release is the task's own retire: only once the spot one runs, the fresh image is Available
  and the swap ended. A failed image or a refused swap gives the move up with both instances
  running (named in the reason): retiring would lose the state.
- It has no release time of its own: its calls go after every interruption's (priority.py).
A planned move out of a published-stressed pool (RevertFacts.purpose CALM, revert/calm.py) is the
same task and the same steps: it moves a spot instance to a calmer zone of its own type
(calm_rule.targets), RESPONDER_CALM_MOVES holds it as RESPONDER_REVERT holds a move back, and a
planned move that finds no calmer pool in stock for RESPONDER_CALM_WINDOW_HOURS gives up (it wrote nothing).
Pure, like steps.py: the executor makes the calls.
"""

from __future__ import annotations

import time
from typing import Optional

from responder.clouds.base import InstanceInfo
from responder.model import EventKind
from responder.replace import calm_rule, churn, race_steps, swap
from responder.replace.bands import pool_key
from responder.replace.calls import Call, Decision
from responder.replace.planner import Candidate
from responder.replace.record import Task
from responder.settings import SPOT_BANDS, Settings

STOCK_RECHECK = 300.0  # no spot stock yet: look again then (one probe serves every move of a region)
DAY = 86400.0


def is_revert(task: Task) -> bool:
    return task.kind == EventKind.REVERT.value and task.record.revert is not None


def window_end(now: float, window: tuple[int, ...]) -> Optional[float]:
    """When the daily UTC window `now` lies in ends (epoch seconds); None outside it or with no
    window. (start, end) are minutes of the day; an end before the start spans midnight."""
    if not window:
        return None
    start, end = window[0] * 60.0, window[1] * 60.0
    day, at = now - now % DAY, now % DAY
    if start < end:
        return day + end if start <= at < end else None
    if at >= start:
        return day + DAY + end
    return day + end if at < end else None


def when(at: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(at))


def give_up(task: Task, why: str) -> tuple[str, str]:
    revert = task.record.revert
    revert.outcome, revert.why = "given-up", why
    what = "planned move to a calmer pool" if calm_rule.is_planned_move(task) else "move back to spot"
    return "done", f"{what} given up: {why}; {task.instance_id} stays as it is"


def saw_instance(task: Task, info: Optional[InstanceInfo], now: float) -> Optional[tuple[str, str]]:
    """The replacement to move must still run, and not already be what the move would make."""
    revert = task.record.revert
    if info is None:
        return give_up(task, f"instance {task.instance_id} is gone")
    if str(info.status).lower() != "running":
        return give_up(task, f"instance {task.instance_id} is {info.status}, not running")
    if calm_rule.is_planned_move(task) and not (info.spot and info.instance_type == revert.original_type):
        return give_up(task, f"instance {task.instance_id} no longer runs on spot as {revert.original_type}")
    if not calm_rule.is_planned_move(task) and info.spot and info.instance_type == revert.original_type:
        return give_up(task, f"instance {task.instance_id} already runs on spot as {info.instance_type}")
    task.record.source = info
    task.record.stamp("verified", now)
    return None


def before_launch(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """Until the spot one is bought: RESPONDER_REVERT=off gives the move up, the window holds it."""
    if calm_rule.is_planned_move(task) and not calm_rule.enabled(settings):
        return Decision(finish=give_up(task, "RESPONDER_CALM_MOVES=off or RESPONDER_SPOT_BANDS=off"))
    if not calm_rule.is_planned_move(task) and not settings.revert:
        return Decision(finish=give_up(task, "RESPONDER_REVERT=off"))
    end = window_end(now, settings.revert_window)
    if end is not None:
        task.record.revert.why = f"inside RESPONDER_REVERT_WINDOW until {when(end)}"
        return Decision(wait_until=end)
    return None


def before_writes(task: Task, settings: Settings, now: float) -> Optional[Decision]:
    """Received: off, inside the window, or no spot stock seen → no write at all."""
    record, revert = task.record, task.record.revert
    holding = before_launch(task, settings, now)
    if holding is not None:
        return holding
    if record.plan.candidates is None:
        if now < revert.next_check_at:
            return Decision(wait_until=revert.next_check_at)
        return Decision([Call("probe", {"market": "spot"})])
    if not record.plan.candidates:
        waited = now - record.timings.get("received", now)
        if calm_rule.is_planned_move(task) and waited >= settings.calm_window_hours * 3600.0:
            return Decision(finish=give_up(task, f"no calmer pool had stock in {waited / 3600.0:.0f} h "
                                                 "(RESPONDER_CALM_WINDOW_HOURS)"))
        revert.stock_checks += 1
        revert.why = waiting_why(task)
        record.plan.candidates, record.plan.probed_markets = None, []
        revert.next_check_at = now + STOCK_RECHECK
        return Decision(wait_until=revert.next_check_at)
    calmed = calm_rule.is_planned_move(task) and _now_calm(task, settings)
    if calmed:  # the launch-time band said stressed; the band read at this look says otherwise
        return Decision(finish=give_up(task, f"its pool is no longer published as stressed ({calmed})"))
    revert.why = ""
    return None


def _now_calm(task: Task, settings: Settings) -> str:
    """The instance's own pool, as the bands read at this look for stock publish it, when that is
    below RESPONDER_CALM_BAND ("" when it is still stressed or not published now)."""
    source = task.record.source
    band = task.record.plan.bands.get(pool_key(source.instance_type, source.zone)) if source is not None else None
    if band is None or calm_rule.stressed(band, settings):
        return ""
    return f"{source.instance_type} {source.zone}: {SPOT_BANDS[band]} a month"


def usable(task: Task, planned: list[Candidate], settings: Settings) -> list[Candidate]:
    """A move is worth making to spot only, and never to what the instance already runs; from a
    spot instance of another type, only to the original type; while planned moves are on, never
    into a pool one would leave again. A planned move: a calmer zone of the same type."""
    revert, pool_bands = task.record.revert, task.record.plan.bands
    if calm_rule.is_planned_move(task):
        return calm_rule.targets(planned, pool_bands, revert.original_type, task.record.source.zone, settings)
    planned = calm_rule.unstressed(planned, pool_bands, settings)
    keep = [c for c in planned if c.market == "spot"
            and not (c.instance_type == revert.retired_type and revert.retired_market == "spot")]
    if revert.retired_market == "spot":
        keep = [c for c in keep if c.instance_type == revert.original_type]
    return keep


def guarded(task: Task, planned: list[Candidate], facts, settings: Settings,
            now: float) -> tuple[list[Candidate], list[str]]:
    """The usable candidates the churn guard allows, ranked, and its reasons. Judged afresh at each
    look for stock (a demotion may end while the move waits), reading the history only: a move is
    no reclaim. A move has no deadline, so it never takes a demoted pool as a last resort the way
    a replacement does, and it holds an instance whose chain the guard sends on-demand first."""
    verdict = None
    if facts is not None and facts.churn is not None:
        verdict = facts.churn.judge(task.key, task.cloud, task.record.source, False, now, True, record=False)
        task.record.plan.churn = verdict
    ranked, reasons = churn.rank(planned, verdict, task.cloud, task.region)
    kept, held = churn.revert_candidates(usable(task, ranked, settings), verdict, task.cloud, task.region)
    return kept, reasons + held


def guard_reasons(task: Task) -> list[str]:
    """What the churn guard kept the move from, at the last look for stock."""
    return [r for r in task.record.plan.ranking if r.startswith((churn.HELD, churn.SKIPPED))]


def waiting_why(task: Task) -> str:
    held = guard_reasons(task)
    if held and held[0].startswith(churn.HELD):
        return f"the churn guard holds it: {held[0]}"
    why = f"no spot stock for {task.record.revert.original_type} or an equivalent yet"
    if calm_rule.is_planned_move(task):
        why = f"no spot stock yet in a calmer zone of {task.record.revert.original_type} (RESPONDER_CALM_BAND)"
    return f"{why} outside the demoted pools ({'; '.join(held)})" if held else why


def no_stock_at_launch(task: Task, now: float) -> None:
    """No stock at the launch (gone since the probe; on EC2, where the probe reads offerings rather
    than stock, the launch is the only stock check): nothing was bought or imaged, look again later."""
    record, revert = task.record, task.record.revert
    revert.stock_checks += 1
    revert.why = "no spot stock at the launch: " + ("; ".join(record.launch.refusals[-3:]) or "no candidate had stock")
    record.plan.probed_markets, record.plan.candidates = [], None
    task.next_at = now + STOCK_RECHECK


def before_retire(task: Task, settings: Settings, now: float, image_call: Call) -> Optional[Decision]:
    """Once the spot one runs, before the original goes: keep its disks from going with it, image it
    (now, so the state it carries is as late as it can be), wait for that image, swap its root disk
    onto the spot one. Then the retire (steps.py)."""
    record, state, revert = task.record, task.record.race, task.record.revert
    launch = record.launch
    if revert.started_at is None:
        revert.started_at = record.timings.get("launch_issued", now)
        record.stamp("revert_started", revert.started_at)
    revert.bought_instance_id = launch.replacement_ids[0]
    bought = launch.launched_offering
    if bought is not None:
        revert.bought_type, revert.bought_zone, revert.bought_market = (bought.instance_type, bought.zone,
                                                                         bought.market.value)
    elif launch.replacement is not None:
        chosen = launch.replacement
        revert.bought_type, revert.bought_zone, revert.bought_market = chosen.instance_type, chosen.zone, chosen.market
    revert.bought_running_at = record.timings.get("running")
    if not state.disks_read:  # whatever RESPONDER_PROTECT_ON_RECEIPT says: the retire would take them
        return Decision([Call("describe_disks", {"instance_id": task.instance_id})])
    keep = [d.disk_id for d in state.disks if d.was_deleted_with_instance]
    if keep and not state.protected:
        return Decision([Call("keep_disks", {"disk_ids": keep})])
    protect = race_steps.on_receipt(task, settings, now)  # the public IP (RESPONDER_KEEP_PUBLIC_IP)
    if protect is not None:
        return protect
    if not record.image.image_id:
        return Decision([image_call])
    if state.image_failed:
        return Decision(finish=_both_running(task, f"the fresh image failed ({state.image_failed})"))
    if not record.image.available:
        if now < record.image.next_poll_at:
            return Decision(wait_until=record.image.next_poll_at)
        return Decision([Call("check_image", {"image_id": record.image.image_id})])
    swapping = swap.next_step(task, settings, now)
    if swapping is not None:
        return swapping
    if state.swap in ("refused", "kept") and state.launch_image_id:
        return Decision(finish=_both_running(task, f"the root disk was not swapped ({state.swap})"))
    return None


def _both_running(task: Task, why: str) -> tuple[str, str]:
    bought, state = task.record.revert.bought_instance_id, task.record.race
    task.record.degraded.append(f"move back to spot stopped before the retire: {why}; the spot instance {bought} "
                                f"runs beside {task.instance_id}, which keeps the state: terminate one of them")
    kept = [d.disk_id for d in state.disks if d.was_deleted_with_instance]
    if kept:  # `responder orphans` lists them once detached (the cloud's answer, not this record's)
        task.record.degraded.append(f"disks {', '.join(kept)} of {task.instance_id} no longer go with it "
                                    "when it is released")
    state.eip_allocation = ""  # the EIP stays bound to the instance that keeps the state: nothing of ours left
    return give_up(task, f"{why}; {bought} runs beside it")


def retired(task: Task, now: float) -> None:
    """The original's release is the retire itself: the kept disks and addresses follow from now."""
    task.record.race.release_expected_at = now
    task.record.revert.retired_at = now


def finished(task: Task, summary: str) -> tuple[str, str]:
    revert = task.record.revert
    revert.outcome, revert.why = "moved", ""
    where = f"{revert.bought_type} in {revert.bought_zone}, {revert.bought_market}"
    done = "moved to a calmer pool" if calm_rule.is_planned_move(task) else "moved back to spot"
    return "done", (f"{done}: {revert.bought_instance_id} ({where}) replaces {task.instance_id} "
                    f"({revert.retired_type}, {revert.retired_market}), retired" + (f"; {summary}" if summary else ""))
