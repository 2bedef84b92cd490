"""The churn guard: a pool that keeps reclaiming us is tried last for a while, and an instance
reclaimed too often is replaced on-demand first.

Parts: Pool (cloud, region, zone, type, market), Reclaim (one reclaim the store saw), ChurnPolicy
(the settings), PoolStanding, standings (history → each pool's reclaims in the window and how long
it stays demoted), lineage_reclaims, PoolNote and ChurnVerdict (what the task record keeps), verdict
(history + the reclaimed instance → verdict), rank (candidates + verdict → the order to try them
in, and why).

The rule, as settings (docs/churn.md):
- a pool with RESPONDER_CHURN_RECLAIMS reclaims (3) within RESPONDER_CHURN_WINDOW_HOURS (24 h) is
  demoted for RESPONDER_CHURN_DEMOTE_HOURS (12 h) after the last of them: its candidates go after
  every other candidate of the market, in their own order (it is still tried when nothing else has
  stock: a demotion is a preference, never a refusal);
- a logical instance (the original and the replacements that followed it) reclaimed
  RESPONDER_CHURN_ON_DEMAND_AFTER times (4) within the window is replaced on-demand first, when the
  market policy allows on-demand; 0 turns that off.

Pure: the history comes in as data — churn_store.py reads it from the store, the month benchmark
(bench/spot_month.py) makes it up — so the product and the benchmark decide with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from responder.replace.planner import Candidate

HOUR = 3600.0


@dataclass(frozen=True, order=True)
class Pool:
    cloud: str
    region: str
    zone: str
    instance_type: str
    market: str  # spot | ondemand

    def __str__(self) -> str:
        return f"{self.cloud}/{self.region}/{self.zone}/{self.instance_type}/{self.market}"


@dataclass(frozen=True)
class Reclaim:
    claim_key: str  # the task that saw it: one reclaim per task
    pool: Pool
    instance_id: str
    lineage: str  # the first instance of the replacement chain this instance belongs to
    at: float


@dataclass(frozen=True)
class ChurnPolicy:
    reclaims: int = 3
    window_s: float = 24 * HOUR
    demote_s: float = 12 * HOUR
    on_demand_after: int = 4  # 0: never prefer on-demand

    @classmethod
    def from_settings(cls, settings) -> "ChurnPolicy":
        return cls(reclaims=settings.churn_reclaims, window_s=settings.churn_window_hours * HOUR,
                   demote_s=settings.churn_demote_hours * HOUR, on_demand_after=settings.churn_on_demand_after)

    @property
    def enabled(self) -> bool:
        return self.reclaims > 0

    @property
    def horizon_s(self) -> float:
        """How far back a decision looks: a demotion made at the end of a window lasts demote_s."""
        return self.window_s + self.demote_s


@dataclass(frozen=True)
class PoolStanding:
    reclaims: int  # within the window ending now
    demoted_until: float  # 0.0: not demoted (or no longer)


def standings(history: Iterable[Reclaim], policy: ChurnPolicy, now: float) -> dict[Pool, PoolStanding]:
    """Each pool's reclaims within the window and, when some `reclaims` of them fell within one
    window, until when it is demoted (the last of those reclaims + demote_s)."""
    times: dict[Pool, list[float]] = {}
    for reclaim in history:
        if reclaim.at <= now:
            times.setdefault(reclaim.pool, []).append(reclaim.at)
    found = {}
    for pool, ats in times.items():
        ats.sort()
        until = 0.0
        if policy.enabled:
            for i in range(policy.reclaims - 1, len(ats)):
                if ats[i] - ats[i - policy.reclaims + 1] <= policy.window_s:
                    until = max(until, ats[i] + policy.demote_s)
        found[pool] = PoolStanding(sum(at >= now - policy.window_s for at in ats), until if until > now else 0.0)
    return found


def lineage_reclaims(history: Iterable[Reclaim], lineage: str, policy: ChurnPolicy, now: float) -> int:
    return sum(r.lineage == lineage and now - policy.window_s <= r.at <= now for r in history)


def prefers_on_demand(history: Iterable[Reclaim], lineage: str, policy: ChurnPolicy, now: float) -> bool:
    """The logical instance was reclaimed too often lately: on-demand first (a revert waits too)."""
    return policy.on_demand_after > 0 and lineage_reclaims(history, lineage, policy, now) >= policy.on_demand_after


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class PoolNote:
    pool: str  # str(Pool)
    reclaims: int
    demoted_until: float
    reason: str


@dataclass
class ChurnVerdict:
    """What the guard decided for one task, kept in its record (Plan.churn)."""

    lineage: str = ""
    lineage_reclaims: int = 0
    prefer_on_demand: bool = False
    demoted: list[PoolNote] = field(default_factory=list)  # the region's demoted pools
    reasons: list[str] = field(default_factory=list)


def verdict(history: list[Reclaim], lineage: str, policy: ChurnPolicy, now: float,
            on_demand_allowed: bool = True) -> ChurnVerdict:
    """The guard's view for a task whose instance belongs to `lineage`; `history` is the region's."""
    window_h, demote_h = policy.window_s / HOUR, policy.demote_s / HOUR
    demoted = [PoolNote(str(pool), s.reclaims, s.demoted_until,
                        f"{pool.instance_type} in {pool.zone} ({pool.market}) reclaimed us {s.reclaims} time(s) in the "
                        f"last {window_h:g} h; demoted until {_stamp(s.demoted_until)} ({policy.reclaims} in "
                        f"{window_h:g} h demote a pool for {demote_h:g} h: RESPONDER_CHURN_RECLAIMS)")
               for pool, s in sorted(standings(history, policy, now).items()) if s.demoted_until]
    count = lineage_reclaims(history, lineage, policy, now)
    prefer = prefers_on_demand(history, lineage, policy, now)
    reasons = [note.reason for note in demoted]
    if prefer and on_demand_allowed:
        reasons.append(f"{lineage} (and the replacements that followed it) reclaimed {count} time(s) in "
                       f"{window_h:g} h: on-demand first (RESPONDER_CHURN_ON_DEMAND_AFTER={policy.on_demand_after})")
    elif prefer:
        reasons.append(f"{lineage} reclaimed {count} time(s) in {window_h:g} h, but the market policy has no "
                       "on-demand: spot, away from the demoted pools")
    return ChurnVerdict(lineage, count, prefer and on_demand_allowed, demoted, reasons)


def rank(candidates: list[Candidate], churn: ChurnVerdict | None, cloud: str,
         region: str) -> tuple[list[Candidate], list[str]]:
    """The candidates with the demoted pools' last (each group keeps its order), and one reason per
    candidate moved."""
    if churn is None or not churn.demoted:
        return list(candidates), []
    notes = {note.pool: note for note in churn.demoted}
    kept, moved, reasons = [], [], []
    for c in candidates:
        note = notes.get(str(Pool(cloud, region, c.zone, c.instance_type, c.market)))
        if note is None:
            kept.append(c)
        else:
            moved.append(c)
            reasons.append(f"ranked last: {note.reason}")
    return kept + moved, reasons
