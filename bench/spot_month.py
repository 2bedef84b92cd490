"""A simulated month of a spot fleet: what the churn guard and the move back to spot do to the bill
and to the interruptions, against today's behaviour (no revert, no guard).

Parts: Month (the pack's `spot_month:` section, regions and prices, docs/scenario.md), Sim (one
cloud's month as a discrete-event simulation: each instance's next reclaim at its pool's published
rate, the dry spell a reclaim leaves, region crunches with stock returning pool by pool, the revert
ticker), revert_settings and revert_due (when a move back is due: the product's eligible.waits),
revert_choice (where a move back goes, or why it waits: the product's rule), published_bands (what
the emulators would serve from the pack), VARIANTS (with `leave` and `calm`, prototypes the product
does not have: bench/spot_month_leave.py, bench/spot_month_calm.py), run_cloud, main.

Decisions come from the product's own code: a replacement is the first candidate of
responder/replace/planner.py plan_candidates on the task's markets (steps.task_markets' order),
reranked by responder/replace/churn.py (verdict, rank) over the month's own reclaim history; the
move back to spot plans the original's candidates the same way and keeps those
churn.revert_candidates allows. In the `ranked` and `bands` variants spot candidates are first ranked
by the published interruption bands (responder/replace/bands.py), the bands being those the
emulators serve from the pack's `spot_month:` pools (responder/sandbox/spot_advice.py); `bands` also
makes the product's planned moves out of a published-stressed pool (responder/replace/calm_rule.py,
responder/revert/calm.py, bench/spot_month_calm.py product_choice) of the instances it placed (a
replacement or a move's); `fleet`, the product with the fleet named (RESPONDER_FLEET_SELECTORS), also
adopts the fleet's own first instances by the product's rule (responder/revert/adoption.py,
spot_month_calm.adopt_due) and moves them the same way: the headline figures are its own.
The region crunches are drawn from the seed before the month starts, so every variant faces the
same ones; each instance's reclaims follow its own placements.

Run: python bench/spot_month.py [--pack bench/packs/spot-month.yaml] [--seed N] [--fleet N] [--days N] [--json]
     [--seeds N] [--set KEY=VALUE ...] [--no-leave-memory] [--calm-band BAND]
"""

from __future__ import annotations

import argparse
import copy
import heapq
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spot_month_calm import CALM_BAND, adopt_due, calm_choice, product_choice, stressed  # noqa: E402  (this file's own folder)
from spot_month_leave import leave_choice  # noqa: E402

from responder.clouds import spot_bands  # noqa: E402
from responder.clouds.base import InstanceInfo, InstanceTypeSpec, Subnet  # noqa: E402
from responder.model import Market  # noqa: E402
from responder.replace import bands, calm_rule, churn, planner, revert_steps  # noqa: E402
from responder.revert import eligible  # noqa: E402
from responder.sandbox import spot_advice  # noqa: E402
from responder.sandbox.aliyun_ecs_advice import describe_spot_advice  # noqa: E402
from responder.sandbox.aliyun_ecs_state import World  # noqa: E402
from responder.sandbox.scenario import load_scenario  # noqa: E402
from responder.setting_values import daily_window, duration  # noqa: E402
from responder.settings import Settings  # noqa: E402

DAY, HOUR, MINUTE = 86400.0, 3600.0, 60.0
MONTH_DAYS = 30.0
PACK = ROOT / "bench" / "packs" / "spot-month.yaml"
# (name, churn guard, revert, leave demoted pools, published bands, planned moves out of a
# published-stressed pool: "" none, "product" the product's rule, "fleet" the product's rule with the
# fleet named, "prototype" the bench's earlier rule that also moves the fleet's first instances):
# "today" is the responder without any of them; "ranked" guard, revert and bands without planned
# moves; "bands" the product with RESPONDER_FLEET_SELECTORS unset (planned moves of what it placed);
# "fleet" the product with the fleet named (its first instances adopted: responder/revert/fleet.py),
# the headline; "leave" and "calm" prototypes it does not have.
VARIANTS = (("today", False, False, False, False, ""), ("guard", True, False, False, False, ""),
            ("revert", False, True, False, False, ""), ("both", True, True, False, False, ""),
            ("leave", True, True, True, False, ""), ("ranked", True, True, False, True, ""),
            ("bands", True, True, False, True, "product"), ("fleet", True, True, False, True, "fleet"),
            ("calm", True, True, False, True, "prototype"))


