"""ECS capacity actions for the Aliyun wire emulator: stock, launches and capacity reservations.

Parts: describe_available_resource, run_instances, delete_instance, create_capacity_reservation,
modify_capacity_reservation, describe_capacity_reservations, release_capacity_reservation, and
CAPACITY_ACTIONS (Action name → function). Stock comes from the scenario's StockBook: spot launches
draw on the "spot" market, everything else (on-demand launches, reservations) on "ondemand".
Launches are all-or-nothing, as RunInstances without MinAmount is.
"""

from __future__ import annotations

import re
import time
from typing import Any

from responder.sandbox.aliyun_ecs_clone import launch_attributes
from responder.sandbox.aliyun_ecs_disks import release
from responder.sandbox.aliyun_ecs_state import (
    EcsError,
    World,
    int_param,
    json_list,
    new_id,
    not_found,
    page_token,
    repeat_list,
    repeat_tags,
    require,
)
from responder.sandbox.scenario import Region

NO_STOCK = ("OperationDenied.NoStock",
            "The resource is out of stock in the specified zone. Please try other types, or choose other regions and zones.")


def _market(params: dict[str, str]) -> str:
    spot = params.get("SpotStrategy", "NoSpot") or "NoSpot"
    return "ondemand" if spot == "NoSpot" else "spot"


