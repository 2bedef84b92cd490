"""Seed moto's EC2 backend with a scenario region, keeping the scenario's own resource ids.

Parts: ec2_backend (moto's backend for an account and region), zone_ids (zone name → zone id),
_CatalogueZones (the zones of a `world` region, without making its backend),
fixed_id (make moto's next generated id a chosen one), _public_amis_only and _one_rsa_key (what a
seeded backend costs to make), seed_region (VPCs, subnets, security groups, key pairs, IAM
instance profiles, AMIs, instances with spot requests and Elastic IPs).

Why patch the id generators: moto 5 has no custom-id hook for EC2 (its `moto_id` manager covers
other services), and re-keying objects afterwards would leave stale ids in the default security
group, route table and network ACL that moto creates alongside a VPC. Seeding runs before the
server thread starts, so the patch is never visible to a request.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator
from unittest import mock

from moto.ec2.models import ec2_backends
from moto.ec2.utils import parse_user_data, random_rsa_key_pair
from moto.iam.models import iam_backends

_ID_FUNCS = {  # resource → (module holding the generator, generator name)
    "vpc": ("moto.ec2.models.vpcs", "random_vpc_id"),
    "subnet": ("moto.ec2.models.subnets", "random_subnet_id"),
    "sg": ("moto.ec2.models.security_groups", "random_security_group_id"),
    "instance": ("moto.ec2.models.instances", "random_instance_id"),
    "spot": ("moto.ec2.models.spot_requests", "random_spot_request_id"),
    "ami": ("moto.ec2.models.amis", "random_ami_id"),
    "eip": ("moto.ec2.models.elastic_ip_addresses", "random_eip_allocation_id"),
}


def ec2_backend(account: str, region: str):
    return ec2_backends[account][region]


def zone_ids(backend) -> dict[str, str]:
    return {z.name: z.zone_id for z in backend.describe_availability_zones()}


@contextlib.contextmanager
def fixed_id(kind: str, value: str | None) -> Iterator[None]:
    """Within the block, moto's generator for `kind` returns `value` (if one is given)."""
    if not value:
        yield
        return
    module, name = _ID_FUNCS[kind]
    with mock.patch(f"{module}.{name}", return_value=value):
        yield


def _vpc_cidr(region) -> str:
    return str(region.raw.get("vpc_cidr", "10.0.0.0/16"))


def _ensure_image(backend, image_id: str | None, arch: str) -> str:
    """The AMI seeded instances run from: the scenario's id, else any AMI moto ships."""
    if image_id and image_id in backend.amis:
        return image_id
    if not image_id and backend.amis:
        for ami in backend.amis.values():
            if ami.architecture == arch:
                return ami.id
    with fixed_id("ami", image_id):
        ami = backend.register_image(name=f"sandbox-base-{arch}", description="sandbox base image")
    ami.architecture = arch
    ami.virtualization_type = ami.virtualization_type or "hvm"  # what EC2 registers today; a root swap compares it
    return ami.id


def _ensure_profile(account: str, name: str) -> None:
    iam = iam_backends[account]["global"]
    if name not in iam.instance_profiles:
        iam.create_instance_profile(name=name, path="/", role_names=[])


class _CatalogueZones:
    """Stands in for the backend of a `world` region with nothing to seed: its zones come from
    moto's static table, and moto makes the backend itself on the region's first request (making
    all 38 backends up front costs seconds per emulator start)."""

    def __init__(self, region: str):
        self.region_name = region

    def describe_availability_zones(self):
        # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
        from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

        return RegionsAndZonesBackend.zones.get(self.region_name, [])


@contextlib.contextmanager
def _public_amis_only() -> Iterator[None]:
    """Backends made within the block hold the few dozen public AMIs moto ships in amis.json
    (Amazon Linux, Ubuntu, Windows, x86_64 and arm64: enough for a stand-in), not its per-region
    `latest_amis` and ECS catalogues (over a thousand): every filtered DescribeImages would scan them
    all, the race reads images every few seconds, and making them (a volume and a snapshot each)
    was a third of a sandbox's start. moto skips those catalogues when MOTO_AMIS_PATH is set, which
    it reads through its module's `environ`; the shipped list itself was loaded at import."""
    with mock.patch("moto.ec2.models.amis.environ", {"MOTO_AMIS_PATH": ""}):
        yield


@functools.cache
def _one_rsa_key() -> dict[str, Any]:
    """The material of every key pair a scenario seeds in this process: moto makes a 2048-bit RSA
    key per CreateKeyPair (about 50 ms of CPU), and a seeded pair's private half is never shown
    (DescribeKeyPairs returns the name and fingerprint only), so one key serves them all."""
    return random_rsa_key_pair()


# Seeding patches moto's module globals (ids, the AMI catalogue switch, the key maker); two
# emulators seeding in one process at once could interleave a patch's exit with another's and
# leave a patch in place, so seeding takes turns.
_SEEDING = threading.Lock()


def seed_region(account: str, region, images) -> Any:
    """Reset moto's EC2 state for (account, region) and create the scenario's resources in it."""
    if region.raw.get("world") and not region.subnets and not region.instances:
        return _CatalogueZones(region.region)
    with _SEEDING:
        return _seed_region(account, region, images)


