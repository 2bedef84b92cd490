"""What replacements cost: the task record's prices, and the money arithmetic over many records.

Parts: PriceRead (one offering's hourly price as read, or why it is unknown), Costs (the record's
`costs` section: the original's price and the price of what the task bought),
is_revert (how a move back to spot is told apart), kind_of (replacement | fallback | revert),
Spend (one task's bought capacity over time), spends (tasks → Spend, each ended by the task that
took its instance away), CostSummary / summarize (money over a window, per currency), and
saved_by_reverts (what moving fallbacks back to spot saved).

The arithmetic reads only records: a price is per instance-hour, and a bought instance costs its
price from the moment it was bought (`Costs.since`) until it ended — a later task that names it as
its own instance (interrupted again, or moved back to spot) ends it at that task's moment — or until
the end of the window. A revert task (another flow's: the on-demand fallback retired, a spot one
bought) records in its own `costs` the fallback's price as `original` and the spot one's as
`bought`, so "saved" = (original − bought) × hours since the revert retired the fallback
(RevertFacts.retired_at; a move given up with both running saves nothing) until the spot one ended.
Unknown prices are counted, never guessed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from responder.model import RECORD_KINDS, EventKind
from responder.replace.calm_rule import is_planned_move

HOUR = 3600.0


@dataclass
class PriceRead:
    instance_type: str = ""
    zone: str = ""
    market: str = ""  # spot | ondemand
    hourly: Optional[float] = None  # per instance-hour; None: unknown (see `unknown`)
    currency: str = ""
    source: str = ""  # DescribePrice | DescribeSpotPriceHistory | GetProducts
    read_at: Optional[float] = None
    unknown: str = ""  # why the price is unknown: the error code, "deferred by the API budget", ...


@dataclass
class Costs:
    """The record's prices: what the original cost, what the task bought, how many, from when."""

    original: PriceRead = field(default_factory=PriceRead)
    bought: PriceRead = field(default_factory=PriceRead)
    count: int = 1  # instances (or reserved units) bought
    since: Optional[float] = None  # when the bought capacity started to bill (the launch)
    instance_ids: list[str] = field(default_factory=list)  # what was bought: a later task naming one ends it

    @property
    def currency(self) -> str:
        return self.bought.currency or self.original.currency

    @property
    def known(self) -> bool:
        return self.bought.hourly is not None and self.original.hourly is not None


def is_revert(task: Any) -> bool:
    """A move of an on-demand fallback back to spot: its row kind, or a record with a revert section."""
    return task.kind == EventKind.REVERT.value or getattr(task.record, "revert", None) is not None


# What the cost report and /metrics split purchases by. A planned move out of a stressed pool
# (revert/calm.py) is spot bought for spot: not a move back, and nothing it "saved" is a fallback's.
PURCHASE_KINDS = ("replacement", "fallback", "revert", "planned_move")


def kind_of(task: Any) -> str:
    """planned_move; revert; fallback (on-demand for a spot original, or a pricier type); else replacement."""
    costs: Costs = task.record.costs
    if is_revert(task):
        return "planned_move" if is_planned_move(task) else "revert"
    o, b = costs.original, costs.bought
    if b.market == "ondemand" and o.market == "spot":
        return "fallback"
    if b.instance_type != o.instance_type and b.hourly is not None and o.hourly is not None and b.hourly > o.hourly:
        return "fallback"
    return "replacement"


@dataclass(frozen=True)
class Spend:
    cloud: str
    kind: str
    currency: str
    hourly: float  # of all `count` instances together
    saved_hourly: float  # a revert: what the fallback cost per hour more than the spot one
    start: float
    end: Optional[float]  # None: still running
    saved_from: Optional[float] = None  # a revert: when the fallback was retired (None: it was not)


def retired_at(task: Any) -> float | None:
    """When a revert retired the instance it moved off: its revert section's retire (None while it
    has not, or when the move gave up with both running); a revert task without the section, at
    its purchase."""
    revert = getattr(task.record, "revert", None)
    if revert is not None:
        return revert.retired_at
    costs = getattr(task.record, "costs", None)
    return costs.since if costs is not None else None


