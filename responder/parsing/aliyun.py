"""Aliyun payloads: the CloudMonitor system event and the EventBridge CloudEvent.

Parts: parse_cloudmonitor, parse_cloudevent, INTERRUPTION_NAME, INSTANCE_ID_RE.
"""

from __future__ import annotations

import re

from responder.errors import BadEvent
from responder.model import Cloud, EventKind, Ignored, Interruption
from responder.parsing.fields import mapping_field, matching, region_field, shown, text_field

INTERRUPTION_NAME = "Instance:PreemptibleInstanceInterruption"
INSTANCE_ID_RE = re.compile(r"i-[a-z0-9]{8,30}")
RESOURCE_RE = re.compile(r"acs:ecs:(?P<region>[^:]*):(?P<account>[^:]*):instance/(?P<instance>.+)")


def _check_resource(resource: str, region: str, instance_id: str, path: str) -> str:
    """The ARN-like resource id must agree with the event's region and instance; returns its account."""
    if not resource:
        return ""
    match = RESOURCE_RE.fullmatch(resource)
    if not match:
        raise BadEvent(f"{path} {shown(resource)} is not an acs:ecs:REGION:ACCOUNT:instance/ID resource")
    if match["region"] != region:
        raise BadEvent(f"{path} names region {shown(match['region'])} but the event says {region!r}")
    if match["instance"] != instance_id:
        raise BadEvent(f"{path} names instance {shown(match['instance'])} but the event says {instance_id!r}")
    return match["account"]


def parse_cloudmonitor(event: dict) -> Interruption | Ignored:
    name = text_field(event, "name", "name")
    if name != INTERRUPTION_NAME:
        return Ignored(reason=f"CloudMonitor event {shown(name)} is not an interruption", shape="cloudmonitor")
    content = mapping_field(event, "content", "content")
    instance_id = matching(text_field(content, "instanceId", "content.instanceId"), INSTANCE_ID_RE,
                           "content.instanceId", "ECS instance id")
    region = region_field(event, "regionId", "regionId")
    account = _check_resource(text_field(event, "resourceId", "resourceId", required=False), region, instance_id,
                              "resourceId")
    return Interruption(
        cloud=Cloud.ALIYUN, region=region, instance_id=instance_id, kind=EventKind.INTERRUPTION,
        account=text_field(event, "userId", "userId", required=False) or account,
        event_id=text_field(event, "id", "id", required=False),
        event_time=text_field(event, "eventTime", "eventTime", required=False), shape="cloudmonitor",
        detail=(("action", text_field(content, "action", "content.action", required=False)),),
    )


def parse_cloudevent(event: dict) -> Interruption | Ignored:
    event_type = text_field(event, "type", "type")
    if not event_type.endswith(INTERRUPTION_NAME):
        return Ignored(reason=f"EventBridge event {shown(event_type)} is not an interruption", shape="eventbridge")
    data = mapping_field(event, "data", "data")
    instance_id = matching(text_field(data, "instanceId", "data.instanceId"), INSTANCE_ID_RE, "data.instanceId",
                           "ECS instance id")
    region = region_field(event, "aliyunregionid", "aliyunregionid")
    account = _check_resource(text_field(event, "subject", "subject", required=False), region, instance_id, "subject")
    return Interruption(
        cloud=Cloud.ALIYUN, region=region, instance_id=instance_id, kind=EventKind.INTERRUPTION,
        account=text_field(event, "aliyunaccountid", "aliyunaccountid", required=False) or account,
        event_id=text_field(event, "id", "id", required=False),
        event_time=text_field(event, "time", "time", required=False), shape="eventbridge",
        detail=(("action", text_field(data, "action", "data.action", required=False)),),
    )
