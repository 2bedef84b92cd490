"""Stopping, starting and replacing the system disk in the Aliyun wire emulator, and the content
markers that let a test see whose root state an instance runs.

Parts: write_root (a test writes files on an instance's system disk: its content marker changes;
World.image_content is the marker an image hands to a disk made from it), and the actions in SWAP_ACTIONS:
StopInstance, StartInstance, ReplaceSystemDisk.

Content markers: every disk carries `content` (a string standing for what is written on it). A
disk made from an image starts with the image's content — "image:<id>" for an image the scenario
names, else the content of the system disk at the moment CreateImage took its snapshot (the
notice-time state). A test writes on the original before the notice (write_root) and asserts the
replacement's system disk carries it after the swap.

Rules, from the API pages:
- StopInstance (https://www.alibabacloud.com/help/en/ecs/api-stopinstance): only a Running
  instance stops (Stopping, then Stopped); StoppedMode=KeepCharging keeps "its instance type
  resources and public IP address"; the economical mode (StopCharging) gives them back. When no
  StoppedMode is sent the harsher reading is taken: economical mode, the default ECS offers for
  pay-as-you-go VPC instances. An instance stopped that way holds no capacity, and StartInstance
  takes it from stock again: OperationDenied.NoStock when the type is sold out.
- ReplaceSystemDisk (https://www.alibabacloud.com/help/en/ecs/api-replacesystemdisk): "The instance
  must be in the Stopped state" (IncorrectInstanceStatus otherwise); an instance whose
  OperationLocks hold `security` is refused; the new system disk has a new id and "the original
  system disk is released"; ClientToken makes a repeat return the first answer. The same page:
  "The category of the system disk cannot be changed" and "The billing method of the system disk
  cannot be changed" (the new disk keeps both). The page names no instance family or billing market
  it rules out. The harsher reading of the image rules (the *Replace the operating system* guide):
  an image of another CPU architecture than the instance type's is refused
  (ImageNotSupportInstanceType, the code RunInstances gives the same mismatch), and so is a switch
  between Linux and Windows (InvalidParameter.OSType, a stated code: the guide allows it in the
  Chinese mainland only, the emulator nowhere).
- Public images (seed_public_images): each region holds ECS's system images (ImageOwnerAlias
  `system`) of Alibaba Cloud Linux on x86_64 and arm64 and of Windows Server, as DescribeImages
  lists them; a responder finds a stand-in among them.
- StartInstance: only a Stopped instance starts (Starting, then Running after
  `instance_boot_seconds`).
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aliyun_ecs_disks import disks_of
from responder.sandbox.aliyun_ecs_state import EcsError, World, new_id, not_found, require
from responder.sandbox.scenario import Region

STOP_SECONDS = 5.0  # Stopping → Stopped: no published figure, a few seconds
_BAD_STATUS = ("IncorrectInstanceStatus", "The current status of the resource does not support this operation.")


def write_root(world: World, instance_id: str, marker: str) -> None:
    """Files written on the instance's system disk: its content is now `marker`."""
    with world.lock:
        system = next(d for d in disks_of(world, world.instances[instance_id]) if d["type"] == "system")
        system["content"] = marker


