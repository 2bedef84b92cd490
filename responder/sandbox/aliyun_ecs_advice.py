"""DescribeSpotAdvice (ECS 2014-05-26) for the Aliyun wire emulator: the scenario's interruption
bands (spot_advice.py: where they come from, the API's shape and the harsher readings).

Parts: describe_spot_advice, ADVICE_ACTIONS.
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aliyun_ecs_state import EcsError, World, repeat_list
from responder.sandbox.scenario import Region
from responder.sandbox.spot_advice import discount, pool_rates

ALIYUN_DESCS = ((3.0, "0-3%"), (5.0, "3-5%"), (10.0, "5-10%"))  # above the last: "10-100%"
MAX_TYPES = 10


def _aliyun_desc(rate: float) -> str:
    return next((desc for top, desc in ALIYUN_DESCS if rate <= top), "10-100%")


def _wanted(spec: dict[str, Any], params: dict[str, str], types: list[str]) -> bool:
    if types:
        return spec["type"] in types
    cpu, memory = int(spec.get("cpu", 0)), float(spec.get("memory_gib", 0))
    checks = (("Cores", lambda v: cpu == int(v)), ("Memory", lambda v: abs(memory - float(v)) < 0.01),
              ("MinCores", lambda v: cpu >= int(v)), ("MinMemory", lambda v: memory >= float(v)),
              ("InstanceTypeFamily", lambda v: spec.get("family") == v))
    return all(test(params[name]) for name, test in checks if params.get(name))


def describe_spot_advice(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    types = repeat_list(params, "InstanceTypes")
    if len(types) > MAX_TYPES:
        raise EcsError("InvalidParameter.InstanceTypes", f"The InstanceTypes parameter accepts at most {MAX_TYPES} "
                                                        "instance types.", 400)
    zone_asked = params.get("ZoneId") or None
    if zone_asked is not None and zone_asked not in region.zones:
        raise EcsError("InvalidZoneId.NotFound", f"The specified zone does not exist: {zone_asked}", 404)
    raw, rates = world.scenario.raw, pool_rates(world.scenario.raw, region)
    zones = []
    for zone in [zone_asked] if zone_asked else region.zones:
        resources = [{"InstanceType": spec["type"], "InterruptionRate": rates[(spec["type"], zone)],
                      "InterruptRateDesc": _aliyun_desc(rates[(spec["type"], zone)]),
                      "AverageSpotDiscount": discount(raw, spec, zone)}
                     for spec in region.instance_types
                     if (spec["type"], zone) in rates and zone in world.type_zones(region, spec)
                     and _wanted(spec, params, types)]
        if resources:
            zones.append({"ZoneId": zone, "AvailableSpotResources": {"AvailableSpotResource": resources}})
    return {"RegionId": region.region, "AvailableSpotZones": {"AvailableSpotZone": zones}}


ADVICE_ACTIONS = {"DescribeSpotAdvice": describe_spot_advice}
