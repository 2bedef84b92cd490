"""Planned moves out of a published-stressed pool: which spot instances of ours move to a calmer
zone of their type, and why or why not. Pure: scan.py reads the store for it.

Parts: Placed (a spot instance a finished task left running, with its pool's band as kept in the
record at its launch), placed_of (task → Placed or None), judge_calm (one instance and its planned
moves so far → a Verdict), calm_verdicts (the scan: every stressed instance of ours, judged).

Which instances: the replacement an interruption (or rebalance) task left on spot on the original's
type, a fleet instance adopted (RESPONDER_FLEET_SELECTORS, revert/adoption.py: itself, as if
placed), and the spot instance a move (back or planned) bought, while the band its pool had at the
launch is at or above RESPONDER_CALM_BAND (replace/calm_rule.py). A replacement on on-demand or on
another type is the move back's (eligible.qualifies): the two never judge the same instance, and the
move back never goes into a stressed pool while planned moves are on, so neither undoes the other.
An instance the cloud has since interrupted (a task of its own at its claim key) is not ours to move.

When: like a move back, RESPONDER_REVERT_AFTER after it took over and outside
RESPONDER_REVERT_WINDOW, then at most one planned move per logical instance per
RESPONDER_CALM_WINDOW_HOURS (an instance a planned move bought waits that long since the move). A
planned move is keyed `<cloud>:<region>:<instance>:calm-<attempt>` (eligible.move_key), attempts
as a move back's (MAX_ATTEMPTS).
"""

from __future__ import annotations

from dataclasses import dataclass

from responder.model import EventKind
from responder.replace.calm_rule import CALM, enabled
from responder.replace.record import Task
from responder.revert.eligible import SOURCE_KINDS, Verdict, ago, moves_say, waits
from responder.settings import SPOT_BANDS, Settings

# Tasks whose record names the spot instance they left running: an interruption's (its replacement)
# and an adopted fleet instance's (the instance itself, recorded as if placed: revert/adoption.py).
PLACING_KINDS = SOURCE_KINDS + (EventKind.ADOPTED.value,)


@dataclass(frozen=True)
class Placed:
    instance_id: str
    instance_type: str
    zone: str
    band: int | None
    since: float  # running (or, after a move, took over) since
    planned_move_at: float | None = None  # bought by a planned move: when it took over


def placed_of(task: Task) -> Placed | None:
    """The spot instance on the original type a finished task left running, or None."""
    record, launch = task.record, task.record.launch
    if task.status != "done" or len(launch.replacement_ids) != 1 or launch.replacement is None:
        return None
    chosen, since = launch.replacement, record.timings.get("running", task.row.updated_at)
    if task.kind in PLACING_KINDS and record.revert is None and record.source is not None:
        if chosen.market == "spot" and chosen.instance_type == record.source.instance_type:
            return Placed(launch.replacement_ids[0], chosen.instance_type, chosen.zone, launch.band, since)
        return None
    revert = record.revert
    if task.kind != EventKind.REVERT.value or revert is None or revert.outcome != "moved":
        return None
    if revert.bought_market != "spot" or revert.bought_type != revert.original_type:
        return None
    took_over = revert.retired_at or since
    return Placed(revert.bought_instance_id, revert.bought_type, revert.bought_zone, launch.band, took_over,
                  took_over if revert.purpose == CALM else None)


def judge_calm(task: Task, placed: Placed, moves: list[Task], settings: Settings, now: float) -> Verdict:
    """`moves`: the planned moves of this instance so far, oldest first."""
    base = {"task": task, "instance_id": placed.instance_id, "now_type": placed.instance_type, "now_market": "spot",
            "original_type": placed.instance_type, "attempt": len(moves) + 1, "purpose": CALM, "since": placed.since}

    def no(why: str, **more) -> Verdict:
        return Verdict(move=False, why=why, **{**base, **more})

    earlier = moves_say(moves, no)
    if earlier is not None:
        return earlier
    if not enabled(settings):
        return no("RESPONDER_CALM_MOVES=off" if not settings.calm_moves else "RESPONDER_SPOT_BANDS=off")
    window = settings.calm_window_hours * 3600.0
    if placed.planned_move_at is not None and now < placed.planned_move_at + window:
        return no(f"a planned move put it here {ago(now - placed.planned_move_at)} ago: at most one per "
                  f"{settings.calm_window_hours:g} h (RESPONDER_CALM_WINDOW_HOURS)")
    since = max(placed.since, moves[-1].row.updated_at) if moves else placed.since
    not_yet = waits(since, settings, now)
    if not_yet:
        return no(not_yet)
    return Verdict(move=True, why=f"spot {placed.instance_type} in {placed.zone}, a pool in the published "
                                  f"interruption band {SPOT_BANDS[placed.band]} a month at its launch "
                                  f"(RESPONDER_CALM_BAND={settings.calm_band})", **base)
