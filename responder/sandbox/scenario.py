"""The scenario format shared by every emulator, and the live state it drives.

Parts: load_scenario (YAML/JSON file or dict → Scenario), Scenario (regions, instances, catalog,
stock, latency, faults, seed), ManualClock (time that moves when told),
StockBook (capacity per offering that changes over time and is
consumed by launches and reservations), SandboxClock (scaled scenario time). FaultPlan (injected
errors, timeouts, resets, lost answers) lives in faults.py and is re-exported here.

The format is documented in docs/scenario.md; a default scenario ships as
responder/sandbox/scenarios/default.yaml and matches the sample events in events/.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from responder.sandbox.faults import FaultPlan, validate_rule

__all__ = ["FaultPlan", "ManualClock", "Scenario", "ScenarioError", "StockBook", "SandboxClock", "load_scenario"]

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yaml"
UNLIMITED = 10**9


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the field."""


class SandboxClock:
    """Scenario time in seconds since start, optionally sped up (time_scale) for tests."""

    def __init__(self, time_scale: float = 1.0, now=time.monotonic):
        self._now = now
        self._start = now()
        self._scale = time_scale
        self._offset = 0.0

    def __call__(self) -> float:
        return (self._now() - self._start) * self._scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump scenario time forward (tests and curl users: POST /_sandbox/advance)."""
        self._offset += seconds


class ManualClock:
    """Scenario time that moves only when told (benchmarks and tests of the race: a five-minute
    race in milliseconds, every event in the same order). Emulators and the runner share it."""

    def __init__(self, start: float = 0.0):
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)

    def advance_to(self, when: float) -> None:
        with self._lock:
            self.now = max(self.now, when)


@dataclass
class OfferStock:
    """Capacity of one (type, zone, market) over time.

    `available` is what is free at t=0. `schedule` entries fire once when scenario time reaches
    `at`: `available: N` sets the free capacity, `add: N` frees N more (capacity released),
    `take: N` removes N (a competitor bought it).
    """

    available: int
    schedule: list[dict[str, Any]] = field(default_factory=list)
    fired: int = 0


class StockBook:
    """Free capacity per offering; thread-safe; consumed by launches and reservations."""

    def __init__(self, default: int, offers: dict[tuple[str, str, str], OfferStock], clock):
        self._default = default
        self._offers = offers
        self._clock = clock
        self._lock = threading.Lock()

    def _offer(self, instance_type: str, zone: str, market: str) -> OfferStock:
        key = (instance_type, zone, market)
        if key not in self._offers:
            # An offering named for one market only: the other market keeps the default.
            self._offers[key] = OfferStock(available=self._default)
        offer = self._offers[key]
        now = self._clock()
        while offer.fired < len(offer.schedule) and float(offer.schedule[offer.fired].get("at", 0)) <= now:
            step = offer.schedule[offer.fired]
            if "available" in step:
                offer.available = int(step["available"])
            offer.available += int(step.get("add", 0))
            offer.available = max(0, offer.available - int(step.get("take", 0)))
            offer.fired += 1
        return offer

    def available(self, instance_type: str, zone: str, market: str) -> int:
        with self._lock:
            return self._offer(instance_type, zone, market).available

    def take(self, instance_type: str, zone: str, market: str, count: int) -> bool:
        """Consume `count` units if all are free; all or nothing, as the clouds do."""
        with self._lock:
            offer = self._offer(instance_type, zone, market)
            if offer.available < count:
                return False
            offer.available -= count
            return True

    def give_back(self, instance_type: str, zone: str, market: str, count: int) -> None:
        with self._lock:
            self._offer(instance_type, zone, market).available += count


@dataclass
class Region:
    cloud: str
    region: str
    account: str
    zones: list[str]
    subnets: list[dict[str, Any]]  # {id, zone, vpc}
    instance_types: list[dict[str, Any]]  # {type, family, cpu, memory_gib, arch}
    instances: list[dict[str, Any]]
    raw: dict[str, Any]


@dataclass
class Scenario:
    name: str
    latency_ms: float
    image_build_seconds: float
    time_scale: float
    regions: list[Region]
    stock_default: int
    stock: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    raw: dict[str, Any]
    seed: int = 0  # seeds the RNG of `rate` faults

    def regions_of(self, cloud: str) -> list[Region]:
        return [r for r in self.regions if r.cloud == cloud]

    def new_clock(self) -> SandboxClock:
        return SandboxClock(self.time_scale)

    def new_stock(self, clock) -> StockBook:
        offers: dict[tuple[str, str, str], OfferStock] = {}
        for rule in self.stock:
            markets = [rule["market"]] if rule.get("market") else ["spot", "ondemand"]
            zones = rule["zones"] if "zones" in rule else [rule["zone"]]
            types = rule["types"] if "types" in rule else [rule["type"]]
            for t in types:
                for z in zones:
                    for m in markets:
                        offers[(t, z, m)] = OfferStock(
                            available=int(rule.get("available", self.stock_default)),
                            schedule=copy.deepcopy(sorted(rule.get("schedule", []), key=lambda s: float(s.get("at", 0)))),
                        )
        return StockBook(self.stock_default, offers, clock)

    def new_faults(self) -> FaultPlan:
        return FaultPlan(copy.deepcopy(self.faults), self.seed)


def _require(mapping: dict, key: str, where: str):
    if key not in mapping:
        raise ScenarioError(f"{where}: missing '{key}'")
    return mapping[key]


def load_scenario(source: str | Path | dict | None = None, **overrides) -> Scenario:
    """Read a scenario from a YAML/JSON file, a dict, or the shipped default; `overrides` replace
    top-level keys (tests use this to set latency_ms or time_scale)."""
    if source is None:
        source = DEFAULT_SCENARIO
    if isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        text = Path(source).read_text(encoding="utf-8")
        data = json.loads(text) if str(source).endswith(".json") else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ScenarioError("scenario: top level must be a mapping")
    data.update(overrides)
    if data.get("world"):  # every real region too (responder.sandbox.world), after the scenario's own
        from responder.sandbox.world import world_regions

        data["regions"] = list(_require(data, "regions", "scenario")) + world_regions(data["regions"])
    if data.get("oci") is not None:  # an OCI-only scenario needs no other region
        from responder.sandbox.oci_world import OciConfig

        OciConfig.parse(data["oci"])  # a malformed section fails at load, naming its field
        data.setdefault("regions", [])
    regions = []
    for i, r in enumerate(_require(data, "regions", "scenario")):
        where = f"regions[{i}]"
        cloud = _require(r, "cloud", where)
        if cloud not in ("aliyun", "aws"):
            raise ScenarioError(f"{where}: cloud must be aliyun or aws, not {cloud!r}")
        regions.append(Region(
            cloud=cloud,
            region=_require(r, "region", where),
            account=str(r.get("account", "")),
            zones=list(_require(r, "zones", where)),
            subnets=list(r.get("subnets", [])),
            instance_types=list(r.get("instance_types", [])),
            instances=list(r.get("instances", [])),
            raw=r,
        ))
    stock = data.get("stock", {}) or {}
    faults = list(data.get("faults", []) or [])
    for i, rule in enumerate(faults):
        problem = validate_rule(rule, f"faults[{i}]")
        if problem:
            raise ScenarioError(problem)
    return Scenario(
        name=str(data.get("name", "unnamed")),
        latency_ms=float(data.get("latency_ms", 0)),
        image_build_seconds=float(data.get("image_build_seconds", 2)),
        time_scale=float(data.get("time_scale", 1)),
        regions=regions,
        stock_default=int(stock.get("default", UNLIMITED)),
        stock=list(stock.get("offers", [])),
        faults=faults,
        raw=data,
        seed=int(data.get("seed", 0)),
    )