@dataclass
class Month:
    data: dict[str, Any]
    section: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> "Month":
        data = yaml.safe_load(path.read_text())
        return cls(data, data["spot_month"])

    def override(self, item: str) -> None:
        """`key=value` (value read as YAML; a.b for a nested key) in the spot_month section."""
        key, _, value = item.partition("=")
        *path, last = key.strip().split(".")
        where = self.section
        for part in path:
            where = where[part]
        if last not in where:
            raise SystemExit(f"--set {item}: spot_month has no {key!r}")
        where[last] = yaml.safe_load(value)

    def region(self, cloud: str) -> dict[str, Any]:
        return next(r for r in self.data["regions"] if r["cloud"] == cloud)

    def monthly_hazard(self, cloud: str, instance_type: str, zone: str) -> float:
        """Expected reclaims per instance-month in a pool: its band's share p of instances reclaimed
        within a month, as a constant hazard -ln(1 - p)."""
        band = next((p["band"] for p in self.section["pools"] if (p["cloud"], p["type"], p["zone"]) ==
                     (cloud, instance_type, zone)), self.section["calm_band"])
        return -math.log(1.0 - self.section["bands"][band])

    def price(self, instance_type: str, market: str) -> float:
        return next(p["price"] for p in self.data["prices"] if p["type"] == instance_type and p["market"] == market)


def published_bands(month: Month, cloud: str) -> bands.BandView:
    """The bands the emulators serve from the pack (responder/sandbox/spot_advice.py: its
    `spot_month:` pools and `calm_band`), read as the adapters read them: the Advisor's document per
    region and type on AWS, the emulator's DescribeSpotAdvice answer per zone and type on Aliyun."""
    scenario = load_scenario(copy.deepcopy(month.data))
    region = scenario.regions_of(cloud)[0]
    types = [t["type"] for t in region.instance_types]
    if cloud == "aws":
        found = spot_bands.advisor_bands(spot_advice.advisor_document(scenario), region.region, types)
        return bands.BandView(found, bands.SOURCES["aws"])
    clock = scenario.new_clock()
    world = World(scenario, clock, scenario.new_stock(clock))
    found = {}
    for start in range(0, len(types), spot_bands.ALIYUN_TYPES_PER_CALL):  # ten types a call, as the adapter asks
        asked = {f"InstanceTypes.{n}": t for n, t in enumerate(types[start:start + spot_bands.ALIYUN_TYPES_PER_CALL], 1)}
        found.update(spot_bands.aliyun_bands(describe_spot_advice(world, region, {"RegionId": region.region, **asked})))
    return bands.BandView(found, bands.SOURCES["aliyun"])


def revert_settings(responder: dict[str, Any], calm_band: str = CALM_BAND) -> Settings:
    """The pack's revert settings, read by the product's own parsers (RESPONDER_REVERT_AFTER's and
    RESPONDER_REVERT_WINDOW's syntax); the planned moves' band, their window the default."""
    return Settings(revert_after_seconds=duration("revert_after", str(responder["revert_after"]), 1800.0),
                    revert_window=daily_window("revert_window", str(responder.get("revert_window") or "")),
                    calm_band=calm_band)


def revert_due(on_fallback_since: float, now: float, settings: Settings) -> bool:
    """The product's rule (revert/eligible.py waits): a replacement on on-demand or on another type
    moves back once it has run RESPONDER_REVERT_AFTER, outside RESPONDER_REVERT_WINDOW."""
    return not eligible.waits(on_fallback_since, settings, now)


def revert_choice(sim: "Sim", instance: "Instance", now: float):
    """Where a due move back to spot goes, or None to wait: the original type's spot candidates
    from the planner (the original type first, then its equivalents) ranked by the guard, and of
    those the ones churn.revert_candidates allows — no demoted pool, no move for a chain the
    guard sends on-demand first — and, from a spot instance of another type, only the original
    type. The guard is consulted only in the variants that have it."""
    verdict = sim._verdict(instance.name, now)
    source = sim._source(sim.original, instance.zone, instance.name)
    planned, _ = sim._plan(source, Market.SPOT, now, verdict)
    usable, _ = churn.revert_candidates(planned, verdict, sim.cloud, sim.region_name)
    if instance.market == "spot":
        usable = [c for c in usable if c.instance_type == sim.original]
    if sim.calm == "prototype":  # the prototype's move back never goes into a published-stressed pool
        usable = [c for c in usable if not stressed(sim, c.instance_type, c.zone)]
    elif sim.calm in ("product", "fleet"):  # nor the product's, while planned moves are on (revert_steps.usable)
        usable = calm_rule.unstressed(usable, bands.of_pools(planned, sim.band_view), sim.settings)
    return usable[0] if usable else None


