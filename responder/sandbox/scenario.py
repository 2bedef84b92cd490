"""The scenario format shared by every emulator, and the live state it drives.

Parts: load_scenario (YAML/JSON file or dict → Scenario; a mistake is one ScenarioError naming
the file, line and field, with scenario_check.py), Scenario (regions, instances, catalog, stock,
latency, faults, seed, the policies the emulators enforce), Region. The clocks, StockBook and
ScenarioError live in stock.py and
FaultPlan (injected errors, timeouts, resets, lost answers) in faults.py; both are re-exported here.

The format is documented in docs/scenario.md; a default scenario ships as
responder/sandbox/scenarios/default.yaml and matches the sample events in events/.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from responder.sandbox import scenario_check
from responder.sandbox.authz import Policies, load_policies
from responder.sandbox.authz_json import PolicyError
from responder.sandbox.faults import FaultPlan, validate_rule
from responder.sandbox.oci_world import OciConfig
from responder.sandbox.stock import UNLIMITED, ManualClock, OfferStock, SandboxClock, ScenarioError, StockBook
from responder.sandbox.world import world_regions

__all__ = ["FaultPlan", "ManualClock", "OfferStock", "Region", "Scenario", "ScenarioError", "StockBook", "SandboxClock",
           "UNLIMITED", "load_scenario"]

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.yaml"


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

    def new_policies(self) -> Policies:
        """The RAM, IAM and OCI policies the emulators enforce (`policies:`; the shipped ones by default)."""
        return load_policies(self.raw.get("policies"))


def _require(mapping: dict, key: str, where: str):
    if key not in mapping:
        raise ScenarioError(f"{where}: missing '{key}'" if where != "scenario" else f"{key}: missing (required)")
    return mapping[key]


def load_scenario(source: str | Path | dict | None = None, **overrides) -> Scenario:
    """Read a scenario from a YAML/JSON file, a dict, or the shipped default; `overrides` replace
    top-level keys (tests use this to set latency_ms or time_scale). Any mistake in a file is one
    ScenarioError naming the file, the line and the field."""
    if source is None:
        source = DEFAULT_SCENARIO
    if isinstance(source, dict):
        return _build(copy.deepcopy(source), overrides)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {source}: cannot be read ({exc.__class__.__name__})") from None
    try:
        return _build(scenario_check.parse_text(text, str(source)), overrides)
    except ScenarioError as exc:
        raise scenario_check.in_file(exc, text, str(source)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a value of a shape no check foresaw
        raise ScenarioError(f"scenario {source}: a value cannot be used ({exc.__class__.__name__}: {exc}); "
                            "see docs/scenario.md") from None


def _build(data: Any, overrides: dict[str, Any]) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("top level: must be a mapping (key: value), as in docs/scenario.md")
    data.update(overrides)
    scenario_check.check_values(data)
    if data.get("world"):  # every real region too (responder.sandbox.world), after the scenario's own
        data["regions"] = list(_require(data, "regions", "scenario")) + world_regions(data["regions"])
    if data.get("oci") is not None:  # an OCI-only scenario needs no other region
        OciConfig.parse(data["oci"])  # a malformed section fails at load, naming its field
        data.setdefault("regions", [])
    regions = []
    for i, r in enumerate(_require(data, "regions", "scenario")):
        where = f"regions[{i}]"
        cloud = _require(r, "cloud", where)
        if cloud not in ("aliyun", "aws"):
            raise ScenarioError(f"{where}.cloud: must be aliyun or aws, not {cloud!r}")
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
    try:
        load_policies(data.get("policies"))  # a bad policies: key fails at load, naming the problem
    except PolicyError as exc:
        raise ScenarioError(str(exc)) from None
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
