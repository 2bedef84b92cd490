"""The interruption bands the clouds publish, served from the scenario: Aliyun's DescribeSpotAdvice
and the document behind AWS's Spot Instance Advisor.

Parts: pool_rates (scenario → {(type, zone): rate in %}), discount (the
spot price as a % of on-demand), advisor_document (the AWS JSON), serve_advisor and ADVISOR_PATH
(its route). The Aliyun action is aliyun_ecs_advice.py.

Where the bands come from, per region: the region's `spot_advice:` (docs/scenario.md
`spot_advice`): `default` (the band of every pool not listed; omitted: no data for those) and
`pools` ({type, zone, band} or {type, zone, rate} in %; zone omitted: every zone of the type).
A region without it takes the scenario's `spot_month:` pools (the month benchmark's pack states
its pools' bands there; `calm_band` for the rest). Neither: the cloud publishes nothing, and both
answers are empty for that region.

Aliyun, DescribeSpotAdvice (ECS 2014-05-26; https://help.aliyun.com/zh/ecs/developer-reference/api-describespotadvice):
RegionId, optional ZoneId (default: every zone), InstanceTypes.N (at most 10), Cores / Memory or
MinCores / MinMemory, InstanceTypeFamily. The answer: RegionId and AvailableSpotZones
{AvailableSpotZone: [{ZoneId, AvailableSpotResources {AvailableSpotResource: [{InstanceType,
InterruptionRate (the average release rate over the last 30 days, in %), InterruptRateDesc (its
range: 0-3%, 3-5%, 5-10% or 10-100%), AverageSpotDiscount (the average spot price as a % of the
pay-as-you-go one)}]}}]}. The harsher readings: more than 10 InstanceTypes is
InvalidParameter.InstanceTypes; an unknown ZoneId is InvalidZoneId.NotFound; a zone that does not
sell a type has no entry for it.

AWS: the Spot Instance Advisor's data (https://aws.amazon.com/ec2/spot/instance-advisor/, served at
https://spot-bio.s3.amazonaws.com/spot-advisor-data.json): `ranges` [{index, label, dots, max}]
for <5 %, 5-10 %, 10-15 %, 15-20 % and >20 % ("frequency of interruption": the rate at which Spot
reclaimed capacity during the trailing month), `instance_types` {type: {emr, cores, ram_gb}} and
`spot_advisor` {region: {"Linux": {type: {"s": savings %, "r": index into ranges}}}}. The Advisor
is per region and type, not per zone: a type whose zones the scenario states apart is published at
the mean of their rates (the fleet's share in each zone unknown, the plain mean is the stated
choice).
"""

from __future__ import annotations

import json
from statistics import mean
from typing import Any

from responder.sandbox.prices import price_of
from responder.sandbox.scenario import Region, Scenario
from responder.sandbox.spot_advice_check import BANDS, STATED_RATES

# A rate on a band's edge goes into the higher band (the harsher reading).
ADVISOR_RANGES = [{"index": i, "label": label, "dots": i, "max": top}
                  for i, (label, top) in enumerate(zip(BANDS, (5, 10, 15, 20, 100)))]
ADVISOR_PATH = "/spot-advisor-data.json"


def _section(scenario_raw: dict[str, Any], region: Region) -> tuple[dict[str, float], float | None] | None:
    """(pool rates as stated, the default rate) for a region, or None: nothing published."""
    own = region.raw.get("spot_advice")
    if own is not None:
        default = own.get("default")
        stated = {}
        for pool in own.get("pools") or []:
            rate = float(pool["rate"]) if "rate" in pool else STATED_RATES[pool["band"]]
            for zone in [pool["zone"]] if pool.get("zone") else region.zones:
                stated[(pool["type"], zone)] = rate
        return stated, (STATED_RATES[default] if default else None)
    month = scenario_raw.get("spot_month")
    if not month:
        return None
    bands = {label: 100.0 * float(share) for label, share in (month.get("bands") or {}).items()}
    stated = {(p["type"], p["zone"]): bands[p["band"]] for p in month.get("pools") or []
              if p.get("cloud") == region.cloud}
    return stated, bands.get(month.get("calm_band", ""))


def pool_rates(scenario_raw: dict[str, Any], region: Region) -> dict[tuple[str, str], float]:
    """(type, zone) → the published 30-day interruption rate in %, for every type and zone of the
    region the scenario gives a band (stated, or by default)."""
    section = _section(scenario_raw, region)
    if section is None:
        return {}
    stated, default = section
    found = {}
    for spec in region.instance_types:
        for zone in spec.get("zones") or region.zones:
            rate = stated.get((spec["type"], zone), default)
            if rate is not None:
                found[(spec["type"], zone)] = rate
    return found


def discount(raw: dict[str, Any], spec: dict[str, Any], zone: str | None) -> int:
    """The spot price as a whole % of the pay-as-you-go one, from the scenario's prices."""
    cpu, mib = int(spec.get("cpu", 1)), int(float(spec.get("memory_gib", 1)) * 1024)
    ondemand = price_of(raw, cpu, mib, spec["type"], zone, "ondemand")
    return max(1, min(100, round(100 * price_of(raw, cpu, mib, spec["type"], zone, "spot") / ondemand))) \
        if ondemand else 100


def _band_index(rate: float) -> int:
    """The Advisor's range for a rate in %: the first whose `max` it stays under."""
    return next((r["index"] for r in ADVISOR_RANGES if rate < r["max"]), len(BANDS) - 1)


def advisor_document(scenario: Scenario) -> dict[str, Any]:
    """The Spot Instance Advisor's JSON for every aws region of the scenario that publishes bands."""
    advisor, types = {}, {}
    for region in scenario.regions_of("aws"):
        rates = pool_rates(scenario.raw, region)
        linux = {}
        for spec in region.instance_types:
            zoned = [rate for (itype, _), rate in rates.items() if itype == spec["type"]]
            if not zoned:
                continue
            linux[spec["type"]] = {"s": 100 - discount(scenario.raw, spec, None), "r": _band_index(mean(zoned))}
            types[spec["type"]] = {"emr": False, "cores": int(spec.get("cpu", 1)),
                                   "ram_gb": float(spec.get("memory_gib", 1))}
        if linux:
            advisor[region.region] = {"Linux": linux}
    return {"global_rate": "<10%", "instance_types": types, "ranges": ADVISOR_RANGES, "spot_advisor": advisor}


def serve_advisor(scenario: Scenario, start_response) -> list[bytes]:
    """GET /spot-advisor-data.json: the document as S3 serves it, public (no signature)."""
    data = json.dumps(advisor_document(scenario)).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
