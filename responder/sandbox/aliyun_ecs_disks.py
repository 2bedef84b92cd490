"""Disks, snapshots, EIPs and the release of interrupted instances in the Aliyun wire emulator.

Parts: page_after (DescribeDisks NextToken paging that skips nothing), disks_of (an instance's
disks, made from its scenario `system_disk` / `data_disks` on first use), release (an instance
goes: its disks and EIP), settle (release every interrupted instance whose time has come; give a
`first_read` sample its notice when a call names it), snapshot_instance (the snapshots CreateImage
takes, one per disk; an image's status from them is World.image_status), and the actions in
DISK_ACTIONS: DescribeDisks, ModifyDiskAttribute, AttachDisk, DetachDisk, DeleteDisk, CreateDisk,
DescribeSnapshots, DeleteSnapshot, DeleteImage, ConvertNatPublicIpToEip, AssociateEipAddress,
DescribeEipAddresses.

The rules follow the ECS documentation (figures and sources in race_model.py): a preemptible
instance is released about five minutes after its notice, with every disk whose
DeleteWithInstance is true; releasing a disk deletes its Creating snapshots ("若创建快照时云盘正好达到
过期释放时间，云盘被释放的同时也会删除创建中(Creating)的快照", CreateSnapshot,
https://help.aliyun.com/document_detail/25524.htm), so an image built from them ends CreateFailed;
a disk kept (DeleteWithInstance=false) becomes Available, detached, and keeps billing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from responder.sandbox import race_model
from responder.sandbox.aliyun_ecs_state import (
    EcsError,
    World,
    int_param,
    json_list,
    new_id,
    not_found,
    page_numbered,
    repeat_list,
    repeat_tags,
    require,
    snapshot_status,
    tags_match,
)
from responder.sandbox.scenario import Region


# -- state -----------------------------------------------------------------------------------
def disks_of(world: World, inst: dict[str, Any]) -> list[dict[str, Any]]:
    if "disk_ids" not in inst:
        specs = [("system", inst.get("system_disk") or {})]
        specs += [("data", d) for d in inst.get("data_disks") or []]
        inst["disk_ids"] = []
        for n, (kind, spec) in enumerate(specs):
            disk_id = "d-" + inst["id"][2:] + (f"{n:02d}" if n else "")
            world.disks[disk_id] = {
                "id": disk_id, "region": inst["region"], "zone": inst.get("zone", ""), "type": kind,
                "category": spec.get("category", "cloud_essd"), "size": int(spec.get("size", 40)),
                "instance": inst["id"], "device": f"/dev/xvd{chr(ord('a') + n)}",
                "delete_with_instance": bool(spec.get("delete_with_instance", True)),
                "snapshots_made": int(spec.get("earlier_snapshots", 0)), "tags": {},
                # what is written on it (aliyun_ecs_swap): a system disk starts as its image made it
                "image": inst.get("image", "") if kind == "system" else "",
                "content": spec.get("content") or (world.image_content(inst.get("image", "")) if kind == "system" else ""),
            }
            inst["disk_ids"].append(disk_id)
    return [world.disks[d] for d in inst["disk_ids"] if d in world.disks]


def settle(world: World, params: dict[str, str] | None = None) -> None:
    """Release every interrupted instance whose notice has run out (called before each action);
    a `notice_at: first_read` sample the call's `params` name gets its notice now."""
    now = world.clock()
    for inst in list(world.instances.values()):
        if inst.get("notice_at") == race_model.FIRST_READ and race_model.names_instance(params or {}, inst["id"]):
            inst["notice_at"] = now
            inst.pop("release_checked", None)
        due = inst.get("release_at")
        if due is None and "release_checked" not in inst:
            inst["release_checked"] = True
            due = inst["release_at"] = race_model.release_at("aliyun", inst, world.scenario.raw)
        if due is not None and now >= due:
            release(world, inst, inst["release_at"])


def release(world: World, inst: dict[str, Any], at: float) -> None:
    """The instance goes (its notice ran out, or DeleteInstance): every disk whose DeleteWithInstance
    is true with it, the others detached and kept; a bound EIP unbound and kept ("after the instance
    is released, the EIP is disassociated", DeleteInstance,
    https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-deleteinstance)."""
    for disk in disks_of(world, inst):
        if disk["delete_with_instance"]:
            _delete_disk(world, disk)
        else:
            disk["instance"] = ""
    for eip in world.eips.values():
        if eip["instance"] == inst["id"]:
            eip["instance"] = ""
    world.released[inst["id"]] = at  # when it went, not when someone next asked
    del world.instances[inst["id"]]


