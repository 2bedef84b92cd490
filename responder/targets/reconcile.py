"""One tick over every due target: lease, read the cloud, buy the gap, release or report the rest.

Parts: TickReport, Reconciler (tick: the whole pass; _one: a single target), run_id_for, NEGATIVE_TTL.

Per target, within the trigger's time budget:
1. the lease is won (responder.targets.table) and only then is the cloud read (inventory);
2. a run this target left with a call in flight (killed mid-acquire) is resumed first: the engine
   re-issues that call with its ClientToken, so the cloud hands back what it already made;
3. the gap (count - what the cloud holds) is bought through the shared capacity engine, one run
   per gap with its own ledger run id, growing this target's newest reservation first;
4. capacity above the count is reported, and released when the target allows it;
5. statistics (held, attempts in total and per zone, outcomes by kind, last error, first / last
   attempt, acquired at) and events.
OCI targets are also paced (responder.targets.hunt: a minimum interval between two calls for a
target, throttling backoff on the row) and made concrete once per tick (responder.targets.oci_resolve:
availability domains, the image per shape, the subnet); an account limit ends the target's run.
A one-shot target (LaunchSpec.once: the relaunch of a preempted OCI instance) is `done` once it
holds its count, and is never read or worked again (parked ONCE_PARKED ahead, whatever makes it due).
The engine never sleeps here: halving is immediate, an offering that refused even one unit stays
refused for the rest of the tick, and a throttled call ends the run with a backoff on the row.
"""

from __future__ import annotations

import datetime as _dt
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from responder.capacity.engine import CapacityEngine, EngineConfig, EngineEvent, Holding, Waits
from responder.capacity.reservations import holding_of
from responder.errors import CloudError, Throttled
from responder.replace.caps import MoneyCaps
from responder.retry import Backoff
from responder.settings import Settings
from responder.targets import events
from responder.targets.acquirers import CappedAcquirer, TargetInstances, TargetReservations, offerings_of
from responder.targets.hunt import CountingAcquirer, count_outcome, merge_counts, paced, spec_line, too_early
from responder.targets.inventory import Held, Inventory
from responder.targets.model import TargetInvalid
from responder.targets.oci_resolve import Resolver
from responder.targets.release import release_excess
from responder.targets.table import TargetRow, TargetStore

log = logging.getLogger("responder.targets")
NEGATIVE_TTL = 3600.0  # longer than any tick: a refused offering is not asked again in this run
LEASE_MARGIN = 30.0
# EC2's Describe* calls are eventually consistent ("Eventual consistency in the Amazon EC2 API",
# EC2 API Reference): a reservation made a moment ago may be missing from the next listing. For
# this long, what the previous run bought and the listing does not show yet still counts as held
# (the harsher reading for money: a short wait for the gap rather than a second purchase).
CONSISTENCY_GRACE = 300.0
THROTTLE_BACKOFF = Backoff(base=5.0, cap=300.0)
ONCE_PARKED = 365 * 86400.0  # a done one-shot target is not due again for this long (and is skipped if it is)


@dataclass
class TickReport:
    due: int = 0
    reconciled: int = 0
    acquired: int = 0
    released: int = 0
    short: int = 0
    calls: dict = field(default_factory=dict)  # "cloud/region/kind" → listings
    elapsed: float = 0.0

    def to_json(self) -> dict:
        return {"due": self.due, "reconciled": self.reconciled, "acquired": self.acquired,
                "released": self.released, "short": self.short, "listings": self.calls,
                "elapsed": round(self.elapsed, 3)}


def run_id_for(name: str, generation: int) -> str:
    return f"target-{name}-g{generation}"


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


