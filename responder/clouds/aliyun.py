"""The Aliyun ECS adapter: CloudPort over aliyun-python-sdk-core / aliyun-python-sdk-ecs.

Parts: AliyunCloud — _call (one signed RPC to ECS, or to the VPC API for the calls in VPC_CALLS,
errors classified once by aliyun_errors.classify),
describe_instance, instance_states, create_image, describe_image, instance_types,
offerings_with_stock, subnets, launch (RunInstances, one offering per call); reservations come
from AliyunCapacityMixin (aliyun_capacity.py), disks from AliyunDisksMixin (aliyun_disks.py), prices
from AliyunPricesMixin (aliyun_prices.py: DescribePrice), reads
of many ids at once from AliyunBatchMixin (aliyun_batch.py; describe_instance / describe_image are
those with one id).

SDK retries are off (auto_retry=False): exactly one layer retries and it is not this one. The
adapter never sleeps and never decides. `endpoint` points every region at one host (the sandbox,
or a VPC endpoint); a loopback endpoint is spoken to over plain HTTP and without proxies, because
the SDK reads HTTP(S)_PROXY and ignores NO_PROXY.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import threading
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential

from responder.clouds import spot_bands
from responder.clouds.aliyun_batch import ANY_IMAGE_STATUS, IMAGE_STATES, AliyunBatchMixin, instance_info
from responder.clouds.aliyun_capacity import AliyunCapacityMixin, flatten_tags
from responder.clouds.aliyun_disks import AliyunDisksMixin
from responder.clouds.aliyun_errors import classify
from responder.clouds.aliyun_launch import owned_tags, run_instances_params
from responder.clouds.aliyun_prices import AliyunPricesMixin
from responder.clouds.base import (TOKEN_TAG, Capabilities, ImageInfo, InstanceInfo,
    InstanceTypeSpec, LaunchRequest, LaunchResult, OwnImage, Subnet)
from responder.clouds.gate import OPEN_GATE, CallGate, through_gate
from responder.clouds.inventory import AliyunInventoryMixin
from responder.errors import Fatal, Invalid, NotFound
from responder.model import Market

LAUNCHABLE = frozenset({"WithStock", "ClosedWithStock"})  # DescribeAvailableResource StatusCategory
_LOOPBACK = ("127.", "localhost", "[::1]")
# ECS marks its own DescribeVSwitches and AssociateEipAddress deprecated ("We recommend migrating to
# Vpc(2016-04-28)"; RAM authorises both as vpc: actions): these go to the VPC API
# (aliyun-python-sdk-vpc). product → (SDK request package, endpoint product code).
VPC_CALLS = frozenset({"DescribeVSwitches", "AssociateEipAddress", "DescribeEipAddresses"})
_PRODUCTS = {"ecs": ("aliyunsdkecs.request.v20140526", "Ecs"), "vpc": ("aliyunsdkvpc.request.v20160428", "Vpc")}


class AliyunCloud(AliyunCapacityMixin, AliyunInventoryMixin, AliyunDisksMixin, AliyunBatchMixin, AliyunPricesMixin):
    cloud = "aliyun"
    # RunInstances takes one offering; DescribeAvailableResource is live stock; ECS publishes no
    # placement scores; a public IP becomes an EIP only by conversion (not done here yet).
    gate: CallGate = OPEN_GATE  # the API budget, when the runner gives it one
    # Our images are one listing by tag key whatever instances ask (aliyun_batch.latest_images): read
    # ahead, one listing serves the wave's tasks as they come through ECS's CreateImage window.
    capabilities = Capabilities(clone_parts=("user_data", "role", "system_disk"), disks_go_with_instance=True,
                                public_ip_converts=True, retires_tagged_only=True, reads_ahead=("latest_image",))

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str = "",
                 endpoint: str = "", timeout: int = 10):
        if security_token:
            self._credential: Any = StsTokenCredential(access_key_id, access_key_secret, security_token)
        else:
            self._credential = AccessKeyCredential(access_key_id, access_key_secret)
        host = endpoint.split("://", 1)[-1].rstrip("/")
        self._endpoint = host
        loopback = host.startswith(_LOOPBACK)
        # The sandbox has no TLS; anything real goes over HTTPS unless the URL says http://.
        self._protocol = "http" if endpoint.startswith("http://") or loopback else "https"
        self._proxy = {"http": None, "https": None} if loopback else None
        self._timeout = timeout
        self._clients: dict[str, Any] = {}  # "pid:region" → AcsClient
        self._lock = threading.Lock()

    def use_credentials(self, access_key_id: str, access_key_secret: str, security_token: str) -> None:
        """Switch to fresher temporary credentials (Function Compute passes them on each request,
        responder/clouds/fc_credentials.py). The regions' clients are made again on their next call
        with these; a call already in flight finishes with the client it holds."""
        with self._lock:
            current = self._credential
            if (getattr(current, "sts_access_key_id", None), getattr(current, "sts_access_key_secret", None),
                    getattr(current, "sts_token", None)) == (access_key_id, access_key_secret, security_token):
                return
            self._credential = StsTokenCredential(access_key_id, access_key_secret, security_token)
            self._clients.clear()

    def __repr__(self) -> str:  # never show credentials, even in a debugger or a log line
        return f"AliyunCloud(endpoint={self._endpoint or 'default'!r})"

    # -- transport -------------------------------------------------------------------------
    def _client(self, region: str):
        """The region's AcsClient, shared by every thread: each call builds its own request
        object, the signer keeps no per-call state, and the client's requests Session sends through
        a urllib3 pool of pool_size connections (at least the server's threads per process)."""
        key = f"{os.getpid()}:{region}"  # a forked worker makes its own: pools are not fork-safe
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                # Imported here: the SDK's client and its vendored requests cost ~90 ms at startup.
                # Lazy: the Aliyun SDK loads with the first Aliyun call, not at start.
                from aliyunsdkcore.client import AcsClient

                client = AcsClient(region_id=region, credential=self._credential, auto_retry=False,
                                   max_retry_time=0, timeout=self._timeout, connect_timeout=min(5, self._timeout),
                                   pool_size=16, proxy=self._proxy)
                if self._endpoint:
                    for _, code in _PRODUCTS.values():
                        client.add_endpoint(region, code, self._endpoint)
                self._clients[key] = client
            return client

    def _call(self, region: str, action: str, doing: str, params: dict[str, Any]) -> dict[str, Any]:
        """One RPC call to ECS (or the VPC API). The SDK's own request class carries product,
        version and endpoint data; parameters go in already flattened (Tag.1.Key, SecurityGroupIds.1)."""
        package = _PRODUCTS["vpc" if action in VPC_CALLS else "ecs"][0]
        module = importlib.import_module(f"{package}.{action}Request")
        request = getattr(module, f"{action}Request")()
        request.set_protocol_type(self._protocol)
        for key, value in params.items():
            if value is not None and value != "":
                request.add_query_param(key, str(value))
        with through_gate(self.gate, self.cloud, region, action):  # the API budget: may hold the call back
            try:
                return json.loads(self._client(region).do_action_with_exception(request))
            except (ServerException, ClientException) as exc:
                raise classify(exc, action, doing) from exc

    # -- instances -------------------------------------------------------------------------
    def describe_instance(self, region: str, instance_id: str) -> InstanceInfo:
        found = self.describe_instances(region, (instance_id,)).get(instance_id)
        if found is None:
            raise NotFound("InvalidInstanceId.NotFound", f"describing instance {instance_id}: no such instance in {region}",
                           "DescribeInstances")
        return found

    def clone_details(self, region: str, info: InstanceInfo, parts: tuple[str, ...] | None = None) -> InstanceInfo:
        """What DescribeInstances leaves out, each from the API that owns it: user data, RAM role,
        system disk (one call per part). Called after CreateImage, while the image builds, so
        verification stays one call; asked part by part, so a retry repeats only what failed."""
        instance_id = info.instance_id
        doing = f"reading clone details of {instance_id}"
        for part in parts or self.capabilities.clone_parts:
            if part == "user_data":
                user_data = self._call(region, "DescribeUserData", doing, {"InstanceId": instance_id}).get("UserData")
                info = dataclasses.replace(info, user_data=user_data or "")
            elif part == "role":
                roles = self._call(region, "DescribeInstanceRamRole", doing, {"InstanceIds": json.dumps([instance_id])})
                rows = roles.get("InstanceRamRoleSets", {}).get("InstanceRamRoleSet", [])
                info = dataclasses.replace(info, role=rows[0].get("RamRoleName", "") if rows else "")
            elif part == "system_disk":
                disks = self._call(region, "DescribeDisks", doing, {"InstanceId": instance_id, "DiskType": "system"})
                disk = (disks.get("Disks", {}).get("Disk") or [{}])[0]
                info = dataclasses.replace(info, system_disk_category=disk.get("Category", ""),
                                           system_disk_size=int(disk.get("Size") or 0))
        return info

    def instance_states(self, region: str, instance_ids: list[str]) -> dict[str, str]:
        """Status per instance id; ids ECS no longer knows are absent from the result."""
        states: dict[str, str] = {}
        for start in range(0, len(instance_ids), 100):
            chunk = instance_ids[start:start + 100]
            found = self._call(region, "DescribeInstances", f"reading states of {len(chunk)} instances",
                               {"InstanceIds": json.dumps(chunk), "PageSize": 100})["Instances"]["Instance"]
            states.update({i["InstanceId"]: i.get("Status", "") for i in found})
        return states

    def find_launched(self, region: str, client_token: str) -> tuple[str, ...]:
        found = self._call(region, "DescribeInstances", f"looking up the launch {client_token}",
                           {"Tag.1.Key": TOKEN_TAG, "Tag.1.Value": client_token, "PageSize": 100})
        return tuple(sorted(i["InstanceId"] for i in found["Instances"]["Instance"]
                            if i.get("Status") not in ("Stopped", "Deleted")))

    def take_charge(self, region: str, resource_ids: tuple[str, ...]) -> None:
        """Nothing to tag: an instance the responder retires on ECS is a replacement it launched,
        which carries responder:managed from RunInstances (aliyun_launch.py), the tag the RAM
        policy's DeleteInstance condition names, or a fleet instance its owner tagged so
        (capabilities.retires_tagged_only; revert/adoption.py adopts no other)."""

    def terminate_instance(self, region: str, instance_id: str) -> None:
        self._call(region, "DeleteInstance", f"releasing {instance_id}", {"InstanceId": instance_id, "Force": "true"})

    def associate_address(self, region: str, allocation_id: str, instance_id: str) -> str:
        self._call(region, "AssociateEipAddress", f"binding EIP {allocation_id} to {instance_id}",
                   {"AllocationId": allocation_id, "InstanceId": instance_id})
        return allocation_id

    def placement_scores(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        return {}  # ECS publishes no placement scores: candidates keep the planner's tier order

    def spot_prices(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], float]:
        return {}

    def spot_bands(self, region: str, instance_types: list[str]) -> dict[tuple[str, str], int]:
        """DescribeSpotAdvice for every zone, ten types a call (spot_bands.py: the API and the scale)."""
        found: dict[tuple[str, str], int] = {}
        for start in range(0, len(instance_types), spot_bands.ALIYUN_TYPES_PER_CALL):
            chunk = instance_types[start:start + spot_bands.ALIYUN_TYPES_PER_CALL]
            params = {"RegionId": region, **{f"InstanceTypes.{n}": t for n, t in enumerate(chunk, 1)}}
            found.update(spot_bands.aliyun_bands(self._call(region, "DescribeSpotAdvice",
                                                            f"reading the interruption bands in {region}", params)))
        return found

    # -- images ----------------------------------------------------------------------------
    def create_image(self, region: str, instance_id: str, name: str, client_token: str,
                     tags: tuple[tuple[str, str], ...] = ()) -> str:
        params = {"InstanceId": instance_id, "ImageName": name, "ClientToken": client_token, **flatten_tags(tags)}
        return self._call(region, "CreateImage", f"creating image for {instance_id}", params)["ImageId"]

    def describe_image(self, region: str, image_id: str) -> ImageInfo:
        found = self.describe_images(region, (image_id,)).get(image_id)
        if found is None:
            raise NotFound("InvalidImageId.NotFound", f"reading image {image_id}: no such image in {region}",
                           "DescribeImages")
        return found

    # -- catalog and stock -----------------------------------------------------------------
    def instance_types(self, region: str) -> dict[str, InstanceTypeSpec]:
        catalog: dict[str, InstanceTypeSpec] = {}
        token = ""
        while True:
            page = self._call(region, "DescribeInstanceTypes", f"reading the instance type catalog of {region}",
                              {"MaxResults": 1600, "NextToken": token})
            for raw in page.get("InstanceTypes", {}).get("InstanceType", []):
                catalog[raw["InstanceTypeId"]] = InstanceTypeSpec(
                    instance_type=raw["InstanceTypeId"], family=raw.get("InstanceTypeFamily", ""),
                    cpu=int(raw.get("CpuCoreCount") or 0), memory_gib=float(raw.get("MemorySize") or 0),
                    architecture="arm64" if raw.get("CpuArchitecture") == "ARM" else "x86_64")
            token = page.get("NextToken") or ""
            if not token:
                return catalog

    def offerings_with_stock(self, region: str, instance_types: list[str], market: Market) -> set[tuple[str, str]]:
        """One DescribeAvailableResource for every zone: (type, zone) pairs that can launch now."""
        spot = "SpotAsPriceGo" if market == Market.SPOT else "NoSpot"
        body = self._call(region, "DescribeAvailableResource", f"probing {market.value} stock in {region}",
                          {"DestinationResource": "InstanceType", "InstanceChargeType": "PostPaid", "SpotStrategy": spot})
        wanted = set(instance_types)
        found: set[tuple[str, str]] = set()
        for zone in body.get("AvailableZones", {}).get("AvailableZone", []):
            for group in zone.get("AvailableResources", {}).get("AvailableResource", []):
                for item in group.get("SupportedResources", {}).get("SupportedResource", []):
                    if item.get("StatusCategory") in LAUNCHABLE and (not wanted or item.get("Value") in wanted):
                        found.add((item["Value"], zone["ZoneId"]))
        return found

    def subnets(self, region: str, vpc_id: str) -> list[Subnet]:
        found: list[Subnet] = []
        page = 1
        while True:
            body = self._call(region, "DescribeVSwitches", f"listing vswitches of {vpc_id}",
                              {"VpcId": vpc_id, "PageSize": 50, "PageNumber": page})
            rows = body.get("VSwitches", {}).get("VSwitch", [])
            found += [Subnet(subnet_id=r["VSwitchId"], zone=r["ZoneId"], vpc_id=r.get("VpcId", vpc_id)) for r in rows]
            if not rows or len(found) >= int(body.get("TotalCount") or 0):
                return found
            page += 1

    # -- launch ----------------------------------------------------------------------------
    def launch(self, region: str, request: LaunchRequest) -> LaunchResult:
        """RunInstances for request.offerings[0] only: ECS launches one offering per call."""
        if not request.offerings:
            raise Invalid("MissingParameter.InstanceType", "launch request names no offering", "RunInstances")
        offering = request.offerings[0]
        vswitch = dict(request.subnet_by_zone).get(offering.zone)
        if not vswitch:
            raise Invalid("MissingParameter.VSwitchId", f"no vswitch for zone {offering.zone}", "RunInstances")
        src = request.source
        params = run_instances_params(request, offering, vswitch, flatten_tags(owned_tags(request)))
        doing = f"launching {request.count} x {offering} for {src.instance_id}"
        try:
            body = self._call(region, "RunInstances", doing, params)
        except Fatal as exc:
            if request.dry_run and exc.code == "DryRunOperation":  # ECS's "would have succeeded"
                return LaunchResult(instance_ids=(), offering=offering)
            raise
        ids = tuple(body.get("InstanceIdSets", {}).get("InstanceIdSet", []))
        return LaunchResult(instance_ids=ids, offering=offering)

    # -- the race against the release ------------------------------------------------------
    def convert_public_ip(self, region: str, instance_id: str) -> str:
        """Check before act: a conversion whose answer was lost left an EIP on the instance."""
        doing = f"converting the public IP of {instance_id} to an EIP"

        def bound() -> str:
            rows = self._call(region, "DescribeInstances", doing, {"InstanceIds": json.dumps([instance_id])})
            rows = rows["Instances"]["Instance"]
            return ((rows[0].get("EipAddress") or {}).get("AllocationId") or "") if rows else ""

        found = bound()
        if found:
            return found
        self._call(region, "ConvertNatPublicIpToEip", doing, {"InstanceId": instance_id})
        return bound()

    def latest_image(self, region: str, instance_id: str) -> str:
        rows = self._call(region, "DescribeImages", f"finding the latest image of {instance_id}",
                          {"Status": "Available", "ImageOwnerAlias": "self", "PageSize": 100,
                           "Tag.1.Key": "responder:source-instance", "Tag.1.Value": instance_id})["Images"]["Image"]
        rows.sort(key=lambda r: r.get("CreationTime", ""), reverse=True)
        return rows[0]["ImageId"] if rows else ""

    # -- protect ahead of time and retention -----------------------------------------------
    def instances_tagged(self, region: str, key: str, value: str) -> list[str]:
        doing = f"listing instances tagged {key}={value}"
        return [r["InstanceId"] for r in self._tagged_rows(region, key, value, doing)]

    def fleet_instances(self, region: str, key: str, value: str) -> list[InstanceInfo]:
        return [instance_info(region, raw) for raw in self._tagged_rows(
            region, key, value, f"reading the fleet tagged {key}={value}", {"Status": "Running"})]

    def _tagged_rows(self, region: str, key: str, value: str, doing: str, more: dict | None = None) -> list[dict]:
        """DescribeInstances by one tag, a page of 100 rows a call."""
        found, page = [], 1
        while True:
            body = self._call(region, "DescribeInstances", doing, {"Tag.1.Key": key, "Tag.1.Value": value,
                                                                   "PageSize": 100, "PageNumber": page, **(more or {})})
            rows = body["Instances"]["Instance"]
            found += rows
            if not rows or len(found) >= int(body.get("TotalCount") or 0):
                return found
            page += 1

    def own_images(self, region: str) -> list[OwnImage]:
        found, page = [], 1
        while True:
            body = self._call(region, "DescribeImages", "listing the responder's images",
                              {"ImageOwnerAlias": "self", "Status": ANY_IMAGE_STATUS,
                               "Tag.1.Key": "responder:source-instance", "PageSize": 100, "PageNumber": page})
            rows = body["Images"]["Image"]
            for r in rows:
                tags = {t["TagKey"]: t.get("TagValue", "") for t in (r.get("Tags") or {}).get("Tag", [])}
                if "responder:source-instance" not in tags:
                    continue  # never another's image, whatever the filter returned
                found.append(OwnImage(r["ImageId"], tags["responder:source-instance"],
                                      tags.get("responder:made-by", "interruption"), r.get("CreationTime", ""),
                                      IMAGE_STATES.get(r.get("Status", ""), "creating"), r.get("ImageName", "")))
            if not rows or page * 100 >= int(body.get("TotalCount") or 0):
                return found
            page += 1

    def delete_image(self, region: str, image_id: str) -> None:
        doing = f"deleting image {image_id}"
        rows = self._call(region, "DescribeImages", doing, {"ImageId": image_id, "ImageOwnerAlias": "self",
                          "Status": ANY_IMAGE_STATUS})["Images"]["Image"]
        snapshots = [m.get("SnapshotId") for r in rows
                     for m in (r.get("DiskDeviceMappings") or {}).get("DiskDeviceMapping", []) if m.get("SnapshotId")]
        self._call(region, "DeleteImage", doing, {"ImageId": image_id})
        for snapshot_id in snapshots:  # an image's snapshots bill on after DeleteImage
            try:
                self._call(region, "DeleteSnapshot", f"deleting snapshot {snapshot_id} of {image_id}",
                           {"SnapshotId": snapshot_id})
            except NotFound:
                pass
