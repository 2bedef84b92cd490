"""The emulated ECS account behind the Aliyun wire emulator: what exists and how it renders.

Parts: EcsError (an API error with the real code and HTTP status), World (regions, instances,
images, reservations and client-token memory, all guarded by one lock), instance_json /
image_json (the response shapes of DescribeInstances / DescribeImages), snapshot_status and
image_state_from_snapshots (an image made from disks is as far as its slowest snapshot), small
param helpers.

Actions live in aliyun_ecs_actions.py (reads, images) and aliyun_ecs_capacity.py (launches,
stock, reservations); the HTTP side in aliyun_ecs.py. Everything here is plain data so an action
is a function (world, region, params) -> dict that runs under World.lock.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
from typing import Any

from responder.sandbox.scenario import Region, Scenario

ISO_MINUTE = "%Y-%m-%dT%H:%MZ"
ISO_SECOND = "%Y-%m-%dT%H:%M:%SZ"


class EcsError(Exception):
    """An ECS API error as the real service returns it: code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400, throttled: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.throttled = throttled  # the rate limit that refused the call, for the call log


def not_found(kind: str, value: str) -> EcsError:
    return EcsError(f"Invalid{kind}.NotFound", f"The specified {kind} does not exist: {value}", 404)


def missing(name: str) -> EcsError:
    return EcsError(f"MissingParameter.{name}" if name else "MissingParameter",
                    f"The input parameter \"{name}\" that is mandatory for processing this request is not supplied.", 400)


def require(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise missing(name)
    return value


def int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise EcsError(f"InvalidParameter.{name}", f"The specified parameter {name} is not valid.", 400) from None


def json_list(params: dict[str, str], name: str) -> list[str]:
    """InstanceIds / PrivatePoolOptions.Ids: a JSON array (the API also takes comma-separated)."""
    raw = params.get(name, "")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return [v.strip() for v in raw.split(",") if v.strip()]
    if not isinstance(value, list):
        raise EcsError(f"InvalidParameter.{name}", f"The specified parameter {name} is not valid.", 400)
    return [str(v) for v in value]


def repeat_list(params: dict[str, str], prefix: str) -> list[str]:
    """Flattened lists: SecurityGroupIds.1, SecurityGroupIds.2 ... in index order."""
    found = []
    for key, value in params.items():
        if key.startswith(prefix + ".") and key[len(prefix) + 1:].isdigit():
            found.append((int(key[len(prefix) + 1:]), value))
    return [v for _, v in sorted(found)]


def repeat_tags(params: dict[str, str]) -> dict[str, str]:
    tags = {}
    for n in range(1, 21):
        key = params.get(f"Tag.{n}.Key")
        if key:
            tags[key] = params.get(f"Tag.{n}.Value", "")
    return tags


def tags_match(tags: dict[str, str], params: dict[str, str]) -> bool:
    """Every `Tag.N.Key` present, and equal to `Tag.N.Value` when one is given."""
    for n in range(1, 21):
        key = params.get(f"Tag.{n}.Key")
        if key is None:
            continue
        value = params.get(f"Tag.{n}.Value")
        if key not in tags or (value is not None and tags[key] != value):
            return False
    return True


def page_numbered(items: list, params: dict[str, str], default_size: int = 10, max_size: int = 100):
    """PageNumber/PageSize paging, clamped as ECS clamps it."""
    size = min(max(int_param(params, "PageSize", default_size), 1), max_size)
    number = max(int_param(params, "PageNumber", 1), 1)
    return items[(number - 1) * size:number * size], number, size


def page_token(items: list, params: dict[str, str], default_size: int, max_size: int):
    """NextToken/MaxResults paging; the token is an opaque offset."""
    size = min(max(int_param(params, "MaxResults", default_size), 1), max_size)
    token = params.get("NextToken", "")
    try:
        start = int(token, 16) if token else 0
    except ValueError:
        raise EcsError("InvalidParameter.NextToken", "The specified NextToken is not valid.", 400) from None
    rest = items[start + size:]
    return items[start:start + size], (format(start + size, "x") if rest else "")


def new_id(prefix: str, region: str) -> str:
    # Real ids carry a region mark (cn-hangzhou → bp) and 18 lowercase alphanumerics.
    mark = {"cn-hangzhou": "bp", "cn-shanghai": "uf", "cn-beijing": "2z"}.get(region, "sb")
    tail = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(18))
    return f"{prefix}-{mark}{tail}"


