"""Which finished replacements a move back to spot is for, and why or why not. Pure.

Parts: MAX_ATTEMPTS, Verdict (one replacement: would it move now, and why), revert_key (the claim
key of a move: one per instance and attempt; move_key, a planned move's too), judge (one interruption
task and the moves made of its replacement so far → a Verdict), moves_say (what the moves so far
rule out, shared with the planned moves), waits (RESPONDER_REVERT_AFTER and _WINDOW: why not yet).

A replacement qualifies when its task ended `done` with one instance that runs on-demand, or on
spot on another type than the original's. It moves once it has run RESPONDER_REVERT_AFTER, when no
move of it is under way, and outside RESPONDER_REVERT_WINDOW. A move that gave up is tried again
RESPONDER_REVERT_AFTER later, MAX_ATTEMPTS times at most: each attempt may make an image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from responder.model import EventKind, claim_key
from responder.replace.record import Task
from responder.replace.revert_steps import when, window_end
from responder.settings import Settings

MAX_ATTEMPTS = 3
SOURCE_KINDS = (EventKind.INTERRUPTION.value, EventKind.REBALANCE.value)
FINAL_GIVE_UPS = ("is gone", "already runs on spot", "no longer runs on spot")  # nothing left to move (a stopped one may run again)


@dataclass(frozen=True)
class Verdict:
    task: Task  # the interruption task whose replacement it is
    instance_id: str  # the replacement
    now_type: str
    now_market: str
    original_type: str
    move: bool
    why: str
    attempt: int = 1
    under_way: Optional[str] = None  # the task id of a move not finished
    purpose: str = ""  # "" a move back to spot; calm_rule.CALM a planned move out of a stressed pool
    since: float | None = None  # a planned move: when the instance took over (revert/calm.py)

    @property
    def key(self) -> str:
        return move_key(self.task.cloud, self.task.region, self.instance_id, self.attempt, self.purpose)

    def to_json(self) -> dict:
        return {"cloud": self.task.cloud, "region": self.task.region, "instance_id": self.instance_id,
                "from": f"{self.now_type} ({self.now_market})",
                "to": f"{self.original_type} (spot{', a calmer zone' if self.purpose else ''})",
                "move": self.move, "why": self.why, "task": self.task.id,
                **({"revert_task": self.under_way} if self.under_way else {})}


def revert_key(cloud: str, region: str, instance_id: str, attempt: int) -> str:
    return move_key(cloud, region, instance_id, attempt)


def move_key(cloud: str, region: str, instance_id: str, attempt: int, purpose: str = "") -> str:
    """A move back: `...:revert-<attempt>`; a planned move: `...:calm-<attempt>`, a key of its own,
    so its tokens differ from any move back's of the same instance."""
    return f"{claim_key(cloud, region, instance_id)}:{purpose or 'revert'}-{attempt}"


def qualifies(task: Task) -> bool:
    """Ended with one replacement that runs on-demand or on another type than the original's."""
    launch, source = task.record.launch, task.record.source
    if task.kind not in SOURCE_KINDS or task.status != "done" or source is None or task.record.revert is not None:
        return False
    chosen = launch.replacement
    if len(launch.replacement_ids) != 1 or chosen is None:
        return False
    return chosen.market != "spot" or chosen.instance_type != source.instance_type


def judge(task: Task, moves: list[Task], settings: Settings, now: float) -> Verdict:
    """`moves`: the revert tasks of this replacement so far, oldest first."""
    chosen, source = task.record.launch.replacement, task.record.source
    base = dict(task=task, instance_id=task.record.launch.replacement_ids[0], now_type=chosen.instance_type,
                now_market=chosen.market, original_type=source.instance_type, attempt=len(moves) + 1)

    def no(why: str, **more) -> Verdict:
        return Verdict(move=False, why=why, **{**base, **more})

    earlier = moves_say(moves, no)
    if earlier is not None:
        return earlier
    if not settings.revert:
        return no("RESPONDER_REVERT=off")
    if settings.market_policy == "ondemand":  # on-demand by choice, not by fallback
        return no("RESPONDER_MARKET_POLICY=ondemand: replacements run on-demand by choice")
    churn = task.record.plan.churn
    if churn is not None and churn.prefer_on_demand:  # the churn guard chose on-demand: wait out its window
        until = task.record.timings.get("received", task.row.created_at) + settings.churn_window_hours * 3600.0
        if now < until:
            return no(f"the churn guard chose on-demand ({churn.lineage_reclaims} reclaims): it stays for "
                      f"{ago(until - now)} more (RESPONDER_CHURN_WINDOW_HOURS)")
    since = task.record.timings.get("running", task.row.updated_at)
    if moves:
        since = max(since, moves[-1].row.updated_at)
    not_yet = waits(since, settings, now)
    if not_yet:
        return no(not_yet)
    return Verdict(move=True, why=f"{chosen.market} {chosen.instance_type} for {ago(now - since)}", **base)


def moves_say(moves: list[Task], no: Callable[..., Verdict]) -> Verdict | None:
    """Why the moves made of an instance so far (oldest first) keep it from another, or None."""
    last = moves[-1] if moves else None
    if last is None:
        return None
    if not last.finished:
        waiting = last.record.revert.why if last.record.revert else ""
        return no(f"a move is under way ({last.id}{': ' + waiting if waiting else ''})", under_way=last.id,
                  attempt=len(moves))
    if last.record.revert is not None and last.record.revert.outcome == "moved":
        return no(f"moved already by {last.id}", attempt=len(moves))
    if last.record.revert is not None and last.record.revert.bought_instance_id:
        # It gave up with its spot one running beside this one: a person chooses, no third instance.
        return no(f"the last move left {last.record.revert.bought_instance_id} running beside it: {last.reason}",
                  attempt=len(moves))
    if any(w in last.reason for w in FINAL_GIVE_UPS):
        return no(f"nothing to move: {last.reason}", attempt=len(moves))
    if len(moves) >= MAX_ATTEMPTS:
        return no(f"given up {len(moves)} times, the last: {last.reason}", attempt=len(moves))
    return None


def waits(since: float, settings: Settings, now: float) -> str:
    """Why a replacement running (or last tried) since `since` does not move yet, or "": it moves
    RESPONDER_REVERT_AFTER later, outside RESPONDER_REVERT_WINDOW. The month benchmark asks the same."""
    due = since + settings.revert_after_seconds
    if now < due:
        return f"runs since {ago(now - since)}; moves {ago(due - now)} from now (RESPONDER_REVERT_AFTER)"
    end = window_end(now, settings.revert_window)
    return f"inside RESPONDER_REVERT_WINDOW until {when(end)}" if end is not None else ""


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
