"""ECS read actions and images for the Aliyun wire emulator.

Parts: describe_instances, describe_instance_status, describe_user_data, describe_instance_ram_role,
create_image (DescribeDisks and the other disk actions: aliyun_ecs_disks.py), describe_images, describe_instance_types, describe_vswitches, and
READ_ACTIONS (Action name → function). Each takes (world, region, params) and returns the response
body without RequestId; it runs under World.lock and raises EcsError for API errors.
"""

from __future__ import annotations

import re
from typing import Any

from responder.sandbox.aliyun_ecs_disks import disks_of, snapshot_instance
from responder.sandbox.aliyun_ecs_state import (
    EcsError,
    World,
    image_json,
    instance_json,
    json_list,
    new_id,
    not_found,
    page_numbered,
    page_token,
    repeat_list,
    require,
    tags_match,
)
from responder.sandbox.scenario import Region


def describe_instances(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    ids = json_list(params, "InstanceIds")
    if len(ids) > 100:
        raise EcsError("InvalidParameter.InstanceIds", "The InstanceIds parameter accepts at most 100 ids.", 400)
    found = []
    for inst in world.instances.values():
        if inst["region"] != region.region or (ids and inst["id"] not in ids):
            continue
        rendered = instance_json(world, inst)
        if params.get("ZoneId") and rendered["ZoneId"] != params["ZoneId"]:
            continue
        if params.get("VSwitchId") and rendered["VpcAttributes"]["VSwitchId"] != params["VSwitchId"]:
            continue
        if params.get("VpcId") and rendered["VpcAttributes"]["VpcId"] != params["VpcId"]:
            continue
        if params.get("Status") and rendered["Status"] != params["Status"]:
            continue
        if params.get("InstanceType") and rendered["InstanceType"] != params["InstanceType"]:
            continue
        if not _has_tags(rendered, params):
            continue
        found.append(rendered)
    body: dict[str, Any] = {"TotalCount": len(found)}
    if params.get("MaxResults") or params.get("NextToken"):
        page, token = page_token(found, params, 10, 100)
        body["NextToken"] = token
    else:
        page, number, size = page_numbered(found, params)
        body.update(PageNumber=number, PageSize=size)
    body["Instances"] = {"Instance": page}
    return body


def _has_tags(rendered: dict[str, Any], params: dict[str, str]) -> bool:
    """DescribeInstances `Tag.N.Key` / `Tag.N.Value` (N = 1..20): every named tag must match."""
    return tags_match({t["TagKey"]: t.get("TagValue", "") for t in rendered.get("Tags", {}).get("Tag", [])}, params)


def describe_instance_status(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    ids = repeat_list(params, "InstanceId")
    rows = [{"InstanceId": i["id"], "Status": world.instance_status(i)}
            for i in world.instances.values()
            if i["region"] == region.region and (not ids or i["id"] in ids)
            and (not params.get("ZoneId") or i.get("zone") == params["ZoneId"])]
    page, number, size = page_numbered(rows, params, 10, 50)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size,
            "InstanceStatuses": {"InstanceStatus": page}}


def _instance(world: World, region: Region, instance_id: str) -> dict[str, Any]:
    inst = world.instances.get(instance_id)
    if inst is None or inst["region"] != region.region:
        raise not_found("InstanceId", instance_id)
    return inst


def describe_user_data(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    inst = _instance(world, region, require(params, "InstanceId"))
    return {"RegionId": region.region, "InstanceId": inst["id"], "UserData": inst.get("user_data", "")}


def describe_instance_ram_role(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    ids = json_list(params, "InstanceIds")
    rows = [{"InstanceId": i["id"], "RamRoleName": i.get("ram_role", "")}
            for i in world.instances.values()
            if i["region"] == region.region and i["id"] in ids and i.get("ram_role")]
    return {"RegionId": region.region, "TotalCount": len(rows), "InstanceRamRoleSets": {"InstanceRamRoleSet": rows}}


_IMAGE_NAME = re.compile(r"^[A-Za-z\u4e00-\u9fa5][A-Za-z0-9\u4e00-\u9fa5:_.\-]{1,127}$")


def create_image(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("CreateImage", params)
    if answer is not None:
        return answer
    inst = _instance(world, region, require(params, "InstanceId"))
    name = params.get("ImageName", "")
    if name and (not _IMAGE_NAME.match(name) or name.lower().startswith(("http://", "https://", "acs:", "aliyun"))):
        raise EcsError("InvalidImageName.Malformed", "Specified image name is not valid.", 400)
    image_id = new_id("m", region.region)
    tags = {params[f"Tag.{n}.Key"]: params.get(f"Tag.{n}.Value", "")
            for n in range(1, 21) if params.get(f"Tag.{n}.Key")}
    image = world.images[image_id] = {
        "id": image_id, "name": name or image_id, "region": region.region, "instance": inst["id"],
        "created": world.clock(), "fails": inst.get("image_result") == "CreateFailed",
        "size": (inst.get("system_disk") or {}).get("size", 40), "tags": tags,
        "arch": "arm64" if world.catalog(region).get(inst["type"], {}).get("arch") == "arm64" else "x86_64",
        "os_type": inst.get("os_type") or (world.images.get(inst.get("image", "")) or {}).get("os_type", "linux"),
    }
    if world.scenario.raw.get("image_timing") == "disks":  # every disk snapshotted; see aliyun_ecs_disks
        image["snapshots"] = snapshot_instance(world, inst, image_id, tags)
    # What its system disk held now is what a disk made from the image holds (aliyun_ecs_swap).
    image["content"] = next((d.get("content", "") for d in disks_of(world, inst) if d["type"] == "system"), "")
    answer = {"ImageId": image_id}
    world.remember("CreateImage", params, answer)
    return answer


def describe_images(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    # ECS returns only Available images unless Status names other states: a poller that forgets
    # Status=Creating,... sees a brand-new image as "absent", exactly as in production.
    statuses = {s.strip() for s in params.get("Status", "Available").split(",") if s.strip()}
    ids = {s.strip() for s in params.get("ImageId", "").split(",") if s.strip()}
    rows = []
    for image in world.images.values():
        if image["region"] != region.region or (ids and image["id"] not in ids):
            continue
        if params.get("ImageName") and image["name"] != params["ImageName"]:
            continue
        if not tags_match(image.get("tags", {}), params):
            continue
        rendered = image_json(world, image)
        if any(params.get(key) and rendered[key].lower() not in params[key].lower().split(",")
               for key in ("ImageOwnerAlias", "OSType", "Architecture")):
            continue
        if rendered["Status"] in statuses:
            rows.append(rendered)
    page, number, size = page_numbered(rows, params, 10, 100)
    return {"RegionId": region.region, "TotalCount": len(rows), "PageNumber": number, "PageSize": size,
            "Images": {"Image": page}}


def _type_json(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "InstanceTypeId": spec["type"],
        "InstanceTypeFamily": spec.get("family", spec["type"].rsplit(".", 1)[0]),
        "CpuCoreCount": int(spec.get("cpu", 0)),
        "MemorySize": float(spec.get("memory_gib", 0)),  # GiB, unlike DescribeInstances' MiB
        "CpuArchitecture": "ARM" if spec.get("arch") == "arm64" else "X86",
        "GPUAmount": int(spec.get("gpu", 0)),
        "GPUSpec": "",
        "InstanceCategory": spec.get("category", "General-purpose"),
        "InstanceFamilyLevel": "EnterpriseLevel",
        "LocalStorageCategory": "",
        "EniQuantity": 3,
    }


def describe_instance_types(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    wanted = repeat_list(params, "InstanceTypes")
    if len(wanted) > 10:
        raise EcsError("InvalidParameter.InstanceTypes", "InstanceTypes accepts 1 to 10 instance types.", 400)
    rows = [_type_json(s) for s in region.instance_types
            if (not wanted or s["type"] in wanted)
            and (not params.get("InstanceTypeFamily") or s.get("family") == params["InstanceTypeFamily"])]
    page, token = page_token(rows, params, 1600, 1600)
    return {"NextToken": token, "InstanceTypes": {"InstanceType": page}}


def describe_vswitches(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    rows = []
    for subnet in region.subnets:
        if params.get("VpcId") and subnet["vpc"] != params["VpcId"]:
            continue
        if params.get("ZoneId") and subnet["zone"] != params["ZoneId"]:
            continue
        if params.get("VSwitchId") and subnet["id"] != params["VSwitchId"]:
            continue
        rows.append({"VSwitchId": subnet["id"], "VpcId": subnet["vpc"], "ZoneId": subnet["zone"],
                     "Status": "Available", "CidrBlock": subnet.get("cidr", "172.16.0.0/24"),
                     "VSwitchName": subnet.get("name", ""), "AvailableIpAddressCount": 250,
                     "IsDefault": False})
    page, number, size = page_numbered(rows, params, 10, 50)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size, "VSwitches": {"VSwitch": page}}


READ_ACTIONS = {
    "DescribeInstances": describe_instances,
    "DescribeInstanceStatus": describe_instance_status,
    "DescribeUserData": describe_user_data,
    "DescribeInstanceRamRole": describe_instance_ram_role,
    "CreateImage": create_image,
    "DescribeImages": describe_images,
    "DescribeInstanceTypes": describe_instance_types,
    "DescribeVSwitches": describe_vswitches,
}
