"""DescribePrice (ECS 2014-05-26) for the Aliyun wire emulator: the scenario's prices, in ECS's shape.

Parts: describe_price, PRICE_ACTIONS.

The API reference ("DescribePrice", ECS 2014-05-26): ResourceType `instance` needs InstanceType
(else InvalidInstanceType.Missing, 404); PriceUnit Hour (the default), Week, Month or Year;
SpotStrategy NoSpot (the default), SpotAsPriceGo or SpotWithPriceLimit asks the pay-as-you-go or
the preemptible price; ZoneId the zone. The answer is PriceInfo {Price {OriginalPrice,
DiscountPrice, TradePrice, Currency}, Rules {Rule: [...]}}: TradePrice is what is paid, the original
price less DiscountPrice. For a preemptible price the emulator gives the pay-as-you-go price as
OriginalPrice and the spot price as TradePrice. The harsher readings: an unknown type is
InvalidInstanceType.ValueNotSupported, a zone the type is not sold in InvalidZoneId.NotFound, and
only hourly prices are served (a subscription price is InvalidPriceUnit.ValueNotSupported here).
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aliyun_ecs_state import EcsError, World
from responder.sandbox.prices import currency_of, price_of
from responder.sandbox.scenario import Region

SPOT_STRATEGIES = ("NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit")


def describe_price(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    if params.get("ResourceType", "instance") != "instance":
        raise EcsError("InvalidResourceType.ValueNotSupported", "The specified parameter ResourceType is not valid.", 400)
    itype = params.get("InstanceType", "")
    if not itype:
        raise EcsError("InvalidInstanceType.Missing", "The InstanceType parameter that is mandatory for processing "
                                                      "the request is not provided.", 404)
    if params.get("PriceUnit", "Hour") != "Hour":
        raise EcsError("InvalidPriceUnit.ValueNotSupported", "The specified parameter PriceUnit is not valid.", 400)
    strategy = params.get("SpotStrategy", "NoSpot")
    if strategy not in SPOT_STRATEGIES:
        raise EcsError("InvalidSpotStrategy", "The specified parameter SpotStrategy is not valid.", 400)
    spec = world.catalog(region).get(itype)
    if spec is None:
        raise EcsError("InvalidInstanceType.ValueNotSupported",
                       "The specified InstanceType does not exist or beyond the permitted range.", 400)
    zone = params.get("ZoneId") or None
    if zone is not None and zone not in world.type_zones(region, spec):
        raise EcsError("InvalidZoneId.NotFound", f"The specified zone does not exist: {zone}", 404)
    cpu, mib = int(spec.get("cpu", 1)), int(float(spec.get("memory_gib", 1)) * 1024)
    raw = world.scenario.raw
    ondemand = price_of(raw, cpu, mib, itype, zone, "ondemand")
    market = "ondemand" if strategy == "NoSpot" else "spot"
    paid = price_of(raw, cpu, mib, itype, zone, market)
    return {"PriceInfo": {
        "Price": {"OriginalPrice": ondemand, "DiscountPrice": round(ondemand - paid, 4), "TradePrice": paid,
                  "Currency": currency_of(raw, "aliyun", itype, zone, market)},
        "Rules": {"Rule": []},
    }}


PRICE_ACTIONS = {"DescribePrice": describe_price}