@dataclass
class Instance:
    name: str  # the logical instance: the chain's first id, what the guard calls its lineage
    instance_type: str
    zone: str
    market: str
    since: float  # on this placement since
    fallback_since: float | None = None  # on on-demand or another type since (None: on the original)
    version: int = 0  # bumps on every placement: a stale reclaim event is skipped
    moving: bool = False
    attempts: int = 0  # failed moves of this fallback episode
    interruptions: int = 0
    left_at: float = -math.inf  # when it last moved out of a demoted pool
    band: int | None = None  # its pool's published band when it was placed (the product's LaunchState.band)
    adopted_at: float | None = None  # a first instance the product adopted (the fleet named): when


@dataclass
class Figures:
    cost: float = 0.0
    on_demand_seconds: float = 0.0
    instance_seconds: float = 0.0
    interruptions: int = 0
    moves: int = 0
    moves_failed: int = 0
    leaves: int = 0  # moves out of a demoted pool (of `moves`)
    data_lost: int = 0
    fallbacks: int = 0


@dataclass
class Sim:
    month: Month
    cloud: str
    guard: bool
    revert: bool
    seed: int
    fleet: int | None = None
    days: float | None = None
    policy: churn.ChurnPolicy = field(default_factory=churn.ChurnPolicy)  # the product's defaults
    figures: Figures = field(default_factory=Figures)
    leave: bool = False  # move our spot instances out of a pool the guard demotes, before its next reclaim
    leave_memory: bool = True  # ...and not into a pool we left within the guard's horizon
    bands: bool = False  # rank spot candidates by the published bands (replace/bands.py), as the product does
    calm: str = ""  # out of a published-stressed pool (bench/spot_month_calm.py): "product", "fleet", "prototype"
    calm_band: str = CALM_BAND  # ...at or above this band

    def __post_init__(self):
        s, region = self.month.section, self.month.region(self.cloud)
        self.region_name = region["region"]
        self.catalog = {t["type"]: InstanceTypeSpec(t["type"], t["family"], t["cpu"], float(t["memory_gib"]),
                                                    t.get("arch", "x86_64")) for t in region["instance_types"]}
        self.subnets = [Subnet(n["id"], n["zone"], n["vpc"]) for n in region["subnets"]]
        self.zones = list(region["zones"])
        spec = next(f for f in s["fleets"] if f["cloud"] == self.cloud)
        self.original = spec["type"]
        self.count = self.fleet or spec["count"]
        self.end = (self.days or s["days"]) * DAY
        r = s["responder"]
        self.settings, self.tick_s = revert_settings(r, self.calm_band), r["tick_minutes"] * MINUTE
        self.moves_per_tick, self.move_s = r["moves_per_tick"], r["move_minutes"] * MINUTE
        self.move_attempts = eligible.MAX_ATTEMPTS  # moves that gave up before the product stops trying
        self.dry_until: dict[tuple[str, str], float] = {}
        self.history: list[churn.Reclaim] = []
        self.events: list[tuple] = []
        self.sequence = 0
        self.rand = random.Random(f"{self.seed}:{self.cloud}:instances")
        self.instances: list[Instance] = []
        self.standings_at: tuple[float, dict] | None = None
        self.left: dict = {}  # pool → when an instance of ours last moved out of it
        self.band_view = published_bands(self.month, self.cloud) if self.bands else None
        self.fleet_read_at = 0.0  # the product's next fleet read (spot_month_calm.adopt_due)

    # -- the world, drawn before the month from its own seed: the same for every variant --------
    def _world(self) -> None:
        s, world = self.month.section, random.Random(f"{self.seed}:{self.cloud}:world")
        per_s = 1 / (MONTH_DAYS * DAY)
        crunch = s["region_crunch"]
        pools = sorted((t, z) for t in self.catalog for z in self.zones)
        t = world.expovariate(crunch["per_month"] * per_s) if crunch["per_month"] > 0 else self.end
        while t < self.end:
            dries = {p: world.expovariate(1 / (crunch["dry_hours"] * HOUR)) for p in pools}
            self._push(t, "crunch", (pools, crunch["share"], dries, world.random()))
            t += world.expovariate(crunch["per_month"] * per_s)

    def _push(self, at: float, kind: str, payload: Any) -> None:
        self.sequence += 1  # ties go in the order pushed, never by comparing payloads
        heapq.heappush(self.events, (at, self.sequence, kind, payload))

    # -- placement, cost and reclaims ---------------------------------------------------------
    def _in_stock(self, now: float) -> set[tuple[str, str]]:
        return {(t, z) for t in self.catalog for z in self.zones if self.dry_until.get((t, z), 0.0) <= now}

    def _hazard(self, instance: Instance) -> float:
        """Per second, from the pool's published band (Month.monthly_hazard)."""
        return self.month.monthly_hazard(self.cloud, instance.instance_type, instance.zone) / (MONTH_DAYS * DAY)

    def _took_stock(self, pool: tuple[str, str], now: float) -> None:
        """A reclaim is the pool's capacity taken back: no spot stock there for a while."""
        mean = self.month.section["reclaim_dry_hours"] * HOUR
        if mean <= 0:
            return  # the stated choice turned off: a reclaim leaves the pool's stock as it was
        dry = random.Random(f"{self.seed}:{self.cloud}:{pool}:{now}").expovariate(1 / mean)
        self.dry_until[pool] = max(self.dry_until.get(pool, 0.0), now + dry)

    def _bill(self, instance: Instance, now: float) -> None:
        took = max(0.0, min(now, self.end) - instance.since)
        self.figures.cost += took / HOUR * self.month.price(instance.instance_type, instance.market)
        self.figures.instance_seconds += took
        if instance.market == "ondemand":
            self.figures.on_demand_seconds += took

    def _place(self, instance: Instance, candidate, now: float) -> None:
        self._bill(instance, now)
        instance.instance_type, instance.zone, instance.market = candidate.instance_type, candidate.zone, \
            candidate.market
        instance.since, instance.version = now, instance.version + 1
        on_original = candidate.market == "spot" and candidate.instance_type == self.original
        if on_original:
            instance.fallback_since, instance.attempts = None, 0
        elif instance.fallback_since is None:
            instance.fallback_since = now
            self.figures.fallbacks += 1
        instance.band = (spot_bands.band_for(self.band_view.bands, candidate.instance_type, candidate.zone)
                         if self.band_view is not None and candidate.market == "spot" else None)
        if candidate.market == "spot":
            self._push(now + self.rand.expovariate(self._hazard(instance)), "reclaim", (instance, instance.version))

    def _source(self, instance_type: str, zone: str, name: str) -> InstanceInfo:
        spec = self.catalog[instance_type]
        subnet = next(s for s in self.subnets if s.zone == zone)
        return InstanceInfo(name, self.region_name, zone, instance_type, "running", True, True, spec.cpu,
                            int(spec.memory_gib * 1024), spec.architecture, vpc_id=subnet.vpc_id,
                            subnet_id=subnet.subnet_id)

    def _plan(self, source: InstanceInfo, market: Market, now: float, verdict) -> tuple[list, list[str]]:
        """The product's plan: planner.plan_candidates, the churn guard's rank when it is on."""
        in_stock = self._in_stock(now) if market == Market.SPOT else {(t, z) for t in self.catalog for z in self.zones}
        prices = ({(t, z): self.month.price(t, "spot") for t in self.catalog for z in self.zones}
                  if self.cloud == "aws" and market == Market.SPOT else None)  # AWS ranks spot by price (executor)
        planned = planner.plan_candidates(source, self.catalog, market, in_stock, self.subnets, prices=prices)
        if self.band_view is not None and market == Market.SPOT:
            planned, _ = bands.rank(planned, self.band_view)
        return churn.rank(planned, verdict, self.cloud, self.region_name) if self.guard else (planned, [])

    def _verdict(self, lineage: str, now: float):
        if not self.guard:
            return None
        recent = [r for r in self.history if r.at >= now - self.policy.horizon_s]
        self.history = recent
        return churn.verdict(recent, lineage, self.policy, now, on_demand_allowed=True)

    def _standings(self, now: float) -> dict:
        """The guard's standings of every pool now (read once per tick, not per instance)."""
        if self.standings_at is None or self.standings_at[0] != now:
            recent = [r for r in self.history if r.at >= now - self.policy.horizon_s]
            self.standings_at = (now, churn.standings(recent, self.policy, now))
        return self.standings_at[1]

    def _reclaimed(self, instance: Instance, now: float) -> None:
        self._took_stock((instance.instance_type, instance.zone), now)
        instance.interruptions += 1
        self.figures.interruptions += 1
        self.history.append(churn.Reclaim(f"{instance.name}:{instance.version}", churn.Pool(
            self.cloud, self.region_name, instance.zone, instance.instance_type, "spot"), instance.name,
            instance.name, now))
        verdict = self._verdict(instance.name, now)
        order = [Market.SPOT, Market.ONDEMAND]  # RESPONDER_MARKET_POLICY=spot-then-ondemand
        if verdict is not None and verdict.prefer_on_demand:  # steps.task_markets
            order = [Market.ONDEMAND, Market.SPOT]
        source = self._source(instance.instance_type, instance.zone, instance.name)
        for market in order:
            planned, _ = self._plan(source, market, now, verdict)
            if planned:
                self._place(instance, planned[0], now)
                return
        self.figures.data_lost += 1  # nowhere to go on any market: the model counts it lost

    def _crunch(self, payload, now: float) -> None:
        pools, share, dries, draw = payload
        for pool in pools:
            self.dry_until[pool] = max(self.dry_until.get(pool, 0.0), now + dries[pool])
        pick = random.Random(f"{self.seed}:{self.cloud}:{now}:{draw}")
        for instance in sorted(self.instances, key=lambda i: i.name):
            if instance.market == "spot" and (instance.instance_type, instance.zone) in pools \
                    and pick.random() < share:
                self._reclaimed(instance, now)

    # -- the move back to spot, on the ticker ---------------------------------------------------
    def _tick(self, now: float) -> None:
        started = 0
        adopt_due(self, now)  # the fleet named (the `fleet` variant): its first instances judged too
        for instance in self.instances:
            if started >= self.moves_per_tick:
                break
            if instance.moving or instance.attempts >= self.move_attempts:
                continue
            if instance.fallback_since is not None:
                if not revert_due(instance.fallback_since, now, self.settings):
                    continue
                target = revert_choice(self, instance, now)
            elif self.leave and instance.market == "spot" and revert_steps.window_end(now, self.settings.revert_window) is None:
                target = leave_choice(self, instance, now)
            elif self.calm and instance.market == "spot" and revert_steps.window_end(now, self.settings.revert_window) is None:
                target = (calm_choice if self.calm == "prototype" else product_choice)(self, instance, now)
            else:
                continue
            if target is None:
                continue  # no spot stock for it yet, or the guard holds it: the next tick looks again
            instance.moving, started = True, started + 1
            # The spot one runs beside the old one for the move; its reclaim, if it comes first, ends it.
            reclaim_at = now + self.rand.expovariate(self._hazard(Instance("", target.instance_type, target.zone,
                                                                           "spot", now)))
            self._push(now + self.move_s, "moved", (instance, instance.version, target, reclaim_at, now))
        if now + self.tick_s < self.end:
            self._push(now + self.tick_s, "tick", None)

    def _moved(self, payload, now: float) -> None:
        instance, version, target, reclaim_at, started = payload
        instance.moving = False
        spot_price = self.month.price(target.instance_type, "spot")
        if version != instance.version:  # the old one was reclaimed meanwhile: the move ended with it
            self.figures.cost += (now - started) / HOUR * spot_price
            return
        if reclaim_at < now:  # the spot one was reclaimed before it took over: the old one stays
            self.figures.cost += (reclaim_at - started) / HOUR * spot_price
            self.figures.moves_failed += 1
            instance.attempts += 1
            if instance.fallback_since is not None:
                instance.fallback_since = now  # tried again RESPONDER_REVERT_AFTER later
            self.history.append(churn.Reclaim(f"{instance.name}:move:{now}", churn.Pool(
                self.cloud, self.region_name, target.zone, target.instance_type, "spot"), instance.name,
                instance.name, reclaim_at))
            self._took_stock((target.instance_type, target.zone), reclaim_at)
            return
        # Retire the old one only now, with the spot one running the state: the product's order.
        self.figures.cost += (now - started) / HOUR * spot_price
        self.figures.moves += 1
        if instance.fallback_since is None:
            self.figures.leaves += 1
            instance.left_at = now
            self.left[churn.Pool(self.cloud, self.region_name, instance.zone, instance.instance_type, "spot")] = now
        self._place(instance, target, now)

    # -- the month ------------------------------------------------------------------------------
    def run(self) -> Figures:
        self._world()
        for n in range(self.count):
            zone = self.zones[n % len(self.zones)]
            instance = Instance(f"{self.cloud}-{n:03d}", self.original, zone, "spot", 0.0)
            self.instances.append(instance)
            self._place(instance, planner.Candidate(self.original, zone, "spot", "", "start"), 0.0)
        if self.revert:
            self._push(self.tick_s, "tick", None)
        while self.events and self.events[0][0] < self.end:
            now, _, kind, payload = heapq.heappop(self.events)
            if kind == "crunch":
                self._crunch(payload, now)
            elif kind == "reclaim":
                instance, version = payload
                if version == instance.version and instance.market == "spot":
                    self._reclaimed(instance, now)
            elif kind == "tick":
                self._tick(now)
            elif kind == "moved":
                self._moved(payload, now)
        for instance in self.instances:
            self._bill(instance, self.end)
        return self.figures