def _ended_by(tasks: list[Any]) -> dict[str, float]:
    """Instance id → when a later task took it away (that task's own instance: interrupted, retired)."""
    ended: dict[str, float] = {}
    for t in tasks:
        r = t.record
        if t.kind in RECORD_KINDS:  # an adopted fleet instance: adopting it ended nothing
            continue
        if is_revert(t):
            at = retired_at(t)  # a move that has not retired its instance leaves it running
        else:
            at = r.race.released_at or r.original_terminated_at or t.row.created_at
        if at is not None and t.instance_id and t.status != "rejected":
            ended[t.instance_id] = min(at, ended.get(t.instance_id, at))
    return ended


def spends(tasks: Iterable[Any]) -> tuple[list[Spend], int]:
    """Every priced task's spend, and how many done tasks have a price unknown."""
    tasks = list(tasks)
    ended, found, unknown = _ended_by(tasks), [], 0
    for t in tasks:
        costs: Optional[Costs] = getattr(t.record, "costs", None)
        if costs is None or t.status != "done":
            continue
        if costs.bought.hourly is None or costs.since is None:
            unknown += 1
            continue
        kind = kind_of(t)
        unknown += costs.original.hourly is None
        saved = (costs.original.hourly - costs.bought.hourly) * costs.count if (
            kind == "revert" and costs.original.hourly is not None) else 0.0
        ends = [ended[i] for i in costs.instance_ids if i in ended and ended[i] >= costs.since]
        found.append(Spend(t.cloud, kind, costs.currency, costs.bought.hourly * costs.count, saved, costs.since,
                           min(ends) if ends else None, retired_at(t) if kind == "revert" else None))
    return found, unknown


def _hours(spend: Spend, start: float, end: float) -> float:
    """Hours of `spend` inside [start, end]."""
    stop = end if spend.end is None else min(end, spend.end)
    return max(0.0, stop - max(start, spend.start)) / HOUR


@dataclass
class CostSummary:
    """Money per currency over a window: count of tasks, spent, per hour now, and what reverts saved."""

    counts: dict[str, int] = field(default_factory=dict)  # kind → tasks priced
    spent: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → currency → money in the window
    hourly: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → currency → per hour, still running
    saved: dict[str, float] = field(default_factory=dict)  # currency → saved by reverts in the window
    unknown: int = 0  # done tasks whose price could not be read

    def add(self, kind: str, currency: str, spent: float, hourly: float) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        by = self.spent.setdefault(kind, {})
        by[currency] = by.get(currency, 0.0) + spent
        now = self.hourly.setdefault(kind, {})
        now[currency] = now.get(currency, 0.0) + hourly


def summarize(tasks: Iterable[Any], start: float, end: float) -> CostSummary:
    """What the tasks' purchases cost inside [start, end]. Fallbacks are replacements too: the
    `replacement` figures count every interruption's purchase, `fallback` the part that fell back."""
    found, unknown = spends(tasks)
    summary = CostSummary(unknown=unknown)
    for s in found:
        hours = _hours(s, start, end)
        running = s.hourly if s.end is None or s.end > end else 0.0
        if s.start > end or (s.end is not None and s.end <= start):
            continue  # bought after the window, or ended before it
        for kind in (("replacement", "fallback") if s.kind == "fallback" else (s.kind,)):
            summary.add(kind, s.currency, s.hourly * hours, running)
        if s.kind == "revert" and s.saved_from is not None:  # saved from the retire on, while the spot one runs
            saving = _hours(dataclasses.replace(s, start=max(s.start, s.saved_from)), start, end)
            summary.saved[s.currency] = summary.saved.get(s.currency, 0.0) + s.saved_hourly * saving
    return summary


def saved_by_reverts(tasks: Iterable[Any], now: float) -> dict[str, float]:
    """Per currency: (the fallback's price − the spot one's) × hours from each revert to `now`, or
    to when the spot instance bought back ended."""
    return summarize(tasks, float("-inf"), now).saved
