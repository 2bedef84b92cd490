"""Pure decisions: which instance types, in which zones, on which market, in what order.

Parts: Candidate, candidate_types (the type tiers), zone_subnets (zones we can launch into),
plan_candidates (the ordered offering list), markets_for (market policy → markets).

Order, as operators expect a clone to be chosen: the same type in the same zone; the same type in
other zones that have a subnet (vswitch) in the same VPC; the same vCPU and memory in other
families; the same memory with more vCPU. Architecture must match (an x86 image does not boot on
ARM). Within a tier, optional placement scores (AWS) rank higher-scored offerings first, then
cheaper ones, then the original zone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from responder.clouds.base import InstanceInfo, InstanceTypeSpec, Subnet
from responder.model import Market, Offering

SAME_TYPE_SAME_ZONE = "same-type-same-zone"
SAME_TYPE_OTHER_ZONE = "same-type-other-zone"
SAME_SHAPE_OTHER_FAMILY = "same-vcpu-memory-other-family"
SAME_MEMORY_MORE_VCPU = "same-memory-more-vcpu"
TIERS = (SAME_TYPE_SAME_ZONE, SAME_TYPE_OTHER_ZONE, SAME_SHAPE_OTHER_FAMILY, SAME_MEMORY_MORE_VCPU)
# With placement scores, every zone of the original type competes on score; the zone is a tie-break.
SCORED_RANK = {SAME_TYPE_SAME_ZONE: 0, SAME_TYPE_OTHER_ZONE: 0, SAME_SHAPE_OTHER_FAMILY: 1, SAME_MEMORY_MORE_VCPU: 2}


@dataclass(frozen=True)
class Candidate:
    instance_type: str
    zone: str
    market: str
    subnet_id: str
    tier: str

    @property
    def offering(self) -> Offering:
        return Offering(self.instance_type, self.zone, Market(self.market))

    def to_json(self) -> dict:
        return asdict(self)


def markets_for(policy: str) -> list[Market]:
    return {"spot-then-ondemand": [Market.SPOT, Market.ONDEMAND], "spot-only": [Market.SPOT],
            "ondemand": [Market.ONDEMAND]}[policy]


def _normalise_arch(arch: str) -> str:
    arch = (arch or "x86_64").lower()
    return "arm64" if arch in ("arm", "arm64", "aarch64") else "x86_64"


def source_spec(source: InstanceInfo, catalog: dict[str, InstanceTypeSpec]) -> InstanceTypeSpec:
    """The original's shape; DescribeInstances gives MiB, the catalog GiB — compare in GiB."""
    known = catalog.get(source.instance_type)
    memory_gib = source.memory_mib / 1024 if source.memory_mib else (known.memory_gib if known else 0)
    return InstanceTypeSpec(
        instance_type=source.instance_type,
        family=known.family if known else source.instance_type.rsplit(".", 1)[0],
        cpu=source.cpu or (known.cpu if known else 0),
        memory_gib=memory_gib,
        architecture=_normalise_arch(source.architecture or (known.architecture if known else "")),
    )


def candidate_types(source: InstanceInfo, catalog: dict[str, InstanceTypeSpec]) -> list[tuple[str, str]]:
    """(instance_type, tier) for every acceptable type, best first; same type first."""
    origin = source_spec(source, catalog)
    same_shape, more_cpu = [], []
    for spec in catalog.values():
        if spec.instance_type == origin.instance_type or _normalise_arch(spec.architecture) != origin.architecture:
            continue
        if abs(spec.memory_gib - origin.memory_gib) > 0.01:
            continue
        if spec.cpu == origin.cpu:
            same_shape.append(spec)
        elif spec.cpu > origin.cpu:
            more_cpu.append(spec)
    ordered = [(origin.instance_type, "same-type")]
    ordered += [(s.instance_type, SAME_SHAPE_OTHER_FAMILY) for s in sorted(same_shape, key=lambda s: s.instance_type)]
    ordered += [(s.instance_type, SAME_MEMORY_MORE_VCPU)
                for s in sorted(more_cpu, key=lambda s: (s.cpu, s.instance_type))]
    return ordered


def zone_subnets(source: InstanceInfo, subnets: list[Subnet]) -> dict[str, str]:
    """Zone → subnet id in the original's VPC; the original's own subnet for its own zone."""
    zones: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda s: s.subnet_id):
        if subnet.vpc_id == source.vpc_id and subnet.zone not in zones:
            zones[subnet.zone] = subnet.subnet_id
    if source.subnet_id:
        zones[source.zone] = source.subnet_id
    return zones


def plan_candidates(source: InstanceInfo, catalog: dict[str, InstanceTypeSpec], market: Market,
                    in_stock: set[tuple[str, str]], subnets: list[Subnet],
                    scores: dict[tuple[str, str], float] | None = None,
                    prices: dict[tuple[str, str], float] | None = None) -> list[Candidate]:
    """The launchable candidates on one market, in the order they should be tried."""
    zones = zone_subnets(source, subnets)
    zone_order = [source.zone] + sorted(z for z in zones if z != source.zone)
    scores, prices = scores or {}, prices or {}
    planned: list[Candidate] = []
    for instance_type, tier in candidate_types(source, catalog):
        group = []
        for zone in zone_order:
            if zone not in zones or (instance_type, zone) not in in_stock:
                continue
            if tier == "same-type":
                zone_tier = SAME_TYPE_SAME_ZONE if zone == source.zone else SAME_TYPE_OTHER_ZONE
            else:
                zone_tier = tier
            group.append(Candidate(instance_type, zone, market.value, zones[zone], zone_tier))
        if scores or prices:
            group.sort(key=lambda c: (SCORED_RANK[c.tier], -scores.get((c.instance_type, c.zone), 0),
                                      prices.get((c.instance_type, c.zone), float("inf")), c.zone != source.zone))
        planned.extend(group)
    return planned
