"""GetSpotPlacementScores as EC2 documents it: one score per Region or per zone for a *set* of types.

Parts: CONFIGS_PER_DAY (the emulator's request-configuration limit), ScoreBook (configurations
first used in the last 24 hours, per account), type_catalog (vCPUs and MiB per type),
get_spot_placement_scores (the handler), _request
(the parameters checked as EC2 checks them), _location_score (capacity of the set against the
target, then the few-types cap).

The rules, each from the Amazon EC2 User Guide ("Spot placement score", "How Spot placement score
works") or the API Reference (GetSpotPlacementScores, SpotPlacementScore):
- "Each Region or Availability Zone is scored on a scale from 1 to 10, with 10 indicating that your
  Spot request is highly likely to succeed, and 1 indicating that your Spot request is not likely
  to succeed." The emulator's likelihood is the free spot capacity of the whole set in the
  location divided by the target (10 when ten times the target is free, 1 when it cannot be met).
- A Region score "assumes that your fleet request will be configured to use all Availability Zones
  and the capacity-optimized allocation strategy"; with SingleAvailabilityZone=true each zone is
  scored on its own. So a Region counts the set's capacity in every zone; a zone only its own.
- TargetCapacityUnitType `vcpu` or `memory-mib` counts each type by its vCPUs or MiB ("The Spot
  placement score feature then considers each instance type in the request by its number of
  vCPUs"); the default is instances (`units`).
- "If you specify instance types, you must specify at least three different instance types,
  otherwise Amazon EC2 will return a low Spot placement score"; variations of one type (with and
  without instance storage) count as one. EC2 gives no number for "low": the emulator caps such a
  set at 3 (the harsher reading: never above the bottom third of the scale).
- "We can limit the number of new request configurations within a 24-hour period ... you can retry
  the request configurations that you've already used, but you can't specify new request
  configurations until the next 24-hour period." EC2 publishes no number and answers
  MaxConfigLimitExceeded ("You have exceeded your maximum allowed Spot placement configurations.
  You can retry configurations that you used within the last 24 hours, or wait for 24 hours before
  specifying a new configuration."). The emulator allows `placement_score_configs_per_day` new
  configurations (default 10) per account in a rolling 24 hours of scenario time; a configuration
  is every request parameter as sent, the type list in the order sent (the harsher reading: the
  same set in another order is another configuration).
- RegionNames narrows the Regions scored; without it every Region is scored; the answer holds "the
  top 10 Regions or Availability Zones", best first.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from responder.clouds.spot_groups import MIN_GROUP, distinct_count
from responder.sandbox.aws_wire import Ec2Error, as_list, ec2_response

CONFIGS_PER_DAY = 10
DAY_SECONDS = 24 * 3600.0
FEW_TYPES_CAP = 3
UNITS = ("units", "vcpu", "memory-mib")
MAX_TARGET = 2_000_000_000  # TargetCapacity valid range 1..2000000000 (API Reference)
_BOOKS_LOCK = threading.Lock()
_LIMIT_MESSAGE = ("You have exceeded your maximum allowed Spot placement configurations. You can retry "
                  "configurations that you used within the last 24 hours, or wait for 24 hours before "
                  "specifying a new configuration.")


class ScoreBook:
    """Request configurations by first use, in scenario time; thread-safe."""

    def __init__(self, clock: Callable[[], float], limit: int):
        self._clock = clock
        self._limit = limit
        self._first_used: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def admit(self, configuration: tuple) -> bool:
        """True when the configuration was used in the last 24 hours or a new one still fits."""
        now = self._clock()
        with self._lock:
            for key, first in list(self._first_used.items()):
                if now - first >= DAY_SECONDS:
                    del self._first_used[key]
            if configuration in self._first_used:
                return True
            if len(self._first_used) >= self._limit:
                return False
            self._first_used[configuration] = now
            return True


def _book(call) -> ScoreBook:
    limit = int(call.emulator.scenario.raw.get("placement_score_configs_per_day", CONFIGS_PER_DAY))
    with _BOOKS_LOCK:  # one book per emulator and account, created once
        books = call.emulator.__dict__.setdefault("_score_books", {})
        return books.setdefault(call.view.account, ScoreBook(call.emulator.clock, limit))


def type_catalog(call) -> dict[str, tuple[int, int]]:
    """type → (vCPUs, MiB): the scenario's catalog where it lists types, else moto's real one."""
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    out = {name: (int(raw.get("VCpuInfo", {}).get("DefaultVCpus", 1)), int(raw.get("MemoryInfo", {}).get("SizeInMiB", 1024)))
           for name, raw in INSTANCE_TYPES.items()}
    for region in call.emulator.regions:
        for t in region.instance_types:
            out[t["type"]] = (int(t.get("cpu", 1)), int(float(t.get("memory_gib", 1)) * 1024))
    return out


def _request(call) -> dict[str, Any]:
    p = call.p
    types = [str(t) for t in as_list(p.get("InstanceType"))]
    if p.get("InstanceRequirementsWithMetadata"):
        if types:
            raise Ec2Error("InvalidParameterCombination",
                           "If you specify InstanceTypes, you can't specify InstanceRequirementsWithMetadata.")
        # Harsher than EC2, which resolves attributes to types: the sandbox does not, and says so.
        raise Ec2Error("InvalidParameterValue", "The sandbox scores InstanceTypes only, not InstanceRequirementsWithMetadata.")
    if not types:
        raise Ec2Error("MissingParameter", "The request must contain the parameter InstanceTypes or "
                                           "InstanceRequirementsWithMetadata.")
    catalog = type_catalog(call)
    unknown = [t for t in types if t not in catalog]
    if unknown:
        raise Ec2Error("InvalidParameterValue", f"The following supplied instance types do not exist: [{', '.join(unknown)}]")
    raw_target = p.get("TargetCapacity")
    try:
        target = int(raw_target)
    except (TypeError, ValueError):
        raise Ec2Error("MissingParameter" if raw_target is None else "InvalidParameterValue",
                       "The request must contain the parameter TargetCapacity (an integer).") from None
    if not 1 <= target <= MAX_TARGET:
        raise Ec2Error("InvalidParameterValue", f"TargetCapacity must be between 1 and {MAX_TARGET}, not {target}.")
    unit = p.get("TargetCapacityUnitType") or "units"
    if unit not in UNITS:
        raise Ec2Error("InvalidParameterValue", f"TargetCapacityUnitType must be one of {', '.join(UNITS)}, not {unit}.")
    regions = [str(r) for r in as_list(p.get("RegionName"))]
    unknown_regions = [r for r in regions if r not in call.emulator.views]
    if unknown_regions:
        # EC2's exact answer for a Region it does not know is undocumented: refuse, the harsher reading.
        raise Ec2Error("InvalidParameterValue", f"Invalid region name(s): [{', '.join(unknown_regions)}]")
    single_az = str(p.get("SingleAvailabilityZone", "false")).lower() == "true"
    return {"types": types, "target": target, "unit": unit, "regions": regions, "single_az": single_az,
            "weight": lambda t: 1 if unit == "units" else catalog[t][0] if unit == "vcpu" else catalog[t][1]}


def _rule_score(view, types: list[str], zone: str | None) -> int | None:
    """A scenario `placement_scores` rule {type|types, zone?, score} naming one of the types."""
    for rule in view.scores:
        rule_types = rule.get("types") or [rule.get("type")]
        if rule.get("zone") == zone and set(types) & set(rule_types):
            return int(rule["score"])
    return None


def _location_score(view, req: dict[str, Any], zones: list[str], zone: str | None) -> int:
    score = _rule_score(view, req["types"], zone)
    if score is None:
        free = sum(view.stock.available(t, z, "spot") * req["weight"](t)
                   for t in req["types"] for z in zones if view.offered(t, z))
        score = min(10, max(1, free // req["target"]))
    if distinct_count(req["types"]) < MIN_GROUP:
        score = min(score, FEW_TYPES_CAP)
    return score


def get_spot_placement_scores(call) -> tuple[int, bytes]:
    req = _request(call)
    configuration = (tuple(req["types"]), req["target"], req["unit"], req["single_az"], tuple(req["regions"]))
    if not _book(call).admit(configuration):
        raise Ec2Error("MaxConfigLimitExceeded", _LIMIT_MESSAGE)
    scores = []
    for name in req["regions"] or list(call.emulator.views):
        view = call.emulator.views[name]
        if req["single_az"]:
            scores += [{"Region": name, "AvailabilityZoneId": view.zone_ids.get(z, z),
                        "Score": _location_score(view, req, [z], z)} for z in view.zones]
        else:
            scores.append({"Region": name, "Score": _location_score(view, req, view.zones, None)})
    scores.sort(key=lambda s: -s["Score"])  # stable: equal scores keep region / zone order
    return 200, ec2_response("GetSpotPlacementScores", {"SpotPlacementScores": scores[:10]})
