"""The churn guard: a pool that keeps reclaiming us is tried last for a while, and an instance
reclaimed too often is replaced on-demand first.

Parts: Pool (cloud, region, zone, type, market), Reclaim (one reclaim the store saw), ChurnPolicy
(the settings), PoolStanding, occasions, standings (history → each pool's reclaims in the window
and how long it stays demoted; _regional: the region-wide occasions it leaves out),
lineage_reclaims, prefers_on_demand, PoolNote and ChurnVerdict (what the task record keeps),
verdict (history + the reclaimed instance → verdict), rank (candidates + verdict → the order to try
them in, and why), revert_candidates (the same for a move back to spot: demoted pools left out, an
instance sent on-demand first held where it runs).

The rule, as settings (docs/churn.md):
- a pool that reclaimed us on RESPONDER_CHURN_RECLAIMS occasions (3) within
  RESPONDER_CHURN_WINDOW_HOURS (168 h) is demoted for RESPONDER_CHURN_DEMOTE_HOURS (48 h) after the
  last of them: its candidates go after every other candidate of the market, in their own order
  (it is still tried when nothing else has stock: a demotion is a preference, never a refusal). An
  occasion is one reclaim, or several of the pool's within EPISODE_S of the first: a cloud takes a
  pool's capacity back at once, and ten instances reclaimed in one wave are one sign about the
  pool, not ten (counted so, every wave would demote every pool it touched); an occasion shared by
  REGIONAL_POOLS pools of the region at once is a regional capacity event and does not count
  against any of them;
- a logical instance (the original and the replacements that followed it) reclaimed
  RESPONDER_CHURN_ON_DEMAND_AFTER times (4) within the window is replaced on-demand first, when the
  market policy allows on-demand; 0 turns that off;
- a move back to spot (no deadline) skips the demoted pools and waits rather than go into one, and
  does not move an instance whose chain is sent on-demand first.

Pure: the history comes in as data — churn_store.py reads it from the store, the month benchmark
(bench/spot_month.py) makes it up — so the product and the benchmark decide with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from responder.replace.planner import Candidate

HOUR = 3600.0
HELD, SKIPPED = "held where it runs", "not moved into"  # how revert_candidates' reasons begin
EPISODE_S = 600.0  # reclaims of one pool this close to the occasion's first are that occasion
REGIONAL_POOLS = 3  # pools of a region reclaiming us within EPISODE_S of each other: a regional event


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
    reclaims: int = 3  # occasions
    window_s: float = 168 * HOUR
    demote_s: float = 48 * HOUR
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
    reclaims: int  # instances reclaimed within the window ending now
    occasions: int  # ...on this many occasions of the pool's own (what the guard counts)
    regional: int  # ...and this many that were region-wide (not counted)
    demoted_until: float  # 0.0: not demoted (or no longer)


def occasions(times: list[float]) -> list[float]:
    """The start of each occasion in sorted reclaim times: a reclaim within EPISODE_S of the
    current occasion's first belongs to it."""
    starts: list[float] = []
    for at in times:
        if not starts or at - starts[-1] > EPISODE_S:
            starts.append(at)
    return starts


def _regional(starts: dict[Pool, list[float]]) -> set[tuple[Pool, float]]:
    """The occasions that were part of a region-wide one: REGIONAL_POOLS or more pools of the same
    region reclaimed us within EPISODE_S of each other. A regional capacity event says nothing
    about one pool (every pool we ran in lost some), and counting it would demote the pools that
    hold most of the fleet and send replacements to the pools that churn."""
    found = set()
    for pool, times in starts.items():
        for at in times:
            near = {other for other, others in starts.items()
                    if (other.cloud, other.region) == (pool.cloud, pool.region)
                    and any(abs(o - at) <= EPISODE_S for o in others)}
            if len(near) >= REGIONAL_POOLS:
                found.add((pool, at))
    return found


def standings(history: Iterable[Reclaim], policy: ChurnPolicy, now: float) -> dict[Pool, PoolStanding]:
    """Each pool's reclaims and occasions within the window and, when `reclaims` of its own
    occasions (not region-wide ones) fell within one window, until when it is demoted (the last of
    those occasions + demote_s)."""
    times: dict[Pool, list[float]] = {}
    for reclaim in history:
        if reclaim.at <= now:
            times.setdefault(reclaim.pool, []).append(reclaim.at)
    starts = {pool: occasions(sorted(ats)) for pool, ats in times.items()}
    regional = _regional(starts)
    found = {}
    since = now - policy.window_s
    for pool, ats in times.items():
        own, until = [at for at in starts[pool] if (pool, at) not in regional], 0.0
        if policy.enabled:
            for i in range(policy.reclaims - 1, len(own)):
                if own[i] - own[i - policy.reclaims + 1] <= policy.window_s:
                    until = max(until, own[i] + policy.demote_s)
        found[pool] = PoolStanding(sum(at >= since for at in ats), sum(at >= since for at in own),
                                   sum(at >= since for at in starts[pool]) - sum(at >= since for at in own),
                                   until if until > now else 0.0)
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
                        f"{pool.instance_type} in {pool.zone} ({pool.market}) reclaimed us on {s.occasions} "
                        f"occasion(s) ({s.reclaims} instance(s)) in the last {window_h:g} h; demoted until "
                        f"{_stamp(s.demoted_until)} ({policy.reclaims} in {window_h:g} h demote a pool for "
                        f"{demote_h:g} h: RESPONDER_CHURN_RECLAIMS)")
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


def revert_candidates(candidates: list[Candidate], churn: ChurnVerdict | None, cloud: str,
                      region: str) -> tuple[list[Candidate], list[str]]:
    """The candidates a move back to spot may use, and why the others are not. Unlike a
    replacement, a move has no deadline: it never goes into a demoted pool (it waits for another,
    or for the demotion to end), and an instance whose chain the guard sends on-demand first
    stays where it runs until its reclaims leave the window."""
    if churn is None:
        return list(candidates), []
    if churn.prefer_on_demand:
        held = (f"{HELD}: {churn.lineage} (and the replacements that followed it) reclaimed "
                f"{churn.lineage_reclaims} time(s) in the window (RESPONDER_CHURN_ON_DEMAND_AFTER)")
        return [], [held]
    notes = {note.pool: note for note in churn.demoted}
    kept, reasons = [], []
    for c in candidates:
        note = notes.get(str(Pool(cloud, region, c.zone, c.instance_type, c.market)))
        if note is None:
            kept.append(c)
        else:
            reasons.append(f"{SKIPPED}: {note.reason}")
    return kept, reasons
