"""CreateFleet allocation strategies as EC2 documents them: which override pools a fleet fills first.

Parts: Pool (one override: its Priority, position, type, zone, free units and price), STRATEGIES
(per market, with the default), strategy_of (the request's strategy, refused when unknown),
price_of (the scenario's `prices`, else a stand-in from the type's size), fill_order (the pools in
the order the strategy takes them), diversified_share, describe_spot_price_history (the same
prices, as DescribeSpotPriceHistory answers them).

From the Amazon EC2 API Reference (SpotOptionsRequest, OnDemandOptionsRequest,
FleetLaunchTemplateOverridesRequest) and the User Guide ("Allocation strategies for Spot
Instances"):
- Priority: "If the On-Demand AllocationStrategy is set to prioritized, EC2 Fleet uses priority to
  determine which launch template override to use first ... If the Spot AllocationStrategy is set
  to capacity-optimized-prioritized, EC2 Fleet uses priority on a best-effort basis ... but
  optimizes for capacity first. ... The lower the number, the higher the priority. If no number is
  set, the launch template override has the lowest priority." No other strategy reads Priority.
- On-demand: `lowest-price` (the default) "uses price to determine the order, launching the lowest
  price first"; `prioritized` launches the highest priority first.
- Spot: `lowest-price` (the default) the cheapest pool; `capacity-optimized` the pools with the
  most spare capacity; `price-capacity-optimized` the pools with the highest capacity availability,
  then the lowest priced of those; `capacity-optimized-prioritized` capacity first, then Priority;
  `diversified` spreads the instances across all pools.
The emulator's reading of "optimizes for capacity first": a pool that can take the whole remaining
target counts as high-capacity; those come first (by price or Priority), the rest by most free.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from responder.sandbox import prices
from responder.sandbox.aws_scores import type_catalog
from responder.sandbox.aws_wire import Ec2Error, as_list, ec2_response

STRATEGIES = {
    "spot": ("lowest-price", ("lowest-price", "diversified", "capacity-optimized", "capacity-optimized-prioritized",
                              "price-capacity-optimized")),
    "ondemand": ("lowest-price", ("lowest-price", "prioritized")),
}
# Strategies that read Priority; the others ignore it, as on EC2.
PRIORITY_STRATEGIES = frozenset({"prioritized", "capacity-optimized-prioritized"})


@dataclass(frozen=True)
class Pool:
    priority: float | None
    position: int
    instance_type: str
    zone: str
    free: int
    price: float
    payload: Any = None  # the caller's (config, override)


def strategy_of(p: dict[str, Any], market: str) -> str:
    options = p.get("SpotOptions" if market == "spot" else "OnDemandOptions") or {}
    default, allowed = STRATEGIES[market]
    strategy = options.get("AllocationStrategy") or default
    if strategy not in allowed:
        kind = "Spot" if market == "spot" else "On-Demand"
        raise Ec2Error("InvalidParameterValue", f"{strategy} is not a valid {kind} AllocationStrategy; "
                                                f"valid values: {', '.join(allowed)}")
    return strategy


def price_of(scenario_raw: dict[str, Any], catalog: dict[str, tuple[int, int]], instance_type: str, zone: str | None,
             market: str) -> float:
    """A scenario `prices` rule {type, zone?, market?, price} wins; otherwise a stand-in that grows
    with vCPUs and memory (spot at 30% of on-demand), so lowest-price has something to compare
    (sandbox/prices.py)."""
    cpu, mib = catalog.get(instance_type, (1, 1024))
    return prices.price_of(scenario_raw, cpu, mib, instance_type, zone, market)


def _by_priority(pool: Pool) -> tuple:
    return (pool.priority is None, pool.priority or 0.0, pool.position)


def fill_order(strategy: str, pools: list[Pool], remaining: int) -> list[Pool]:
    if strategy == "prioritized":
        return sorted(pools, key=_by_priority)
    if strategy == "lowest-price":
        return sorted(pools, key=lambda p: (p.price, p.position))
    if strategy == "capacity-optimized":
        return sorted(pools, key=lambda p: (-p.free, p.position))
    if strategy in ("price-capacity-optimized", "capacity-optimized-prioritized"):
        roomy = [p for p in pools if p.free >= remaining]
        tight = sorted((p for p in pools if p.free < remaining), key=lambda p: (-p.free, p.position))
        first = (sorted(roomy, key=_by_priority) if strategy == "capacity-optimized-prioritized"
                 else sorted(roomy, key=lambda p: (p.price, p.position)))
        return first + tight
    return sorted(pools, key=lambda p: p.position)  # diversified: every pool, in turn


def diversified_share(strategy: str, pools: list[Pool], total: int) -> int | None:
    """How many one pool may take in the first pass: an even share for `diversified`, else no cap."""
    if strategy != "diversified":
        return None
    with_stock = [p for p in pools if p.free > 0] or pools
    return max(1, -(-total // len(with_stock)))


def describe_spot_price_history(call) -> tuple[int, bytes]:
    """DescribeSpotPriceHistory from the same prices the fleet strategies weigh (moto answers one
    flat price for everything), one current Linux/UNIX price per offered (type, zone)."""
    p = call.p
    wanted = set(as_list(p.get("InstanceType")))
    zones = set(call.view.zones)
    for f in as_list(p.get("Filter")):
        if f.get("Name") == "availability-zone":
            zones &= set(as_list(f.get("Value")))
        elif f.get("Name") == "instance-type":
            wanted = (wanted & set(as_list(f.get("Value")))) if wanted else set(as_list(f.get("Value")))
    products = set(as_list(p.get("ProductDescription"))) or {"Linux/UNIX"}
    catalog = type_catalog(call)
    now = _dt.datetime.now(_dt.timezone.utc)
    rows = [{"AvailabilityZone": z, "InstanceType": t, "ProductDescription": "Linux/UNIX", "Timestamp": now,
             "SpotPrice": f"{price_of(call.emulator.scenario.raw, catalog, t, z, 'spot'):.6f}"}
            for t in sorted(wanted or catalog) for z in sorted(zones)
            if "Linux/UNIX" in products and call.view.offered(t, z)]
    return 200, ec2_response("DescribeSpotPriceHistory", {"SpotPriceHistory": rows})