def _delete_disk(world: World, disk: dict[str, Any]) -> None:
    for snap in world.snapshots.values():
        if snap["disk"] == disk["id"] and snapshot_status(world, snap) == "progressing":
            snap["deleted"] = True  # taken with the disk: the image built from it fails
    world.disks.pop(disk["id"], None)


def snapshot_instance(world: World, inst: dict[str, Any], image_id: str, tags: dict[str, str]) -> list[str]:
    speed = float(world.scenario.raw.get("snapshot_speed", 1.0))
    spread = race_model.SnapshotTime.parse(world.scenario.raw.get("snapshot_time"), world.scenario.seed)
    ids = []
    for disk in disks_of(world, inst):
        incremental = disk["snapshots_made"] > 0
        snap_id = new_id("s", inst["region"])
        nominal = race_model.snapshot_seconds(disk["category"], disk["size"], incremental, speed)
        world.snapshots[snap_id] = {
            "id": snap_id, "region": inst["region"], "disk": disk["id"], "disk_type": disk["type"],
            "category": disk["category"], "size": disk["size"], "started": world.clock(),
            "duration": nominal * spread.factor(disk["id"], disk["snapshots_made"]),
            "instant": race_model.instant_access_seconds(disk["category"]), "image": image_id,
            "deleted": False, "tags": dict(tags), "incremental": incremental, "device": disk["device"],
            "content": disk.get("content", ""),  # the notice-time state: what the disk held when it started
        }
        disk["snapshots_made"] += 1
        ids.append(snap_id)
    return ids


def _disk_json(world: World, disk: dict[str, Any]) -> dict[str, Any]:
    return {"DiskId": disk["id"], "InstanceId": disk["instance"], "Type": disk["type"],
            "Category": disk["category"], "Size": disk["size"], "Device": disk["device"] if disk["instance"] else "",
            "Status": "In_use" if disk["instance"] else "Available", "ZoneId": disk["zone"],
            "RegionId": disk["region"], "DeleteWithInstance": disk["delete_with_instance"],
            "SourceSnapshotId": disk.get("source_snapshot", ""), "ImageId": disk.get("image", ""),
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in disk["tags"].items()]}}


def page_after(items: list, key: Callable[[Any], str], params: dict[str, str], default_size: int, max_size: int,
               listing: str) -> tuple[list, str]:
    """NextToken/MaxResults paging that a listing's own changes cannot make skip a row: the token
    names the last row returned (by `key`, the rows sorted by it) and the listing it belongs to
    (`listing`, the filters), and the next page starts after that row. A row deleted between pages
    shifts nothing; one created between pages appears only if it sorts after the token (ECS does
    not say whether a listing sees rows created during it: the harsher reading, it may not). A
    token from another listing is refused as ECS refuses a bad one."""
    size = min(max(int_param(params, "MaxResults", default_size), 1), max_size)
    ours = hashlib.sha1(listing.encode()).hexdigest()[:12]
    token, after = params.get("NextToken", ""), ""
    if token:
        try:
            mark, after = bytes.fromhex(token).decode().split("|", 1)
        except ValueError:
            mark = None
        if mark != ours:
            raise EcsError("InvalidParameter.NextToken", "The specified NextToken is not valid.", 400)
    rows = sorted((row for row in items if key(row) > after), key=key)
    page = rows[:size]
    if len(rows) <= size:
        return page, ""
    return page, f"{ours}|{key(page[-1])}".encode().hex()


