"""Network interfaces in the Aliyun wire emulator: each instance's primary ENI and the secondary
private addresses given to it.

Parts: NETWORK_ACTIONS — DescribeNetworkInterfaces (by InstanceId / Type / NetworkInterfaceId),
AssignPrivateIpAddresses (PrivateIpAddress.N on an ENI; ClientToken replays).

Rules: "AssignPrivateIpAddresses" (https://www.alibabacloud.com/help/en/ecs/api-assignprivateipaddresses):
the ENI must be InUse or Available and, for a primary ENI, its instance Running or Stopped; the
addresses must be free in the ENI's vSwitch. The page lists no code for an address another ENI
still holds; the emulator answers InvalidPrivateIpAddress.Duplicated (the code ECS gives a
duplicated PrivateIpAddress at RunInstances / CreateNetworkInterface), 400, a refusal the caller
must not retry. A released instance frees its addresses with it (it leaves the world).
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aliyun_ecs_state import EcsError, World, page_numbered, require
from responder.sandbox.scenario import Region


def _eni_id(inst: dict[str, Any]) -> str:
    return "eni-" + inst["id"][2:]


def _held(inst: dict[str, Any]) -> list[str]:
    return [inst.get("private_ip", "")] + list(inst.get("secondary_ips", []))


def _eni_json(world: World, inst: dict[str, Any]) -> dict[str, Any]:
    return {"NetworkInterfaceId": _eni_id(inst), "Type": "Primary", "Status": "InUse", "InstanceId": inst["id"],
            "VSwitchId": inst.get("subnet", ""), "ZoneId": inst.get("zone", ""),
            "PrivateIpAddress": inst.get("private_ip", ""),
            "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": ip, "Primary": n == 0}
                                               for n, ip in enumerate(_held(inst))]}}


def describe_network_interfaces(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    if params.get("Type", "Primary") != "Primary":
        rows = []  # only primary ENIs exist here
    else:
        rows = [_eni_json(world, i) for i in world.instances.values() if i["region"] == region.region
                and (not params.get("InstanceId") or i["id"] == params["InstanceId"])
                and (not params.get("NetworkInterfaceId.1") or _eni_id(i) == params["NetworkInterfaceId.1"])]
    page, number, size = page_numbered(rows, params, 10, 100)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size,
            "NetworkInterfaceSets": {"NetworkInterfaceSet": page}}


def assign_private_ip_addresses(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("AssignPrivateIpAddresses", params)
    if answer is not None:
        return answer
    eni_id = require(params, "NetworkInterfaceId")
    inst = next((i for i in world.instances.values() if i["region"] == region.region and _eni_id(i) == eni_id), None)
    if inst is None:
        raise EcsError("InvalidEniId.NotFound", f"The specified NetworkInterfaceId does not exist: {eni_id}", 404)
    if world.instance_status(inst) not in ("Running", "Stopped"):
        raise EcsError("IncorrectInstanceStatus", "The current status of the resource does not support this operation.", 403)
    wanted = [v for k, v in sorted(params.items()) if k.startswith("PrivateIpAddress.")]
    for ip in wanted:
        if any(ip in _held(other) for other in world.instances.values() if other["id"] != inst["id"]):
            raise EcsError("InvalidPrivateIpAddress.Duplicated", f"Specified private IP address {ip} is duplicated.", 400)
    inst.setdefault("secondary_ips", []).extend(ip for ip in wanted if ip not in _held(inst))
    answer = {"AssignedPrivateIpAddressesSet": {"NetworkInterfaceId": eni_id,
                                                "PrivateIpSet": {"PrivateIpAddress": wanted}}}
    world.remember("AssignPrivateIpAddresses", params, answer)
    return answer


NETWORK_ACTIONS = {
    "DescribeNetworkInterfaces": describe_network_interfaces,
    "AssignPrivateIpAddresses": assign_private_ip_addresses,
}
