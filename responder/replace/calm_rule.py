"""Planned moves out of a published-stressed pool: which pools count as stressed, and where such a
move may go. Pure; the move itself is a `revert` task with the purpose CALM (revert/calm.py says
which instances move, revert_steps.py runs it).

Parts: CALM, is_planned_move (a task of one), enabled (RESPONDER_CALM_MOVES with the bands to judge
by), threshold (RESPONDER_CALM_BAND as an index into spot_bands.BANDS), stressed, targets (the
candidates a planned move may take), unstressed (the move back's candidates while planned moves are on).

Why a planned move goes to the same type only: on AWS the Advisor's band is per type and region, so
another zone of a stressed type is no calmer; on Aliyun the band is per zone and type and a calmer
zone of the same type is the move that changes nothing else. Another type would make the instance
a move back's case (spot on another type than the original's), and that move would take it back.
Why a pool with no published band is not a target: a move reboots the instance, and nothing says
that pool is calmer (the ranking may still try it first for a replacement, which must go somewhere).
"""

from __future__ import annotations

from typing import Any

from responder.replace.bands import pool_name
from responder.replace.planner import Candidate
from responder.settings import SPOT_BANDS, Settings

CALM = "calm"  # RevertFacts.purpose of a planned move


def is_planned_move(task: Any) -> bool:
    """A task (or its record's revert section) of a planned move, not a move back to spot."""
    revert = getattr(task.record, "revert", None)
    return revert is not None and revert.purpose == CALM


def enabled(settings: Settings) -> bool:
    return settings.calm_moves and settings.spot_bands


def threshold(settings: Settings) -> int:
    return SPOT_BANDS.index(settings.calm_band)


def stressed(band: int | None, settings: Settings) -> bool:
    """A pool at or above RESPONDER_CALM_BAND; a pool with no published band is not."""
    return band is not None and band >= threshold(settings)


def targets(candidates: list[Candidate], pool_bands: dict[str, int], instance_type: str, from_zone: str,
            settings: Settings) -> list[Candidate]:
    """Spot pools of the same type in another zone whose published band is below the threshold,
    in the order they came (the planner's, the bands' and the churn guard's)."""
    return [c for c in candidates if c.market == "spot" and c.instance_type == instance_type and c.zone != from_zone
            and pool_name(c) in pool_bands and not stressed(pool_bands[pool_name(c)], settings)]


def unstressed(candidates: list[Candidate], pool_bands: dict[str, int], settings: Settings) -> list[Candidate]:
    """A move back to spot has no deadline: while planned moves are on it never goes into a pool a
    planned move would take it out of again (it waits for a calmer pool instead)."""
    if not enabled(settings):
        return candidates
    return [c for c in candidates if not stressed(pool_bands.get(pool_name(c)), settings)]