# -- actions ---------------------------------------------------------------------------------
def describe_disks(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    for inst in world.instances.values():
        disks_of(world, inst)
    ids = set(json_list(params, "DiskIds"))
    wanted = params.get("DiskType", "all")
    rows = [d for d in world.disks.values()
            if d["region"] == region.region and (not ids or d["id"] in ids)
            and (not params.get("InstanceId") or d["instance"] == params["InstanceId"])
            and (not params.get("ZoneId") or d["zone"] == params["ZoneId"])
            and wanted in ("all", d["type"]) and (not params.get("Status") or params["Status"] == (
                "In_use" if d["instance"] else "Available")) and tags_match(d["tags"], params)]
    if params.get("NextToken") or params.get("MaxResults"):
        # "When NextToken is specified, PageSize and PageNumber do not take effect and TotalCount in
        # the response is invalid" (DescribeDisks, ECS API reference): no TotalCount to lean on.
        listing = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k in _FILTERS or k.startswith("Tag."))
        page, token = page_after(rows, lambda d: d["id"], params, 10, 100, listing)
        return {"NextToken": token, "Disks": {"Disk": [_disk_json(world, d) for d in page]}}
    page, number, size = page_numbered(rows, params, 10, 100)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size,
            "Disks": {"Disk": [_disk_json(world, d) for d in page]}}


# What a NextToken is bound to: the listing's filters (a token used with others is refused).
_FILTERS = frozenset({"RegionId", "ZoneId", "InstanceId", "DiskIds", "DiskType", "Status"})


def _find(table: dict[str, dict[str, Any]], region: Region, kind: str, value: str) -> dict[str, Any]:
    """The named resource of this region, or the API's InvalidXxx.NotFound."""
    item = table.get(value)
    if item is None or item["region"] != region.region or item.get("deleted"):
        raise not_found(kind, value)
    return item


def _disk(world: World, region: Region, disk_id: str) -> dict[str, Any]:
    return _find(world.disks, region, "DiskId", disk_id)