class Reconciler:
    def __init__(self, tstore: TargetStore, store, clouds: dict, settings: Settings, ledger,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random):
        self.tstore, self.store, self.clouds, self.settings, self.ledger = tstore, store, clouds, settings, ledger
        self.clock, self.monotonic, self.rand = clock, monotonic, rand

    def tick(self, budget: float | None = None) -> TickReport:
        budget = self.settings.targets_tick_budget_seconds if budget is None else budget
        started = self.monotonic()
        report = TickReport()
        owner, rows = self.tstore.lease_due(budget + LEASE_MARGIN)
        report.due = len(rows)
        self._resolvers: dict[str, Resolver] = {}  # per tick: ADs, subnets and images are read once
        try:
            rows = self._paced_out(owner, rows)
            if rows:
                inventory = Inventory(self.clouds)
                held = inventory.read(rows)
                for row in rows:
                    left = budget - (self.monotonic() - started)
                    if left <= 0:
                        break  # the lease is released below; the row stays due for the next tick
                    self._one(owner, row, held[row.target.name], left, report)
                report.calls = {"/".join(k): v for k, v in inventory.calls.items()}
        finally:
            self.tstore.release(owner)
        report.elapsed = self.monotonic() - started
        return report

    def _paced_out(self, owner: str, rows: list[TargetRow]) -> list[TargetRow]:
        """OCI rows whose minimum interval is not over, and done one-shot targets, go back untouched
        (no call is made)."""
        now, kept = self.clock(), []
        for row in rows:
            if row.target.launch.once and row.stats.get("state") == "done":  # its one launch is made
                self.tstore.finish(owner, row.target.name, row.stats, now + ONCE_PARKED)
                continue
            later = too_early(row.stats, now, self.settings.hunt_min_interval_seconds) \
                if row.target.cloud == "oci" else None
            if later is None:
                kept.append(row)
            else:
                self.tstore.finish(owner, row.target.name, row.stats, later)
        return kept

    def _unresolved(self, owner: str, t, stats: dict, error: Exception, now: float) -> None:
        """The cloud could not be read, or the target names what it does not have: act on
        nothing, say why, and come back after the interval (throttled: after the backoff)."""
        code = error.code if isinstance(error, CloudError) else f"{error.field}: {error}"
        stats.update(last_error=code[:300], state="unknown")
        next_at = now + self.settings.targets_interval_seconds
        if t.cloud == "oci":
            throttled = isinstance(error, Throttled)
            if throttled:
                count_outcome(stats, "throttled")
            next_at = paced(stats, now, next_at, self.settings.hunt_min_interval_seconds, throttled, self.rand)
        self.tstore.finish(owner, t.name, stats, next_at)

    # -- one target ------------------------------------------------------------------------
    def _one(self, owner: str, row: TargetRow, held: Held, budget: float, report: TickReport) -> None:
        t, stats, now = row.target, dict(row.stats), self.clock()
        interval = self.settings.targets_interval_seconds
        if held.error is not None:  # the cloud could not be read: act on nothing, say why
            return self._unresolved(owner, t, stats, held.error, now)
        cloud = self.clouds[t.cloud]
        totals = held.totals(t.kind)
        count = held.count(t.kind) + self._not_listed_yet(held, t.kind, stats.get("recent"), totals, now)
        noted: dict = {"attempts": 0, "error": "", "transient": False, "bought": [], "tokens": {}, "counters": []}
        run_id = stats.get("run_id")
        pending = bool(run_id) and any(e.status == "pending" for e in self.ledger.entries(run_id))
        if t.cloud == "oci" and (pending or count < t.count):
            try:
                resolved = self._resolvers.setdefault(t.region, Resolver(cloud)).resolve(t)
            except (TargetInvalid, CloudError) as exc:
                return self._unresolved(owner, t, stats, exc, now)
            t, noted["images"] = resolved.target, resolved.images
        if pending:
            count = self._resume(cloud, t, run_id, totals, count, budget, noted)
        gap = t.count - count
        ended = bool(t.end_date) and _dt.datetime.fromisoformat(t.end_date.replace("Z", "+00:00")).timestamp() <= now
        if gap > 0 and not noted["transient"] and not ended:
            if t.kind == "instances" and not stats.get("first_attempt"):
                events.emit("hunt_started", target=t.name, cloud=t.cloud, region=t.region,
                            zones=",".join(t.zones), instance_types=",".join(t.instance_types), count=t.count,
                            spec=spec_line(t))
            stats["gen"] = stats.get("gen", 0) + 1
            stats["run_id"] = run_id_for(t.name, stats["gen"])
            growable = [holding_of(r) for r in held.live_reservations() if r.state == "active"] \
                if t.kind == "reservation" else []
            got = self._run(cloud, t, stats["run_id"], gap, tuple(growable), totals, budget, noted)
            count += got
            report.acquired += got
        limit = next((c.limit for c in noted["counters"] if c.limit is not None), None)
        if limit is not None:  # the account is full, not the cloud: waiting for stock will not help
            noted["error"] = f"AccountLimit {limit.code}: the account's limit is full (not OCI's capacity)"
        self._record(t, stats, count, noted, now)
        for counter in noted["counters"]:
            merge_counts(stats, counter)
        if limit is not None and count < t.count:
            stats["state"] = "account_limit"
            events.emit("account_limit", target=t.name, cloud=t.cloud, region=t.region, held=count, count=t.count,
                        error=limit.code)
        if ended:  # past its end date a target buys nothing: what it held has expired with it
            stats["state"] = "ended"
        excess = count - t.count
        if excess > 0 and t.release_excess:
            released, done = release_excess(cloud, t, held, excess)
            if released:
                events.emit("released", target=t.name, units=released, actions="; ".join(done))
                stats.pop("recent", None)  # we shrank what we bought: the old totals are not "late"
            count -= released
            report.released += released
            stats["held"], stats["excess"] = count, max(0, count - t.count)
        report.reconciled += 1
        report.short += count < t.count
        next_at = now + interval
        if t.cloud == "oci":  # a hunt comes back at its minimum interval; a met target at the usual one
            next_at = paced(stats, now, now if count < t.count else next_at,
                            self.settings.hunt_min_interval_seconds, noted["transient"], self.rand)
        elif noted["transient"]:
            stats["throttles"] = stats.get("throttles", 0) + 1
            next_at = now + THROTTLE_BACKOFF.delay(stats["throttles"], self.rand)
        else:
            stats["throttles"] = 0
        if t.launch.once and count >= t.count:  # the replacement is there: at most one per original
            stats.update(state="done", done_at=_iso(now))
            next_at = now + ONCE_PARKED
        bought = {b["id"]: b for b in noted["bought"]}
        stats["holdings"] = [bought.pop(h["id"], h) for h in held.summary(t.kind)] + list(bought.values())
        if noted["bought"]:
            stats["recent"] = {"at": now, "totals": {b["id"]: b.get("total", 1) for b in noted["bought"]}}
            if t.kind == "instances":  # instance holdings are counted per launch token
                stats["recent"]["totals"] = dict(noted["tokens"])
        elif stats.get("recent") and now - stats["recent"].get("at", 0) >= CONSISTENCY_GRACE:
            stats.pop("recent")
        self.tstore.finish(owner, t.name, stats, next_at)

    @staticmethod
    def _not_listed_yet(held: Held, kind: str, recent: dict | None, totals: dict, now: float) -> int:
        """Units the previous run bought that the listing does not show yet (within the grace).
        A reservation listed in a dead state (cancelled, expired) is gone, not late."""
        if not recent or now - recent.get("at", 0) >= CONSISTENCY_GRACE:
            return 0
        listed = {r.reservation_id for r in held.reservations} if kind == "reservation" else set(totals)
        late = 0
        for holding_id, total in recent.get("totals", {}).items():
            if holding_id not in listed:
                late += int(total)
            elif holding_id in totals and totals[holding_id] < total:
                late += int(total) - totals[holding_id]
                totals[holding_id] = int(total)
        return late

    def _resume(self, cloud, t, run_id: str, totals: dict, count: int, budget: float, noted: dict) -> int:
        """Finish the call a killed run left in flight, and nothing more."""
        entries = self.ledger.entries(run_id)
        pending = next(e for e in entries if e.status == "pending")
        upto = sum(e.count for e in entries if e.status == "ok") + pending.count
        return count + self._run(cloud, t, run_id, upto, (), totals, budget, noted,
                                 resumed=frozenset({pending.token}))

    def _run(self, cloud, t, run_id: str, want: int, holdings: tuple[Holding, ...], totals: dict,
             budget: float, noted: dict, resumed: frozenset[str] = frozenset()) -> int:
        """One engine run for `want` units; returns the units the cloud now holds beyond `totals`."""
        inner = CountingAcquirer(TargetReservations(cloud, t) if t.kind == "reservation" else
                                 TargetInstances(cloud, t, resumed, noted.get("images", ())))
        noted["counters"].append(inner)
        caps = MoneyCaps(self.store, self.settings.max_launches_per_hour, t.cap)
        kind = "reservation" if t.kind == "reservation" else "launch"
        config = EngineConfig(waits=Waits(0.0, 0.0, NEGATIVE_TTL), timeout=budget, stop_when_exhausted=True,
                              transient_ends_run=True, grow_last_first=True)

        touched: set[str] = set()  # holdings a call of this run answered: only those can have grown
        waited: list[bool] = []

        def on_event(ev: EngineEvent) -> None:
            if ev.kind == "waiting":  # a tick never sleeps: what is not ready now is the next tick's
                waited.append(True)
            if ev.kind == "success" and ev.holding is not None:
                touched.add(ev.holding.holding_id)
            if ev.kind in ("no_capacity", "halved", "error"):
                noted["error"] = ev.message.split(":")[0][:120] if ev.kind == "error" else ev.message

        engine = CapacityEngine(CappedAcquirer(inner, caps, t.claim_key, kind), offerings_of(t), want,
                                run_id=run_id, config=config, ledger=self.ledger, holdings=holdings,
                                on_event=on_event, clock=self.monotonic, sleep=lambda s: None,
                                should_stop=lambda: bool(waited) or inner.limit is not None)
        outcome = engine.run()
        noted["attempts"] += outcome.attempts
        if outcome.error is not None:
            noted["error"] = outcome.error.code
            noted["transient"] = outcome.reason == "transient"
            if outcome.error.code == "SpendCapReached":
                events.emit("cap_reached", target=t.name, reason=outcome.error.message)
        gained = 0
        for h in outcome.holdings:
            if h.holding_id not in touched:
                continue
            gained += max(0, h.count - totals.get(h.holding_id, 0))
            noted["tokens"][h.holding_id] = h.count
            o = h.offering
            noted["bought"] += ([{"id": h.holding_id, "type": o.instance_type, "zone": o.zone, "total": h.count,
                                  "state": "active"}] if t.kind == "reservation" else
                                [{"id": m, "type": o.instance_type, "zone": o.zone, "state": "pending"} for m in h.members])
            totals[h.holding_id] = max(h.count, totals.get(h.holding_id, 0))
        return gained

    def _record(self, t, stats: dict, count: int, noted: dict, now: float) -> None:
        was_short = stats.get("held") is None or stats.get("held", 0) < t.count
        stats["held"], stats["excess"] = count, max(0, count - t.count)
        stats["last_reconciled"] = _iso(now)
        if noted["attempts"]:
            stats["attempts"] = stats.get("attempts", 0) + noted["attempts"]
            stats.setdefault("first_attempt", _iso(now))
            stats["last_attempt"] = _iso(now)
        if noted["error"]:
            stats["last_error"] = noted["error"]
        if count >= t.count:
            if was_short and noted["attempts"]:
                stats["acquired_at"] = _iso(now)
                events.emit("acquired", target=t.name, cloud=t.cloud, region=t.region, held=count, count=t.count,
                            attempts=stats.get("attempts", 0),
                            instance_ids=[b["id"] for b in noted["bought"] if t.kind == "instances"],
                            zones=sorted({b["zone"] for b in noted["bought"]}))
            stats.pop("gap_since", None)
            stats.pop("gap_alerted", None)
            stats["state"] = "over" if count > t.count else "met"
        else:
            stats.setdefault("gap_since", now)
            stats["state"] = "hunting" if t.kind == "instances" else "short"
            if now - stats["gap_since"] >= self.settings.target_gap_alert_seconds and not stats.get("gap_alerted"):
                stats["gap_alerted"] = True
                events.emit("gap_persisting", target=t.name, held=count, count=t.count,
                            since=_iso(stats["gap_since"]), last_error=stats.get("last_error", ""))
        day = _iso(now)[:10]
        if stats.get("reported_day") != day:
            if stats.get("reported_day"):
                events.emit("daily_report", target=t.name, held=count, count=t.count, state=stats["state"],
                            attempts=stats.get("attempts", 0), last_error=stats.get("last_error", ""))
            stats["reported_day"] = day