def _instance(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    instance_id = require(params, "InstanceId")
    inst = world.instances.get(instance_id)
    if inst is None or inst["region"] != region.region:
        raise not_found("InstanceId", instance_id)
    if "security" in (inst.get("locks") or []):
        raise EcsError("InvalidInstance.Locked", "The specified instance is locked for security reasons.", 403)
    return inst


def _move(world: World, inst: dict[str, Any], through: str, to: str, seconds: float) -> None:
    inst["status"], inst["settles_to"], inst["settle_at"] = through, to, world.clock() + seconds


def stop_instance(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    inst = _instance(world, region, params)
    if world.instance_status(inst) != "Running":
        raise EcsError(*_BAD_STATUS, 403)
    mode = params.get("StoppedMode") or "StopCharging"
    if mode not in ("KeepCharging", "StopCharging", "Not-applicable"):
        raise EcsError("InvalidParameter.StoppedMode", "The specified parameter StoppedMode is not valid.", 400)
    if mode != "KeepCharging" and inst.get("charge_type", "PostPaid") == "PostPaid":
        world.stock.give_back(inst["type"], inst.get("zone", ""), inst.get("market", _market(inst)), 1)
        inst["capacity_released"] = True
    _move(world, inst, "Stopping", "Stopped", STOP_SECONDS)
    return {}


def start_instance(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    inst = _instance(world, region, params)
    if world.instance_status(inst) != "Stopped":
        raise EcsError(*_BAD_STATUS, 403)
    if inst.get("capacity_released"):
        if not world.stock.take(inst["type"], inst.get("zone", ""), inst.get("market", _market(inst)), 1):
            raise EcsError("OperationDenied.NoStock", "The resource is out of stock in the specified zone. "
                           "Please try other types, or choose other regions and zones.", 403)
        inst["capacity_released"] = False
    _move(world, inst, "Starting", "Running", world.boot_seconds)
    return {}


def replace_system_disk(world: World, region: Region, params: dict[str, str]) -> dict[str, Any]:
    answer = world.replay("ReplaceSystemDisk", params)
    if answer is not None:
        return answer
    inst = _instance(world, region, params)
    image_id = require(params, "ImageId")
    image = world.images.get(image_id)
    if image is None or image["region"] != region.region:
        raise not_found("ImageId", image_id)
    if world.image_status(image)[0] != "Available":
        raise EcsError("IncorrectImageStatus", "The image is not available.", 400)
    if world.instance_status(inst) != "Stopped":
        raise EcsError(*_BAD_STATUS, 403)
    _check_fits(world, region, inst, image)
    old = next(d for d in disks_of(world, inst) if d["type"] == "system")
    disk_id = new_id("d", region.region)
    world.disks[disk_id] = dict(old, id=disk_id, content=world.image_content(image_id), image=image_id,
                                snapshots_made=0, tags={}, size=max(int(old["size"]), int(image.get("size", 0) or 0)))
    inst["disk_ids"] = [disk_id if d == old["id"] else d for d in inst["disk_ids"]]
    inst["image"], inst["os_type"] = image_id, image.get("os_type", "linux")
    world.disks.pop(old["id"], None)  # "the original system disk is released"
    answer = {"DiskId": disk_id}
    world.remember("ReplaceSystemDisk", params, answer)
    return answer


def _check_fits(world: World, region: Region, inst: dict[str, Any], image: dict[str, Any]) -> None:
    """The image suits the instance: its type's CPU architecture, the OS the instance runs."""
    arch = "arm64" if world.catalog(region).get(inst["type"], {}).get("arch") == "arm64" else "x86_64"
    if image.get("arch", "x86_64") != arch:
        raise EcsError("ImageNotSupportInstanceType", "The specified instance type does not support the image.", 403)
    running = inst.get("os_type") or (world.images.get(inst.get("image", "")) or {}).get("os_type", "linux")
    if image.get("os_type", "linux") != running:
        raise EcsError("InvalidParameter.OSType", "The operating system type of the image does not match the "
                       "instance: Linux and Windows cannot be switched by ReplaceSystemDisk here.", 400)


# ECS's public images: (id, OS type, architecture, platform, days old). Ids in ECS's own naming.
PUBLIC_IMAGES = (
    ("aliyun_3_x64_20G_alibase_20261101.vhd", "linux", "x86_64", "Aliyun", 36),
    ("aliyun_3_x64_20G_alibase_20260901.vhd", "linux", "x86_64", "Aliyun", 97),
    ("aliyun_3_arm64_20G_alibase_20261101.vhd", "linux", "arm64", "Aliyun", 36),
    ("win2022_21H2_x64_dtc_en-us_40G_alibase_20261101.vhd", "windows", "x86_64", "Windows Server 2022", 36),
)


def seed_public_images(world: World) -> None:
    """The public images (ImageOwnerAlias=system), created days before the scenario. ECS names them
    alike in every region and the world keys images by id: they live in the scenario's first region."""
    for region in list(world.regions.values())[:1]:
        for image_id, os_type, arch, platform, days in PUBLIC_IMAGES:
            world.images.setdefault(image_id, {
                "id": image_id, "name": image_id.removesuffix(".vhd"), "region": region.region, "instance": "",
                "created": -86400.0 * days, "fails": False, "owner": "system", "os_type": os_type, "arch": arch,
                "platform": platform, "size": 40 if os_type == "windows" else 20})


def _market(inst: dict[str, Any]) -> str:
    return "ondemand" if inst.get("spot_strategy", "NoSpot") == "NoSpot" else "spot"


SWAP_ACTIONS = {
    "StopInstance": stop_instance,
    "StartInstance": start_instance,
    "ReplaceSystemDisk": replace_system_disk,
}