def run_cloud(month: Month, cloud: str, seed: int, fleet: int | None = None, days: float | None = None,
              policy: churn.ChurnPolicy | None = None, leave_memory: bool = True, calm_band: str = CALM_BAND) -> dict:
    """Every variant's figures for one cloud, and the ratios the issue asks for."""
    policy = policy or churn.ChurnPolicy()
    found = {name: Sim(month, cloud, guard, revert, seed, fleet, days, policy, leave=leave,
                     leave_memory=leave_memory, bands=banded, calm=calm, calm_band=calm_band).run()
             for name, guard, revert, leave, banded, calm in VARIANTS}
    sim = Sim(month, cloud, False, False, seed, fleet, days)
    on_demand = sim.count * sim.end / HOUR * month.price(sim.original, "ondemand")
    # The product: the guard, the move back, the published bands and planned moves, the fleet named
    # ("fleet"); "bands" is the same product with RESPONDER_FLEET_SELECTORS unset.
    today, both, product, unnamed = found["today"], found["both"], found["fleet"], found["bands"]
    month_share = MONTH_DAYS * DAY / sim.end  # per instance a month
    per = {name: {"cost_vs_on_demand": round(f.cost / on_demand, 3),
                  "interruptions_per_instance": round(f.interruptions / sim.count, 2),
                  "on_demand_share": round(f.on_demand_seconds / f.instance_seconds, 3),
                  "moves": f.moves, "moves_failed": f.moves_failed, "data_lost": f.data_lost}
           for name, f in found.items()}
    return {"cost_vs_today": round(product.cost / today.cost, 3),
            "cost_vs_on_demand": per["fleet"]["cost_vs_on_demand"],
            "interruptions_vs_today": round(product.interruptions / max(1, today.interruptions), 3),
            "on_demand_share": per["fleet"]["on_demand_share"], "data_lost": product.data_lost,
            "moves_per_instance_month": round(product.moves / sim.count * month_share, 2),
            "without_bands_interruptions_vs_today": round(both.interruptions / max(1, today.interruptions), 3),
            "without_bands_cost_vs_today": round(both.cost / today.cost, 3),
            "leave_interruptions_vs_today": round(found["leave"].interruptions / max(1, today.interruptions), 3),
            "leave_cost_vs_today": round(found["leave"].cost / today.cost, 3),
            "leave_moves_per_instance": round(found["leave"].moves / sim.count, 2),
            "planned_moves_per_instance_month": round(product.leaves / sim.count * month_share, 2),
            "without_planned_moves_interruptions_vs_today": round(found["ranked"].interruptions /
                                                                  max(1, today.interruptions), 3),
            "without_planned_moves_cost_vs_today": round(found["ranked"].cost / today.cost, 3),
            "without_fleet_interruptions_vs_today": round(unnamed.interruptions / max(1, today.interruptions), 3),
            "without_fleet_cost_vs_today": round(unnamed.cost / today.cost, 3),
            "without_fleet_planned_moves_per_instance_month": round(unnamed.leaves / sim.count * month_share, 2),
            "without_fleet_data_lost": unnamed.data_lost,
            "calm_interruptions_vs_today": round(found["calm"].interruptions / max(1, today.interruptions), 3),
            "calm_cost_vs_today": round(found["calm"].cost / today.cost, 3),
            "calm_moves_per_instance_month": round(found["calm"].moves / sim.count * month_share, 2),
            "today_on_demand_share": per["today"]["on_demand_share"], "variants": per}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", type=Path, default=PACK)
    parser.add_argument("--seed", type=int, default=None, help="default: the pack's seed")
    parser.add_argument("--fleet", type=int, default=None, help="instances per cloud (default: the pack's)")
    parser.add_argument("--days", type=float, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--seeds", type=int, default=1, help="also this many more months (seed+1, ...): one line each")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                        help="override one key of the pack's spot_month section (a.b for nested), to see "
                             "what a stated choice does, e.g. --set reclaim_dry_hours=0")
    defaults = churn.ChurnPolicy()
    parser.add_argument("--churn-reclaims", type=int, default=defaults.reclaims, help="RESPONDER_CHURN_RECLAIMS")
    parser.add_argument("--churn-window-hours", type=float, default=defaults.window_s / HOUR)
    parser.add_argument("--churn-demote-hours", type=float, default=defaults.demote_s / HOUR)
    parser.add_argument("--churn-on-demand-after", type=int, default=defaults.on_demand_after)
    parser.add_argument("--calm-band", default=CALM_BAND, choices=spot_bands.BANDS,
                        help="planned moves (the product's and the calm prototype's) leave pools in this band or above")
    parser.add_argument("--no-leave-memory", action="store_true",
                        help="the leave variant may move into a pool it left within the guard's horizon")
    args = parser.parse_args(argv)
    policy = churn.ChurnPolicy(args.churn_reclaims, args.churn_window_hours * HOUR, args.churn_demote_hours * HOUR,
                               args.churn_on_demand_after)
    month = Month.load(args.pack)
    for item in args.set:
        month.override(item)
    seed = args.seed if args.seed is not None else int(month.data.get("seed", 0))
    started = time.perf_counter()
    result = {f["cloud"]: run_cloud(month, f["cloud"], seed, args.fleet, args.days, policy,
                               not args.no_leave_memory, args.calm_band)
              for f in month.section["fleets"]}
    print(f"spot month: pack {args.pack.name}, seed {seed}, churn guard {policy.reclaims} occasions in "
          f"{policy.window_s / HOUR:g} h demote {policy.demote_s / HOUR:g} h, on-demand after "
          f"{policy.on_demand_after}; {time.perf_counter() - started:.1f} s")
    print(f"{'cloud':7} {'variant':7} {'cost/OD':>8} {'interr./inst':>12} {'OD share':>9} {'moves':>6} "
          f"{'failed':>6} {'lost':>5}")
    for cloud, figures in result.items():
        for name, v in figures["variants"].items():
            print(f"{cloud:7} {name:7} {v['cost_vs_on_demand']:8.3f} {v['interruptions_per_instance']:12.2f} "
                  f"{v['on_demand_share']:9.3f} {v['moves']:6d} {v['moves_failed']:6d} {v['data_lost']:5d}")
        print(f"{cloud:7} the product (guard+revert+bands+planned moves, the fleet named) vs today: cost "
              f"x{figures['cost_vs_today']}, "
              f"interruptions x{figures['interruptions_vs_today']}, moves per instance a month "
              f"{figures['moves_per_instance_month']} (planned {figures['planned_moves_per_instance_month']}); "
              f"without planned moves: interruptions x{figures['without_planned_moves_interruptions_vs_today']}; "
              f"without the bands: cost "
              f"x{figures['without_bands_cost_vs_today']}, "
              f"interruptions x{figures['without_bands_interruptions_vs_today']}; the fleet not named "
              f"(RESPONDER_FLEET_SELECTORS unset): cost x{figures['without_fleet_cost_vs_today']}, interruptions "
              f"x{figures['without_fleet_interruptions_vs_today']}")
    months = {cloud: [figures] for cloud, figures in result.items()}
    for other in range(seed + 1, seed + args.seeds):
        for f in month.section["fleets"]:
            figures = run_cloud(month, f["cloud"], other, args.fleet, args.days, policy,
                                not args.no_leave_memory, args.calm_band)
            months[f["cloud"]].append(figures)
            _summary(other, f["cloud"], figures)
    if args.seeds > 1:
        for cloud, found in months.items():
            _over_seeds(cloud, seed, found)
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return result


