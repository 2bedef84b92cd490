"""The AWS adapter's reads of many at once (replace/batching.py groups a wave's reads into these).

Parts: AwsBatchMixin — describe_instances (with each spot instance's request state),
describe_images, latest_images, disks_of, clone_details_many, elastic_ips_of.

Ids go as a filter, not as `...Ids`: "If you specify an instance ID that is not valid, an error is
returned" (DescribeInstances, EC2 API reference) fails the whole call for one gone id, while a
filter's values "are joined with an OR" (API_Filter) and a gone id is simply absent. At most 100
values per filter, paged by NextToken. DescribeInstanceAttribute (user data) takes one instance:
that part stays one call each.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from responder.clouds.aws_errors import region_refused
from responder.clouds.aws_protect import IMAGE_STATES
from responder.clouds.base import DiskInfo, ImageInfo, InstanceInfo
from responder.clouds.one_by_one import chunks, clone_each
from responder.errors import Fatal, NotFound

RECLAIMING_CODES = frozenset({"marked-for-termination", "marked-for-stop", "marked-for-hibernation"})


def _by(name: str, ids) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": list(ids)}]


def instance_info(region: str, owner: str, raw: dict[str, Any], request_state: str,
                  max_price: float = 0.0) -> InstanceInfo:
    placement = raw.get("Placement", {})
    tags = tuple((t["Key"], t.get("Value", "")) for t in raw.get("Tags", []))
    profile_arn = raw.get("IamInstanceProfile", {}).get("Arn", "")
    return InstanceInfo(
        instance_id=raw["InstanceId"], region=region, zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
        instance_type=raw["InstanceType"], status=raw.get("State", {}).get("Name", ""),
        spot=raw.get("InstanceLifecycle") == "spot", reclaiming=request_state in RECLAIMING_CODES,
        # vCPU and memory come from the type catalog the planner caches (no call here).
        architecture=raw.get("Architecture", ""), account=owner,
        vpc_id=raw.get("VpcId", ""), subnet_id=raw.get("SubnetId", ""),
        security_group_ids=tuple(g["GroupId"] for g in raw.get("SecurityGroups", [])),
        key_pair=raw.get("KeyName", ""), name=dict(tags).get("Name", ""), hostname=raw.get("PrivateDnsName", ""),
        tags=tags, role=profile_arn.rsplit("/", 1)[-1] if profile_arn else "",
        public_ip=raw.get("PublicIpAddress", ""), private_ip=raw.get("PrivateIpAddress", ""),
        image_id=raw.get("ImageId", ""), spot_request_state=request_state,
        # what the clone copies: the spot request's MaxPrice, the placement group, the tenancy
        spot_price_limit=max_price, placement_group=placement.get("GroupName", ""),
        tenancy=placement.get("Tenancy", ""),
        os_type="windows" if str(raw.get("Platform", "")).lower() == "windows" else "linux",
        virtualization=raw.get("VirtualizationType", ""), billing=billing_of(raw),
    )


def billing_of(raw: dict[str, Any]) -> str:
    """An instance's or an AMI's billing, as CreateReplaceRootVolumeTask compares it: its product
    codes, then its UsageOperation when EC2 gives one."""
    codes = sorted(c.get("ProductCodeId", "") for c in raw.get("ProductCodes") or [])
    return ",".join(codes) + "|" + str(raw.get("UsageOperation") or "")


class AwsBatchMixin:
    def _call(self, region: str, operation: str, doing: str, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError  # AwsCloud's

    def _pages(self, region: str, operation: str, key: str, doing: str, **kwargs: Any) -> list[dict[str, Any]]:
        raise NotImplementedError  # AwsCloud's

    def describe_instances(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, InstanceInfo]:
        found: dict[str, InstanceInfo] = {}
        for chunk in chunks(instance_ids):
            doing = f"describing {len(chunk)} instances"
            try:
                reservations = self._pages(region, "describe_instances", "Reservations", doing,
                                           Filters=_by("instance-id", chunk))
            except Fatal as exc:  # an event naming a region we do not use is about no instance of ours
                if region_refused(exc, region):
                    raise NotFound(exc.code, f"{doing}: {region} is not a region this account uses",
                                   "DescribeInstances")
                raise
            rows = [(r.get("OwnerId", ""), raw) for r in reservations for raw in r.get("Instances", [])]
            states = self._spot_request_states(region, [raw["InstanceId"] for _, raw in rows
                                                        if raw.get("InstanceLifecycle") == "spot"])
            found.update({raw["InstanceId"]: instance_info(region, owner, raw,
                                                           *states.get(raw["InstanceId"], ("", 0.0)))
                          for owner, raw in rows})
        return found

    def _spot_request_states(self, region: str, instance_ids: list[str]) -> dict[str, tuple[str, float]]:
        """DescribeSpotInstanceRequests by the instance-id filter: one call for the chunk; an
        instance a fleet launched may have no request left to describe (then absent). Each request's
        status code (verification) and SpotPrice, the MaxPrice the original was bought under, which
        its clone keeps."""
        if not instance_ids:
            return {}
        requests = self._pages(region, "describe_spot_instance_requests", "SpotInstanceRequests",
                               f"reading the spot requests of {len(instance_ids)} instances",
                               Filters=_by("instance-id", instance_ids))
        return {r["InstanceId"]: (r.get("Status", {}).get("Code", ""), float(r.get("SpotPrice") or 0))
                for r in requests if r.get("InstanceId")}

    def describe_images(self, region: str, image_ids: tuple[str, ...]) -> dict[str, ImageInfo]:
        found: dict[str, ImageInfo] = {}
        for chunk in chunks(image_ids):
            images = self._pages(region, "describe_images", "Images", f"reading {len(chunk)} images",
                                 Filters=_by("image-id", chunk))
            found.update({i["ImageId"]: ImageInfo(image_id=i["ImageId"], state=IMAGE_STATES.get(i.get("State", ""),
                                                                                                 "creating"),
                                                  reason=i.get("StateReason", {}).get("Message", ""))
                          for i in images})
        return found

    def latest_images(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, str]:
        """The newest available AMI of ours per instance (the state is read, not filtered on, so a
        pending one is never taken)."""
        newest: dict[str, tuple[str, str]] = {}
        for chunk in chunks(instance_ids):
            images = self._pages(region, "describe_images", "Images", f"finding the latest images of {len(chunk)} "
                                 "instances", Owners=["self"], Filters=_by("tag:responder:source-instance", chunk))
            for image in images:
                source = {t["Key"]: t.get("Value", "") for t in image.get("Tags", [])}.get("responder:source-instance")
                if image.get("State") == "available" and image.get("CreationDate", "") >= newest.get(source, ("",))[0]:
                    newest[source] = (image.get("CreationDate", ""), image["ImageId"])
        return {i: newest[i][1] if i in newest else "" for i in instance_ids}

    def disks_of(self, region: str, instance_ids: tuple[str, ...], zone: str = "",
                 on_listing=None, soon: int = 0) -> dict[str, list[DiskInfo]]:
        # EC2 takes 100 instance ids in one attachment filter: the zone is not needed.
        found: dict[str, list[DiskInfo]] = {i: [] for i in instance_ids}
        for chunk in chunks(instance_ids):
            for disk in self._volumes(region, f"listing the volumes of {len(chunk)} instances",
                                      Filters=_by("attachment.instance-id", chunk)):
                found.setdefault(disk.instance_id, []).append(disk)
        return found

    def clone_details_many(self, region: str, infos: tuple[InstanceInfo, ...], part: str) -> dict[str, InstanceInfo]:
        if part != "elastic_ip":  # DescribeInstanceAttribute (user data) takes one instance
            return clone_each(self, region, infos, part)
        allocations = self.elastic_ips_of(region, tuple(info.instance_id for info in infos))
        return {info.instance_id: dataclasses.replace(info, elastic_ip_allocation=allocations[info.instance_id])
                for info in infos}

    def elastic_ips_of(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, str]:
        """The Elastic IP allocation of each instance ("" when it has none): DescribeAddresses by
        the instance-id filter, up to 100 instances a call (it has no paging: one page answers)."""
        allocations: dict[str, str] = {i: "" for i in instance_ids}
        for chunk in chunks(list(instance_ids)):
            addresses = self._call(region, "describe_addresses", f"reading the Elastic IPs of {len(chunk)} instances",
                                   Filters=_by("instance-id", chunk))["Addresses"]
            allocations.update({a["InstanceId"]: a["AllocationId"] for a in addresses
                                if a.get("AllocationId") and a.get("InstanceId") in allocations})
        return allocations