def request_id() -> str:
    raw = "".join(random.choice("0123456789ABCDEF") for _ in range(32))
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


class World:
    """All mutable emulator state. Actions run under `lock`, so a ClientToken replayed from two
    threads at once still creates exactly one resource."""

    def __init__(self, scenario: Scenario, clock, stock):
        self.scenario = scenario
        self.clock = clock
        self.stock = stock
        self.lock = threading.RLock()
        self.regions: dict[str, Region] = {r.region: r for r in scenario.regions_of("aliyun")}
        self.boot_seconds = float(scenario.raw.get("instance_boot_seconds", 1))
        self.epoch = time.time()  # wall time at scenario t=0, for CreationTime fields
        self.instances: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.reservations: dict[str, dict[str, Any]] = {}
        self.tokens: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        # Disks, snapshots and EIPs (aliyun_ecs_disks.py), and when each interrupted instance went.
        self.disks: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.eips: dict[str, dict[str, Any]] = {}
        self.released: dict[str, float] = {}
        self.ip_seq = 0  # private addresses handed out (next_private_ip)
        for region in self.regions.values():
            for image_id in region.raw.get("images", []) or []:
                self.images[image_id] = {"id": image_id, "name": image_id, "region": region.region,
                                         "instance": "", "created": -1e9, "fails": False}
            for inst in region.instances:
                self.instances[inst["id"]] = dict(inst, region=region.region, created=0.0, boot_at=0.0)
                self.instances[inst["id"]].setdefault("private_ip", self.next_private_ip())
                image_id = inst.get("image")
                if image_id and image_id not in self.images:
                    self.images[image_id] = {"id": image_id, "name": image_id, "region": region.region,
                                             "instance": "", "created": -1e9, "fails": False}

    def next_private_ip(self) -> str:
        """A vswitch never hands out an address twice while it is held: one counter for the world
        (addresses of released instances are not reused, the harsher case for a responder that
        asks for one back)."""
        self.ip_seq += 1
        return f"172.16.{(self.ip_seq // 250) % 250}.{self.ip_seq % 250 + 2}"

    # -- lookups ---------------------------------------------------------------------------
    def region(self, region_id: str) -> Region:
        if not region_id:
            raise missing("RegionId")
        if region_id not in self.regions:
            # ECS names region mistakes InvalidRegionId (or NotSupportedEndpoint) in "Troubleshoot
            # API error codes" (https://www.alibabacloud.com/help/doc-detail/40644.htm); the doc gives
            # no status, so the harsher reading: 404, a not-found the caller must not retry.
            raise EcsError("InvalidRegionId.NotFound", f"The specified region does not exist: {region_id}", 404)
        return self.regions[region_id]

    def catalog(self, region: Region) -> dict[str, dict[str, Any]]:
        return {t["type"]: t for t in region.instance_types}

    def subnet(self, region: Region, subnet_id: str) -> dict[str, Any] | None:
        return next((s for s in region.subnets if s["id"] == subnet_id), None)

    def type_zones(self, region: Region, spec: dict[str, Any]) -> list[str]:
        """Zones that sell a type: its `zones` list in the scenario, else every zone."""
        return list(spec.get("zones") or region.zones)

    def timestamp(self, scenario_seconds: float, fmt: str = ISO_MINUTE) -> str:
        return time.strftime(fmt, time.gmtime(self.epoch + max(scenario_seconds, 0)))

    # -- idempotency -----------------------------------------------------------------------
    def replay(self, action: str, params: dict[str, str]) -> dict[str, Any] | None:
        """The earlier answer for this ClientToken, or None. A token reused with different
        parameters is refused, as ECS does: "If you specify a request with a ClientToken value that
        is in use but with different request parameters, ECS returns the
        IdempotentParameterMismatch error code" (How to ensure idempotence,
        https://www.alibabacloud.com/help/doc-detail/25693.html). That page spells the code
        IdempotentParameterMismatch while the code answered here (and classified by the adapter) is
        IdempotenceParamNotMatch; either way it is a 400 the caller must not retry."""
        token = params.get("ClientToken", "")
        if not token:
            return None
        seen = self.tokens.get((action, token))
        if seen is None:
            return None
        fingerprint, answer = seen
        if fingerprint != _fingerprint(params):
            raise EcsError("IdempotenceParamNotMatch",
                           "Request uses a client token in a previous request but is not identical to that request.", 400)
        return answer

    def remember(self, action: str, params: dict[str, str], answer: dict[str, Any]) -> None:
        token = params.get("ClientToken", "")
        if token:
            self.tokens[(action, token)] = (_fingerprint(params), answer)

    # -- derived state ---------------------------------------------------------------------
    def instance_status(self, inst: dict[str, Any]) -> str:
        if inst.get("status") == "Pending" and self.clock() >= inst.get("boot_at", 0):
            inst["status"] = "Running"
        if inst.get("settles_to") and self.clock() >= inst.get("settle_at", 0):  # Stopping / Starting (aliyun_ecs_swap)
            inst["status"] = inst.pop("settles_to")
        return inst.get("status", "Running")

    def image_content(self, image_id: str) -> str:
        """The content marker a disk made from this image starts with (aliyun_ecs_swap)."""
        image = self.images.get(image_id) or {}
        return image.get("content") or f"image:{image_id}"

    def image_status(self, image: dict[str, Any]) -> tuple[str, str]:
        """(Status, Progress): from its snapshots when it was made from disks (image_timing: disks),
        else Creating until image_build_seconds of scenario time have passed."""
        if image.get("snapshots") is not None:
            return ("CreateFailed", "0%") if image["fails"] else image_state_from_snapshots(self, image)
        elapsed = self.clock() - image["created"]
        build = self.scenario.image_build_seconds
        if elapsed >= build:
            return ("CreateFailed", "0%") if image["fails"] else ("Available", "100%")
        done = int(100 * elapsed / build) if build > 0 else 100
        return "Creating", f"{min(done, 99)}%"