def _guard_effect(figures: dict) -> tuple[float, float]:
    """Interruptions with the guard against the same behaviour without it: today → guard, revert → both."""
    v = {name: f["interruptions_per_instance"] for name, f in figures["variants"].items()}
    return v["guard"] / max(v["today"], 1e-9), v["both"] / max(v["revert"], 1e-9)


def _summary(seed: int, cloud: str, figures: dict) -> None:
    """One month in a line, with the issue's targets: cost <= 0.6 x today's where today's fallbacks
    run >= 20 % of the month on-demand, interruptions <= 0.7 x today's, nothing lost."""
    applies = figures["today_on_demand_share"] >= 0.2
    cost_ok = "-" if not applies else ("met" if figures["cost_vs_today"] <= 0.6 else "missed")
    alone, with_revert = _guard_effect(figures)
    print(f"seed {seed:3d} {cloud:7} today on-demand {figures['today_on_demand_share']:5.3f}  cost x"
          f"{figures['cost_vs_today']:5.3f} ({cost_ok})  interruptions x{figures['interruptions_vs_today']:5.3f} "
          f"({'met' if figures['interruptions_vs_today'] <= 0.7 else 'missed'}; planned moves/inst "
          f"{figures['planned_moves_per_instance_month']:4.2f}; without them "
          f"x{figures['without_planned_moves_interruptions_vs_today']:5.3f}; without bands "
          f"x{figures['without_bands_interruptions_vs_today']:5.3f})  guard x{alone:5.3f} / "
          f"x{with_revert:5.3f}  lost {figures['data_lost']}  leave: interruptions x"
          f"{figures['leave_interruptions_vs_today']:5.3f} cost x{figures['leave_cost_vs_today']:5.3f} moves/inst "
          f"{figures['leave_moves_per_instance']:4.2f}  calm: interruptions "
          f"x{figures['calm_interruptions_vs_today']:5.3f} "
          f"cost x{figures['calm_cost_vs_today']:5.3f} moves/inst {figures['calm_moves_per_instance_month']:4.2f}")