def _seed_region(account: str, region, images) -> Any:
    with _public_amis_only():
        backend = ec2_backend(account, region.region)
        backend.reset()
    backend = ec2_backend(account, region.region)
    vpcs: dict[str, Any] = {}
    for i, s in enumerate(region.subnets):
        vpc_id = s.get("vpc")
        if vpc_id not in vpcs:
            with fixed_id("vpc", vpc_id):
                vpcs[vpc_id] = backend.create_vpc(cidr_block=_vpc_cidr(region))
        with fixed_id("subnet", s.get("id")):
            backend.create_subnet(vpc_id=vpcs[vpc_id].id, cidr_block=s.get("cidr", f"10.0.{i + 1}.0/24"),
                                  availability_zone=s["zone"])
    subnet_vpc = {s["id"]: s.get("vpc") for s in region.subnets}
    arch_of = {t["type"]: t.get("arch", "x86_64") for t in region.instance_types}
    for inst in region.instances:
        _seed_instance(account, backend, inst, vpcs, subnet_vpc, arch_of, images)
    return backend


def _seed_instance(account: str, backend, inst: dict[str, Any], vpcs, subnet_vpc, arch_of, images) -> None:
    vpc = vpcs.get(subnet_vpc.get(inst.get("subnet")))
    group_ids = []
    for sg_id in inst.get("security_groups", []):
        if backend.get_security_group_from_id(sg_id) is None:
            with fixed_id("sg", sg_id):
                backend.create_security_group(name=sg_id, description="sandbox group",
                                              vpc_id=vpc.id if vpc else None)
        group_ids.append(sg_id)
    if inst.get("key_pair") and inst["key_pair"] not in backend.key_pairs:
        with mock.patch("moto.ec2.models.key_pairs.random_rsa_key_pair", _one_rsa_key):
            backend.create_key_pair(inst["key_pair"], key_type="rsa", tags={})
    image_id = _ensure_image(backend, inst.get("image"), arch_of.get(inst["type"], "x86_64"))
    tags = {str(k): str(v) for k, v in (inst.get("tags") or {}).items()}
    if inst.get("name"):
        tags["Name"] = inst["name"]
    user_data = parse_user_data(inst["user_data"]) if inst.get("user_data") else None
    common = dict(instance_type=inst["type"], is_instance_type_default=False, subnet_id=inst.get("subnet"),
                  key_name=inst.get("key_pair"), security_group_ids=group_ids,
                  tags={"instance": tags}, region_name=backend.region_name)
    if not inst.get("subnet"):
        common["placement"] = inst.get("zone")
    if inst.get("lifecycle") == "spot":
        request = _seed_spot(backend, inst, image_id, user_data, common)
        instance = request.instance
    else:
        with fixed_id("instance", inst.get("id")):
            instance = backend.run_instances(image_id, 1, user_data, [], **common).instances[0]
    _seed_volumes(backend, instance, inst)
    if inst.get("iam_instance_profile"):
        _ensure_profile(account, inst["iam_instance_profile"])
        backend.associate_iam_instance_profile(instance.id, iam_instance_profile_name=inst["iam_instance_profile"])
    if inst.get("elastic_ip"):
        allocation = inst["elastic_ip"] if isinstance(inst["elastic_ip"], str) else None
        with fixed_id("eip", allocation):
            eip = backend.allocate_address(domain="vpc")
        backend.associate_address(instance=instance, allocation_id=eip.allocation_id)
    if str(inst.get("status", "running")).lower() == "stopped":
        backend.stop_instances([instance.id])
    images.register_source(instance.id, inst.get("image_result", "available"))


def _seed_volumes(backend, instance, inst: dict[str, Any]) -> None:
    """The scenario's `system_disk` (size, category) on moto's root volume, and its `data_disks`
    as more EBS volumes; aws_race times an AMI from the same figures."""
    root = inst.get("system_disk")
    if root:
        for device in instance.block_device_mapping.values():
            volume = backend.get_volume(device.volume_id)
            volume.size, volume.volume_type = int(root.get("size", 8)), root.get("category", "gp3")
    for n, disk in enumerate(inst.get("data_disks") or []):
        instance.add_block_device(int(disk.get("size", 20)), f"/dev/sd{chr(ord('f') + n)}", None, False,
                                  bool(disk.get("delete_with_instance", True)), None,
                                  volume_type=disk.get("category", "gp3"))


def _seed_spot(backend, inst: dict[str, Any], image_id: str, user_data, common: dict[str, Any]):
    """A spot instance the way EC2 shows one: lifecycle spot, owned by a spot request whose
    status code is the scenario's (fulfilled, marked-for-termination, ...)."""
    with fixed_id("instance", inst.get("id")), fixed_id("spot", inst.get("spot_request_id")):
        request = backend.request_spot_instances(
            price=str(inst.get("spot_price", "0.1")), image_id=image_id, count=1, spot_instance_type="one-time",
            valid_from=None, valid_until=None, launch_group=None, availability_zone_group=None,
            key_name=inst.get("key_pair"), security_groups=list(common["security_group_ids"]),
            user_data=user_data, instance_type=inst["type"],
            placement=inst.get("zone"), kernel_id=None, ramdisk_id=None, monitoring_enabled=False,
            subnet_id=inst.get("subnet"), tags={"instance": common["tags"]["instance"]},
        )[0]
    state = inst.get("spot_request_state", "fulfilled")
    request._status_code = state
    if state != "fulfilled":
        request.status_message = {
            "marked-for-termination": "Your Spot Instance is marked for termination because of capacity.",
            "marked-for-stop": "Your Spot Instance is marked for stop because of capacity.",
            "marked-for-hibernation": "Your Spot Instance is marked for hibernation because of capacity.",
        }.get(state, state)
    # Real DescribeInstances names the owning request; moto's Instance has no such field until set.
    request.instance.spot_instance_request_id = request.id
    return request