# Parameters that change on every call even when the caller repeats itself.
_VOLATILE = {"Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SecurityToken", "SignatureMethod",
             "SignatureVersion", "SignatureType", "Format", "Version"}


def _fingerprint(params: dict[str, str]) -> str:
    return json.dumps(sorted((k, v) for k, v in params.items() if k not in _VOLATILE))


def instance_json(world: World, inst: dict[str, Any]) -> dict[str, Any]:
    """One DescribeInstances Instance, shaped as in reference/aliyun-describeinstances-recycling-lock.json."""
    region = world.regions[inst["region"]]
    spec = world.catalog(region).get(inst["type"], {})
    subnet = world.subnet(region, inst.get("subnet", "")) or {}
    memory_gib = float(spec.get("memory_gib", 0))
    spot = inst.get("spot_strategy", "NoSpot")
    created = world.timestamp(inst.get("created", 0.0))
    public_ip = inst.get("public_ip", "")
    return {
        "InstanceId": inst["id"],
        "InstanceName": inst.get("name", inst["id"]),
        "HostName": inst.get("hostname", "iZ" + inst["id"][2:] + "Z"),
        "Description": "",
        "RegionId": inst["region"],
        "ZoneId": inst.get("zone", subnet.get("zone", "")),
        "InstanceType": inst["type"],
        "InstanceTypeFamily": spec.get("family", inst["type"].rsplit(".", 1)[0]),
        "Cpu": int(spec.get("cpu", 0)),
        "Memory": int(memory_gib * 1024),  # MiB here; DescribeInstanceTypes says GiB
        "ImageId": inst.get("image", ""),
        "OSType": inst.get("os_type") or (world.images.get(inst.get("image", "")) or {}).get("os_type", "linux"),
        "Status": world.instance_status(inst),
        "InstanceChargeType": inst.get("charge_type", "PostPaid"),
        "SpotStrategy": spot,
        **describe_attributes(inst),
        "KeyPairName": inst.get("key_pair", ""),
        "InstanceNetworkType": "vpc",
        "InternetMaxBandwidthOut": int(inst.get("bandwidth_out", 0)),
        "InternetMaxBandwidthIn": 100 if public_ip else 0,
        "PublicIpAddress": {"IpAddress": [public_ip] if public_ip else []},
        "EipAddress": _eip_json(world, inst),
        "InnerIpAddress": {"IpAddress": []},
        "VpcAttributes": {
            "VpcId": subnet.get("vpc", ""),
            "VSwitchId": inst.get("subnet", ""),
            "PrivateIpAddress": {"IpAddress": [inst.get("private_ip", "172.16.0.10")]},
            "NatIpAddress": "",
        },
        "SecurityGroupIds": {"SecurityGroupId": list(inst.get("security_groups", []))},
        "Tags": {"Tag": [{"TagKey": k, "TagValue": str(v)} for k, v in (inst.get("tags") or {}).items()]},
        "OperationLocks": {"LockReason": [{"LockReason": r, "LockMsg": ""} for r in inst.get("locks", [])]},
        "CreationTime": created,
        "StartTime": created,
        "ExpiredTime": "2099-12-31T15:59Z",
        "DeletionProtection": False,
        "Recyclable": False,
    }