def _over_seeds(cloud: str, seed: int, found: list[dict]) -> None:
    """The months of one cloud together: where the cost target applies and is met, the range of the
    interruption ratio and of the guard's own effect, and what was lost."""
    applies = [f for f in found if f["today_on_demand_share"] >= 0.2]
    ratios = sorted(f["interruptions_vs_today"] for f in found)
    alone = sorted(_guard_effect(f)[0] for f in found)
    costs = sorted(f["cost_vs_today"] for f in found)
    print(f"{cloud:7} seeds {seed}-{seed + len(found) - 1}: today's on-demand share "
          f"{min(f['today_on_demand_share'] for f in found):.3f}-{max(f['today_on_demand_share'] for f in found):.3f}; "
          f"cost x{costs[0]:.3f}-{costs[-1]:.3f}, target applies in {len(applies)}, met in "
          f"{sum(f['cost_vs_today'] <= 0.6 for f in applies)}; interruptions x{ratios[0]:.3f}-{ratios[-1]:.3f} "
          f"(median {ratios[len(ratios) // 2]:.3f}), <= 0.7 in {sum(r <= 0.7 for r in ratios)}; guard alone "
          f"x{alone[0]:.3f}-{alone[-1]:.3f}; lost {sum(f['data_lost'] for f in found)}")
    plain = sorted(f["without_bands_interruptions_vs_today"] for f in found)
    moved = sorted(f["moves_per_instance_month"] for f in found)
    planned = sorted(f["planned_moves_per_instance_month"] for f in found)
    ranked = sorted(f["without_planned_moves_interruptions_vs_today"] for f in found)
    print(f"{cloud:7} without the bands (guard+revert): interruptions x{plain[0]:.3f}-{plain[-1]:.3f} (median "
          f"{plain[len(plain) // 2]:.3f}); the product's moves per instance a month {moved[0]:.2f}-{moved[-1]:.2f}, "
          f"of them planned moves {planned[0]:.2f}-{planned[-1]:.2f}; bands without planned moves: interruptions "
          f"x{ranked[0]:.3f}-{ranked[-1]:.3f} (median {ranked[len(ranked) // 2]:.3f})")
    leave = sorted(f["leave_interruptions_vs_today"] for f in found)
    moves = sorted(f["leave_moves_per_instance"] for f in found)
    print(f"{cloud:7} leaving demoted pools: interruptions x{leave[0]:.3f}-{leave[-1]:.3f} (median "
          f"{leave[len(leave) // 2]:.3f}), <= 0.7 in {sum(r <= 0.7 for r in leave)}; moves per instance "
          f"{moves[0]:.2f}-{moves[-1]:.2f}; lost {sum(f['variants']['leave']['data_lost'] for f in found)}")
    _moves_line(cloud, found, "the product without the fleet named (RESPONDER_FLEET_SELECTORS unset)", "bands",
                "planned moves", "without_fleet_planned_moves_per_instance_month", "without_fleet")
    _moves_line(cloud, found, "moving out of published-stressed pools (prototype)", "calm", "moves",
                "calm_moves_per_instance_month")


def _moves_line(cloud: str, found: list[dict], label: str, variant: str, moves_name: str, moves_key: str,
                prefix: str = "") -> None:
    """One variant that moves instances out of stressed pools, over the months: its interruptions
    and cost against today's (its keys start with `prefix`, else the variant's name), its moves per
    instance a month, what it lost."""
    prefix = prefix or variant
    ratios = sorted(f[f"{prefix}_interruptions_vs_today"] for f in found)
    moves = sorted(f[moves_key] for f in found)
    costs = sorted(f[f"{prefix}_cost_vs_today"] for f in found)
    print(f"{cloud:7} {label}: interruptions x{ratios[0]:.3f}-{ratios[-1]:.3f} (median {ratios[len(ratios) // 2]:.3f}), "
          f"<= 0.7 in {sum(r <= 0.7 for r in ratios)}; cost x{costs[0]:.3f}-{costs[-1]:.3f}; {moves_name} per "
          f"instance a month {moves[0]:.2f}-{moves[-1]:.2f}; lost {sum(f['variants'][variant]['data_lost'] for f in found)}")

if __name__ == "__main__":
    main()
