"""The Aliyun adapter's reads of many at once (replace/batching.py groups a wave's reads into these).

Parts: instance_info (one DescribeInstances row → InstanceInfo), image_info, AliyunBatchMixin —
describe_instances, describe_images, latest_images, disks_of, clone_details_many.

Where ECS takes many ids in one call, one call per page of ids (100, the documented maximum):
- DescribeInstances `InstanceIds`: a JSON array of up to 100 ids
  (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describeinstances);
- DescribeImages `ImageId`: up to 100 ids separated by commas; ECS answers PageSize ≤ 100 rows
  (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describeimages);
- DescribeInstanceRamRole `InstanceIds`: a JSON array; the English page says up to 100 ids, the
  Chinese one (help.aliyun.com document_detail/54243) 50, and PageSize is at most 50: the harsher 50.
DescribeUserData and DescribeDisks by `InstanceId` take one instance: user data stays one call each;
the disks of several instances of one zone may come from one listing of the zone's disks instead
(DescribeDisks `ZoneId` with `NextToken` / `MaxResults` ≤ 100, aliyun_disks.zone_disks).
Ids ECS does not know are simply absent from the answers.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from responder.clouds.aliyun_launch import clone_fields
from responder.clouds.base import DiskInfo, ImageInfo, InstanceInfo
from responder.clouds.one_by_one import chunks, clone_each, each

PAGE = 100  # the most ids (and rows) one ECS Describe* call takes (and returns)
ROLE_PAGE = 50  # DescribeInstanceRamRole's: see above
IMAGE_STATES = {"Available": "available", "Creating": "creating", "Waiting": "creating",
                "CreateFailed": "failed", "UnAvailable": "failed", "Deprecated": "failed"}
ANY_IMAGE_STATUS = "Creating,Waiting,Available,UnAvailable,CreateFailed"  # without it ECS hides Creating images


def instance_info(region: str, raw: dict[str, Any]) -> InstanceInfo:
    vpc = raw.get("VpcAttributes") or {}
    public = (raw.get("PublicIpAddress") or {}).get("IpAddress") or []
    eip = (raw.get("EipAddress") or {}).get("IpAddress") or ""
    locks = (raw.get("OperationLocks") or {}).get("LockReason") or []
    return InstanceInfo(
        instance_id=raw["InstanceId"], region=region, zone=raw.get("ZoneId", ""),
        instance_type=raw.get("InstanceType", ""), status=raw.get("Status", ""),
        spot=raw.get("SpotStrategy", "NoSpot") not in ("", "NoSpot"),
        reclaiming=any(str(lock.get("LockReason", "")).lower() == "recycling" for lock in locks),
        cpu=int(raw.get("Cpu") or 0), memory_mib=int(raw.get("Memory") or 0),
        vpc_id=vpc.get("VpcId", ""), subnet_id=vpc.get("VSwitchId", ""),
        security_group_ids=tuple((raw.get("SecurityGroupIds") or {}).get("SecurityGroupId") or ()),
        key_pair=raw.get("KeyPairName") or "", name=raw.get("InstanceName") or "",
        hostname=raw.get("HostName") or "",
        tags=tuple((t["TagKey"], t.get("TagValue", "")) for t in (raw.get("Tags") or {}).get("Tag", [])),
        public_ip=public[0] if public else eip,
        private_ip=((vpc.get("PrivateIpAddress") or {}).get("IpAddress") or [""])[0],
        public_bandwidth_out=int(raw.get("InternetMaxBandwidthOut") or 0),
        image_id=raw.get("ImageId", ""), os_type=str(raw.get("OSType") or "").lower(),
        **clone_fields(raw),
    )


def image_info(raw: dict[str, Any]) -> ImageInfo:
    status = raw.get("Status", "")
    return ImageInfo(image_id=raw["ImageId"], state=IMAGE_STATES.get(status, "failed"), progress=raw.get("Progress", ""),
                     reason="" if status in ("Available", "Creating") else status)


class AliyunBatchMixin:
    def _call(self, region: str, action: str, doing: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # AliyunCloud's

    def describe_instances(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, InstanceInfo]:
        found: dict[str, InstanceInfo] = {}
        for chunk in chunks(instance_ids):
            rows = self._call(region, "DescribeInstances", f"describing {len(chunk)} instances",
                              {"InstanceIds": json.dumps(chunk), "PageSize": PAGE})["Instances"]["Instance"]
            found.update({raw["InstanceId"]: instance_info(region, raw) for raw in rows})
        return found

    def describe_images(self, region: str, image_ids: tuple[str, ...]) -> dict[str, ImageInfo]:
        found: dict[str, ImageInfo] = {}
        for chunk in chunks(image_ids):
            rows = self._call(region, "DescribeImages", f"reading {len(chunk)} images",
                              {"ImageId": ",".join(chunk), "Status": ANY_IMAGE_STATUS,
                               "PageSize": PAGE})["Images"]["Image"]
            found.update({raw["ImageId"]: image_info(raw) for raw in rows})
        return found

    def latest_images(self, region: str, instance_ids: tuple[str, ...]) -> dict[str, str]:
        """The newest Available image of ours per instance. One tag filter takes one value, so many
        instances are one listing of our images by tag key (paged): a wave reads it once."""
        wanted, newest, page = set(instance_ids), {}, 1
        while True:
            body = self._call(region, "DescribeImages", f"finding the latest images of {len(wanted)} instances",
                              {"Status": "Available", "ImageOwnerAlias": "self", "PageSize": PAGE,
                               "PageNumber": page, "Tag.1.Key": "responder:source-instance"})
            rows = body["Images"]["Image"]
            for raw in rows:
                tags = {t["TagKey"]: t.get("TagValue", "") for t in (raw.get("Tags") or {}).get("Tag", [])}
                source = tags.get("responder:source-instance")
                if source in wanted and raw.get("CreationTime", "") >= newest.get(source, ("", ""))[0]:
                    newest[source] = (raw.get("CreationTime", ""), raw["ImageId"])
            if not rows or page * PAGE >= int(body.get("TotalCount") or 0):
                return {i: newest[i][1] if i in newest else "" for i in instance_ids}
            page += 1

    def disks_of(self, region: str, instance_ids: tuple[str, ...], zone: str = "",
                 on_listing=None, soon: int = 0) -> dict[str, list[DiskInfo]]:
        """DescribeDisks filters by one InstanceId: one call per instance — or, for several
        instances of one zone, one NextToken listing of the zone's disks when that took fewer
        pages last time than there are instances, counting the `soon` more expected to ask (a
        wave is one zone: its tasks share it); `on_listing` gets every disk such a listing returned."""
        pages, asking = self._zone_listing_pages().get((region, zone)), len(instance_ids) + soon
        if zone and asking > 1 and (pages is None or pages < asking):
            wanted = set(instance_ids)
            found: dict[str, list[DiskInfo]] = {i: [] for i in instance_ids}
            disks, pages = self.zone_disks(region, zone)
            self._zone_listing_pages()[(region, zone)] = pages
            if on_listing is not None:
                on_listing(disks)
            for disk in disks:
                if disk.instance_id in wanted:
                    found[disk.instance_id].append(disk)
            return found
        return each(instance_ids, lambda i: self.describe_disks(region, instance_id=i))

    def _zone_listing_pages(self) -> dict[tuple[str, str], int]:
        """Pages the last listing of each (region, zone) took: whether the next one is cheaper."""
        if "_zone_pages" not in self.__dict__:  # per adapter copy (each process its own)
            self.__dict__["_zone_pages"] = {}
        return self.__dict__["_zone_pages"]

    def clone_details_many(self, region: str, infos: tuple[InstanceInfo, ...], part: str) -> dict[str, InstanceInfo]:
        if part != "role":  # DescribeUserData and DescribeDisks take one instance
            return clone_each(self, region, infos, part)
        roles: dict[str, str] = {}
        for chunk in chunks([info.instance_id for info in infos], ROLE_PAGE):
            body = self._call(region, "DescribeInstanceRamRole", f"reading the RAM roles of {len(chunk)} instances",
                              {"InstanceIds": json.dumps(chunk), "PageSize": ROLE_PAGE})
            roles.update({r["InstanceId"]: r.get("RamRoleName", "")
                          for r in body.get("InstanceRamRoleSets", {}).get("InstanceRamRoleSet", [])})
        return {info.instance_id: dataclasses.replace(info, role=roles.get(info.instance_id, "")) for info in infos}