def describe_attributes(inst: dict[str, Any]) -> dict[str, Any]:
    """The DescribeInstances Instance fields of the recorded attributes (seeded instances give them
    under the same names as launch_attributes records)."""
    spot = inst.get("spot_strategy", "NoSpot") != "NoSpot"
    return {
        "InternetChargeType": inst.get("internet_charge_type", "PayByTraffic"),
        "CreditSpecification": inst.get("credit", ""),
        "SpotPriceLimit": float(inst.get("spot_price_limit", 0.0)),
        "SpotDuration": int(inst.get("spot_duration", 1 if spot else 0)),
        "SpotInterruptionBehavior": inst.get("spot_interruption", "Terminate"),
        "DeploymentSetId": inst.get("deployment_set", ""),
        "ResourceGroupId": inst.get("resource_group", ""),
        "HpcClusterId": inst.get("hpc_cluster", ""),
    }


def _eip_json(world: World, inst: dict[str, Any]) -> dict[str, Any]:
    eip = world.eips.get(inst.get("eip", ""))
    if eip is None or eip["instance"] != inst["id"]:
        return {"AllocationId": "", "IpAddress": "", "Bandwidth": 0, "InternetChargeType": ""}
    return {"AllocationId": eip["id"], "IpAddress": eip["ip"], "Bandwidth": 5, "InternetChargeType": "PayByTraffic"}


def image_json(world: World, image: dict[str, Any]) -> dict[str, Any]:
    status, progress = world.image_status(image)
    return {
        "ImageId": image["id"],
        "ImageName": image["name"],
        "ImageOwnerAlias": image.get("owner", "self"),
        "Status": status,
        "Progress": progress,
        "CreationTime": world.timestamp(image["created"], ISO_SECOND),
        "Architecture": image.get("arch", "x86_64"),
        "OSType": image.get("os_type", "linux"),
        "Platform": image.get("platform", "Aliyun"),
        "Size": int(image.get("size", 40)),
        "IsSelfShared": "",
        "IsCopied": False,
        "Usage": "none",
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in image.get("tags", {}).items()]},
        "DiskDeviceMappings": {"DiskDeviceMapping": [
            {"SnapshotId": snap_id, "Type": world.snapshots[snap_id]["disk_type"],
             "Device": world.snapshots[snap_id].get("device", ""),
             "Size": str(world.snapshots[snap_id]["size"])}
            for snap_id in image.get("snapshots") or [] if snap_id in world.snapshots]},
    }


def snapshot_status(world: World, snap: dict[str, Any]) -> str:
    if snap["deleted"]:
        return "deleted"
    return "accomplished" if world.clock() - snap["started"] >= snap["duration"] else "progressing"


def image_state_from_snapshots(world: World, image: dict[str, Any]) -> tuple[str, str]:
    """(Status, Progress) of an image made from snapshots: Available when every one is finished,
    CreateFailed as soon as one was deleted with its disk."""
    snaps = [world.snapshots[s] for s in image["snapshots"] if s in world.snapshots]
    if any(s["deleted"] for s in snaps) or len(snaps) < len(image["snapshots"]):
        return "CreateFailed", "0%"
    elapsed = world.clock() - image["created"]
    longest = max((s["duration"] for s in snaps), default=0.0)
    if elapsed >= longest:
        return "Available", "100%"
    return "Creating", f"{min(int(100 * elapsed / longest), 99)}%"
