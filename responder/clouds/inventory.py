"""Inventory verbs both adapters share: instances by tag or by name, for standing capacity.

Parts: AwsInventoryMixin.list_instances (one paged DescribeInstances filtered by tag key, or by
Name), AliyunInventoryMixin.list_instances (paged DescribeInstances by Tag.1.Key, or by
InstanceName), ALIYUN_STATES (ECS status → the neutral state words of InstanceSummary).

Mixed into AwsCloud and AliyunCloud, which provide `_pages` / `_call`. A listing is one filtered
call per page, whatever the number of targets it serves: the reconcile groups targets per region
and reads them all at once.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.base import InstanceSummary

ALIYUN_STATES = {"Pending": "pending", "Starting": "pending", "Running": "running", "Stopping": "stopping",
                 "Stopped": "stopped", "Deleted": "terminated"}


class AwsInventoryMixin:
    def list_instances(self, region: str, tag_key: str = "", names: tuple[str, ...] = ()) -> list[InstanceSummary]:
        """Instances carrying `tag_key` (any value), or named one of `names`; terminated ones are
        left out by the state filter (EC2 keeps them listed for about an hour)."""
        if not tag_key and not names:
            return []
        wanted = [{"Name": "tag-key", "Values": [tag_key]}] if tag_key else [{"Name": "tag:Name", "Values": list(names)}]
        states = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
        raw = self._pages(region, "describe_instances", "Reservations",  # type: ignore[attr-defined]
                          "listing instances of standing targets", Filters=[*wanted, states])
        found = []
        for group in raw:
            for i in group.get("Instances", []):
                tags = tuple((t["Key"], t.get("Value", "")) for t in i.get("Tags", []))
                found.append(InstanceSummary(i["InstanceId"], i.get("InstanceType", ""),
                                             i.get("Placement", {}).get("AvailabilityZone", ""),
                                             i.get("State", {}).get("Name", ""), dict(tags).get("Name", ""), tags))
        return found


class AliyunInventoryMixin:
    def _call(self, region: str, action: str, doing: str, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # provided by AliyunCloud

    def list_instances(self, region: str, tag_key: str = "", names: tuple[str, ...] = ()) -> list[InstanceSummary]:
        """By tag key (Tag.1.Key without a value matches any value), else one listing per name
        (InstanceName takes one name)."""
        queries = [{"Tag.1.Key": tag_key}] if tag_key else [{"InstanceName": n} for n in names]
        found: list[InstanceSummary] = []
        for query in queries:
            page = 1
            while True:
                body = self._call(region, "DescribeInstances", "listing instances of standing targets",
                                  {**query, "PageSize": 100, "PageNumber": page})
                rows = body.get("Instances", {}).get("Instance", [])
                for i in rows:
                    tags = tuple((t.get("TagKey", ""), t.get("TagValue", "")) for t in (i.get("Tags") or {}).get("Tag", []))
                    state = ALIYUN_STATES.get(i.get("Status", ""), "pending")
                    if state != "terminated":
                        found.append(InstanceSummary(i["InstanceId"], i.get("InstanceType", ""), i.get("ZoneId", ""),
                                                     state, i.get("InstanceName", ""), tags))
                if len(rows) < 100 or page * 100 >= int(body.get("TotalCount") or 0):
                    break
                page += 1
        return found