def modify_disk_attribute(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    ids = repeat_list(params, "DiskIds") or [require(params, "DiskId")]
    disks = [_disk(world, region, d) for d in ids]
    if "DeleteWithInstance" in params:
        for disk in disks:
            disk["delete_with_instance"] = params["DeleteWithInstance"].lower() == "true"
    return {}


def attach_disk(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    disk = _disk(world, region, require(params, "DiskId"))
    inst = _find(world.instances, region, "InstanceId", require(params, "InstanceId"))
    if disk["instance"]:
        raise EcsError("IncorrectDiskStatus", "The current disk status does not support this operation.", 403)
    if disk["zone"] != inst.get("zone"):
        # The doc requires disk and instance in one zone but names no code: the harsher reading, 403.
        raise EcsError("InvalidOperation.ZoneMismatch", "The disk and the instance are not in the same zone.", 403)
    if world.instance_status(inst) not in ("Running", "Stopped"):
        raise EcsError("IncorrectInstanceStatus", "The current status of the resource does not support this operation.", 403)
    disks_of(world, inst)
    disk["instance"], disk["type"] = inst["id"], "data"
    disk["delete_with_instance"] = params.get("DeleteWithInstance", "false").lower() == "true"
    inst["disk_ids"].append(disk["id"])
    return {}


def detach_disk(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    disk = _disk(world, region, require(params, "DiskId"))
    instance_id = require(params, "InstanceId")
    if disk["instance"] != instance_id:
        raise EcsError("IncorrectDiskStatus", "The current disk status does not support this operation.", 403)
    if disk["type"] == "system":  # DetachDisk: a system disk cannot be detached this way
        raise EcsError("InvalidDiskCategory.NotSupported", "The system disk cannot be detached.", 403)
    inst = world.instances.get(instance_id)
    if inst is not None:
        inst["disk_ids"].remove(disk["id"])
    disk["instance"] = ""
    return {}


def delete_disk(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    disk = _disk(world, region, require(params, "DiskId"))
    if disk["instance"]:
        raise EcsError("IncorrectDiskStatus", "The current disk status does not support this operation.", 403)
    _delete_disk(world, disk)
    return {}


def create_disk(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("CreateDisk", params)
    if answer is not None:
        return answer
    snap = _find(world.snapshots, region, "SnapshotId", require(params, "SnapshotId"))
    age = world.clock() - snap["started"]
    if age < snap["duration"] and (snap["instant"] is None or age < snap["instant"]):
        raise EcsError("IncorrectSnapshotStatus", "The snapshot is not ready to create a disk.", 403)
    disk_id = new_id("d", region.region)
    world.disks[disk_id] = {
        "id": disk_id, "region": region.region, "zone": require(params, "ZoneId"), "type": "data",
        "category": params.get("DiskCategory") or snap["category"], "size": int(params.get("Size") or snap["size"]),
        "instance": "", "device": "", "delete_with_instance": False, "snapshots_made": 0,
        "tags": repeat_tags(params), "source_snapshot": snap["id"],
    }
    answer = {"DiskId": disk_id}
    world.remember("CreateDisk", params, answer)
    return answer


def describe_snapshots(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    ids = set(json_list(params, "SnapshotIds"))
    rows = []
    for snap in world.snapshots.values():
        status = snapshot_status(world, snap)
        if snap["region"] != region.region or status == "deleted" or (ids and snap["id"] not in ids):
            continue
        if (params.get("DiskId") and snap["disk"] != params["DiskId"]) or not tags_match(snap["tags"], params):
            continue
        age = world.clock() - snap["started"]
        usable = status == "accomplished" or (snap["instant"] is not None and age >= snap["instant"])
        rows.append({"SnapshotId": snap["id"], "SourceDiskId": snap["disk"], "SourceDiskType": snap["disk_type"],
                     "SourceDiskSize": str(snap["size"]), "Status": status, "Available": usable,
                     "Progress": f"{min(100, int(100 * age / snap['duration']))}%", "InstantAccess": snap["instant"] is not None,
                     "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in snap["tags"].items()]}})
    page, number, size = page_numbered(rows, params, 10, 100)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size, "Snapshots": {"Snapshot": page}}


def delete_snapshot(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    snap = _find(world.snapshots, region, "SnapshotId", require(params, "SnapshotId"))
    if snap["image"] in world.images:
        raise EcsError("SnapshotCreatedImage", "The snapshot has been used to create a custom image.", 403)
    del world.snapshots[snap["id"]]
    return {}


def delete_image(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    image = _find(world.images, region, "ImageId", require(params, "ImageId"))
    del world.images[image["id"]]
    return {}


def convert_nat_public_ip_to_eip(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    inst = _find(world.instances, region, "InstanceId", require(params, "InstanceId"))
    if not inst.get("public_ip"):
        raise EcsError("InvalidInstance.NoPublicIp", "The instance has no public IP address to convert.", 403)
    allocation = "eip-" + inst["id"][2:]
    world.eips[allocation] = {"id": allocation, "region": region.region, "ip": inst["public_ip"], "instance": inst["id"]}
    inst["eip"], inst["public_ip"] = allocation, ""
    return {}


def associate_eip_address(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    eip = _find(world.eips, region, "AllocationId", require(params, "AllocationId"))
    inst = _find(world.instances, region, "InstanceId", require(params, "InstanceId"))
    if eip["instance"] == inst["id"]:
        return {}
    if eip["instance"]:
        raise EcsError("IncorrectEipStatus", "The current status of the EIP does not support this operation.", 403)
    if world.instance_status(inst) not in ("Running", "Stopped"):
        raise EcsError("IncorrectInstanceStatus", "The current status of the resource does not support this operation.", 403)
    eip["instance"], inst["eip"] = inst["id"], eip["id"]
    return {}


def describe_eip_addresses(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    rows = [{"AllocationId": e["id"], "IpAddress": e["ip"], "InstanceId": e["instance"],
             "Status": "InUse" if e["instance"] else "Available"}
            for e in world.eips.values() if e["region"] == region.region
            and (not params.get("AllocationId") or e["id"] == params["AllocationId"])]
    page, number, size = page_numbered(rows, params, 10, 100)
    return {"TotalCount": len(rows), "PageNumber": number, "PageSize": size, "EipAddresses": {"EipAddress": page}}


DISK_ACTIONS = {
    "DescribeDisks": describe_disks,
    "ModifyDiskAttribute": modify_disk_attribute,
    "AttachDisk": attach_disk,
    "DetachDisk": detach_disk,
    "DeleteDisk": delete_disk,
    "CreateDisk": create_disk,
    "DescribeSnapshots": describe_snapshots,
    "DeleteSnapshot": delete_snapshot,
    "DeleteImage": delete_image,
    "ConvertNatPublicIpToEip": convert_nat_public_ip_to_eip,
    "AssociateEipAddress": associate_eip_address,
    "DescribeEipAddresses": describe_eip_addresses,
}