def describe_available_resource(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    destination = require(params, "DestinationResource")
    if destination != "InstanceType":
        raise EcsError("InvalidParameter.DestinationResource",
                       "The sandbox only answers DestinationResource=InstanceType.", 400)
    market = _market(params)
    zones = [params["ZoneId"]] if params.get("ZoneId") else list(region.zones)
    zone_rows = []
    for zone in zones:
        supported = []
        for spec in region.instance_types:
            if params.get("InstanceType") and spec["type"] != params["InstanceType"]:
                continue
            if zone not in world.type_zones(region, spec):
                continue
            free = world.stock.available(spec["type"], zone, market)
            supported.append({"Value": spec["type"], "Status": "Available" if free > 0 else "SoldOut",
                              "StatusCategory": "WithStock" if free > 0 else "WithoutStock"})
        if not supported:
            continue
        any_stock = any(s["StatusCategory"] == "WithStock" for s in supported)
        zone_rows.append({
            "RegionId": region.region, "ZoneId": zone,
            "Status": "Available" if any_stock else "SoldOut",
            "StatusCategory": "WithStock" if any_stock else "WithoutStock",
            "AvailableResources": {"AvailableResource": [
                {"Type": "InstanceType", "SupportedResources": {"SupportedResource": supported}}]},
        })
    return {"AvailableZones": {"AvailableZone": zone_rows}}


def _check_offering(world: World, region: Region, instance_type: str, zone: str) -> None:
    spec = world.catalog(region).get(instance_type)
    if spec is None:
        raise EcsError("InvalidInstanceType.ValueNotSupported",
                       "The specified InstanceType beyond the permitted range.", 400)
    if zone not in region.zones:
        raise EcsError("InvalidZoneId.NotFound", f"The specified zone does not exist: {zone}", 404)
    if zone not in world.type_zones(region, spec):
        raise EcsError("InvalidResourceType.NotSupported",
                       "This resource type is not supported; please try other resource types.", 403)


def _check_image(world: World, region: Region, image_id: str) -> None:
    image = world.images.get(image_id)
    if image is None or image["region"] != region.region:
        raise not_found("ImageId", image_id)
    if world.image_status(image)[0] != "Available":
        raise EcsError("IncorrectImageStatus", "The image is not available.", 400)


def _reservation_room(world: World, params: dict[str, str], region: Region, itype: str, zone: str) -> list[dict]:
    """Reservations this on-demand launch may draw on: the named one (Target), or any Open one."""
    criteria = params.get("PrivatePoolOptions.MatchCriteria", "Open") or "Open"
    pool_id = params.get("PrivatePoolOptions.Id", "")
    if criteria == "None":
        return []
    if pool_id:
        res = world.reservations.get(pool_id)
        if res is None or res["region"] != region.region:
            raise EcsError("InvalidParameter.PrivatePoolOptions.Id", "The specified PrivatePoolOptions.Id is invalid.", 400)
        return [res] if (res["type"], res["zone"]) == (itype, zone) else []
    return [r for r in world.reservations.values()
            if r["region"] == region.region and r["match"] == "Open" and r["status"] == "Active"
            and (r["type"], r["zone"]) == (itype, zone)]


def run_instances(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("RunInstances", params)
    if answer is not None:
        return answer
    image_id = require(params, "ImageId")
    itype = require(params, "InstanceType")
    amount = int_param(params, "Amount", 1)
    if not 1 <= amount <= 100:
        raise EcsError("InvalidParameter.Amount", "The specified Amount is not valid (1-100).", 400)
    vswitch_id = require(params, "VSwitchId")
    subnet = world.subnet(region, vswitch_id)
    if subnet is None:
        raise not_found("VSwitchId", vswitch_id)
    zone = params.get("ZoneId") or subnet["zone"]
    if zone != subnet["zone"]:
        raise EcsError("InvalidParameter.Mismatch", "The specified VSwitch is not in the specified zone.", 400)
    _check_offering(world, region, itype, zone)
    _check_image(world, region, image_id)
    attributes = launch_attributes(region, params, itype, zone)
    market = _market(params)
    if params.get("DryRun", "").lower() == "true":
        if world.stock.available(itype, zone, market) < amount:
            raise EcsError(NO_STOCK[0], NO_STOCK[1], 403)
        raise EcsError("DryRunOperation", "Request validation has been passed with DryRun flag set.", 400)
    # Capacity: on-demand launches use matching reservations first, then free stock.
    pools = _reservation_room(world, params, region, itype, zone) if market == "ondemand" else []
    from_pools, plan = 0, []
    for res in pools:
        take = min(res["total"] - res["used"], amount - from_pools)
        if take > 0:
            plan.append((res, take))
            from_pools += take
    rest = amount - from_pools
    if rest and not world.stock.take(itype, zone, market, rest):
        raise EcsError(NO_STOCK[0], NO_STOCK[1], 403)
    for res, take in plan:
        res["used"] += take
    tags = repeat_tags(params)
    groups = repeat_list(params, "SecurityGroupIds") or ([params["SecurityGroupId"]] if params.get("SecurityGroupId") else [])
    bandwidth = int_param(params, "InternetMaxBandwidthOut", 0)
    now = world.clock()
    ids = []
    for n in range(amount):
        instance_id = new_id("i", region.region)
        ids.append(instance_id)
        world.instances[instance_id] = {
            "id": instance_id, "region": region.region, "type": itype, "zone": zone, "subnet": vswitch_id,
            "image": image_id, "spot_strategy": params.get("SpotStrategy", "NoSpot") or "NoSpot",
            "charge_type": params.get("InstanceChargeType", "PostPaid") or "PostPaid",
            "status": "Pending", "locks": [], "created": now, "boot_at": now + world.boot_seconds,
            "name": params.get("InstanceName", instance_id), "hostname": params.get("HostName", ""),
            "security_groups": groups, "key_pair": params.get("KeyPairName", ""), "tags": tags,
            "ram_role": params.get("RamRoleName", ""), "user_data": params.get("UserData", ""),
            "public_ip": f"47.96.{(len(world.instances) // 250) % 250}.{len(world.instances) % 250 + 1}" if bandwidth else "",
            "bandwidth_out": bandwidth, "market": market, "from_pool": n < from_pools,
            "system_disk": {"category": params.get("SystemDisk.Category", "cloud_efficiency"),
                            "size": int_param(params, "SystemDisk.Size", 40), "content": world.image_content(image_id)},
            "private_ip": world.next_private_ip(), **attributes,
        }
    answer = {"InstanceIdSets": {"InstanceIdSet": ids}, "TradePrice": 0.0}
    world.remember("RunInstances", params, answer)
    return answer


def delete_instance(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    instance_id = require(params, "InstanceId")
    inst = world.instances.get(instance_id)
    if inst is None or inst["region"] != region.region:
        raise not_found("InstanceId", instance_id)
    release(world, inst, world.clock())  # its disks and EIP as a release leaves them
    # Releasing an instance frees its capacity for the next buyer (or its reservation slot).
    if not inst.get("from_pool"):
        world.stock.give_back(inst["type"], inst["zone"], inst.get("market", "ondemand"), 1)
    return {}


def create_capacity_reservation(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("CreateCapacityReservation", params)
    if answer is not None:
        return answer
    itype = require(params, "InstanceType")
    zones = repeat_list(params, "ZoneId")
    if not zones:
        raise EcsError("MissingParameter.ZoneId", "The input parameter ZoneId that is mandatory is not supplied.", 400)
    amount = int_param(params, "InstanceAmount", 0)
    if not 1 <= amount <= 1000:
        raise EcsError("InvalidParameter.InstanceAmount", "The specified InstanceAmount is not valid (1-1000).", 400)
    match = params.get("PrivatePoolOptions.MatchCriteria", "Open") or "Open"
    if match not in ("Open", "Target"):
        raise EcsError("InvalidParameter.MatchCriteria", "MatchCriteria must be Open or Target.", 400)
    _check_offering(world, region, itype, zones[0])
    if not world.stock.take(itype, zones[0], "ondemand", amount):
        raise EcsError(NO_STOCK[0], NO_STOCK[1], 403)
    pool_id = new_id("crp", region.region)
    world.reservations[pool_id] = {
        "id": pool_id, "region": region.region, "type": itype, "zone": zones[0], "total": amount, "used": 0,
        "match": match, "name": params.get("PrivatePoolOptions.Name", ""), "created": world.clock(),
        "tags": repeat_tags(params), "charge": params.get("InstanceChargeType", "PostPaid") or "PostPaid",
        "platform": params.get("Platform", "linux") or "linux", "status": "Active",
        "end_time": _end_time(params),
    }
    answer = {"PrivatePoolOptionsId": pool_id}
    world.remember("CreateCapacityReservation", params, answer)
    return answer


def _end_time(params: dict[str, str]) -> str:
    """EndTimeType Limited needs EndTime (yyyy-MM-ddTHH:mm:ssZ, UTC), as CreateCapacityReservation
    documents it; Unlimited takes none."""
    limited = (params.get("EndTimeType") or "Unlimited") == "Limited"
    end = params.get("EndTime", "")
    if limited and not end:
        raise EcsError("MissingParameter.EndTime", "The input parameter EndTime that is mandatory is not supplied.", 400)
    if end and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z", end):
        raise EcsError("InvalidParameter.EndTime", "The specified EndTime is not valid.", 400)
    return end if limited else ""


def set_reservation_status(world: World, pool_id: str, status: str) -> None:
    """Sandbox lever: Pending / Preparing / Prepared hold their units; Released gives the unused
    ones back to the zone (what a pool at its EndTime, or released, does)."""
    res = world.reservations[pool_id]
    if res["status"] != "Released" and status == "Released":
        world.stock.give_back(res["type"], res["zone"], "ondemand", res["total"] - res["used"])
    res["status"] = status


def _release_ended(world: World) -> None:
    """A Limited pool is released at its EndTime (the harsher reading of "released when it
    expires": at the exact time, not some time after)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for res in list(world.reservations.values()):
        end = res.get("end_time", "")
        if res["status"] != "Released" and end and (end if end.count(":") == 2 else end[:-1] + ":00Z") <= now:
            set_reservation_status(world, res["id"], "Released")


def _reservation(world: World, region: Region, pool_id: str) -> dict[str, Any]:
    res = world.reservations.get(pool_id)
    if res is None or res["region"] != region.region or res["status"] != "Active":
        raise EcsError("InvalidParameter.PrivatePoolOptions.Id", "The specified PrivatePoolOptions.Id is invalid.", 400)
    return res


def modify_capacity_reservation(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    res = _reservation(world, region, require(params, "PrivatePoolOptions.Id"))
    if params.get("InstanceAmount"):
        total = int_param(params, "InstanceAmount", res["total"])
        if total < max(res["used"], 1) or total > 1000:
            raise EcsError("InvalidParameter.InstanceAmount", "The specified InstanceAmount is not valid.", 400)
        growth = total - res["total"]
        if growth > 0 and not world.stock.take(res["type"], res["zone"], "ondemand", growth):
            raise EcsError(NO_STOCK[0], NO_STOCK[1], 403)
        if growth < 0:
            world.stock.give_back(res["type"], res["zone"], "ondemand", -growth)
        res["total"] = total
    if params.get("PrivatePoolOptions.Name"):
        res["name"] = params["PrivatePoolOptions.Name"]
    return {}


def release_capacity_reservation(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    res = _reservation(world, region, require(params, "PrivatePoolOptions.Id"))
    if res["status"] == "Active":
        # Unused reserved units go back to the shared pool; launched instances keep theirs.
        world.stock.give_back(res["type"], res["zone"], "ondemand", res["total"] - res["used"])
        res["status"] = "Released"
    return {}


def _reservation_json(world: World, res: dict[str, Any]) -> dict[str, Any]:
    return {
        "PrivatePoolOptionsId": res["id"], "PrivatePoolOptionsName": res["name"],
        "PrivatePoolOptionsMatchCriteria": res["match"], "RegionId": res["region"], "Status": res["status"],
        "StartTime": world.timestamp(res["created"]), "StartTimeType": "Now", "EndTime": res.get("end_time", ""),
        "EndTimeType": "Limited" if res.get("end_time") else "Unlimited", "InstanceChargeType": res["charge"], "Platform": res["platform"],
        "AllocatedResources": {"AllocatedResource": [{
            "zoneId": res["zone"], "InstanceType": res["type"], "TotalAmount": res["total"],
            "UsedAmount": res["used"], "AvailableAmount": res["total"] - res["used"]}]},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in res["tags"].items()]},
    }


def describe_capacity_reservations(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    _release_ended(world)
    ids = json_list(params, "PrivatePoolOptions.Ids")
    rows = [_reservation_json(world, r) for r in world.reservations.values()
            if r["region"] == region.region and (not ids or r["id"] in ids)
            and (not params.get("InstanceType") or r["type"] == params["InstanceType"])
            and (not params.get("ZoneId") or r["zone"] == params["ZoneId"])
            and (not params.get("Status") or r["status"] == params["Status"])]
    page, token = page_token(rows, params, 10, 100)
    return {"TotalCount": len(rows), "MaxResults": min(max(int_param(params, "MaxResults", 10), 1), 100), "NextToken": token,
            "CapacityReservationSet": {"CapacityReservationItem": page}}


CAPACITY_ACTIONS = {
    "DescribeAvailableResource": describe_available_resource,
    "RunInstances": run_instances,
    "DeleteInstance": delete_instance,
    "CreateCapacityReservation": create_capacity_reservation,
    "ModifyCapacityReservation": modify_capacity_reservation,
    "DescribeCapacityReservations": describe_capacity_reservations,
    "ReleaseCapacityReservation": release_capacity_reservation,
}
