"""AWS EventBridge payloads, routed by (source, detail-type) through one registry.

Parts: PARSERS (the registry), parse_eventbridge, INSTANCE_ID_RE.
"""

from __future__ import annotations

import re
from typing import Callable

from responder.errors import BadEvent
from responder.model import Cloud, EventKind, Ignored, Interruption, Tick
from responder.parsing.fields import list_field, mapping_field, matching, region_field, shown, text_field, text_items

INSTANCE_ID_RE = re.compile(r"i-[0-9a-f]{8,17}")
ACCOUNT_RE = re.compile(r"\d{12}")


def _instance(event: dict, kind: EventKind, *detail_keys: str) -> Interruption:
    detail = mapping_field(event, "detail", "detail")
    instance_id = matching(text_field(detail, "instance-id", "detail.instance-id"), INSTANCE_ID_RE,
                           "detail.instance-id", "EC2 instance id")
    return _interruption(event, kind, instance_id,
                         tuple((k, text_field(detail, k, f"detail.{k}", required=False)) for k in detail_keys))


def _interruption(event: dict, kind: EventKind, instance_id: str, detail: tuple) -> Interruption:
    account = text_field(event, "account", "account", required=False)
    if account:
        matching(account, ACCOUNT_RE, "account", "AWS account id")
    return Interruption(
        cloud=Cloud.AWS, region=region_field(event, "region", "region"), instance_id=instance_id, kind=kind,
        account=account, event_id=text_field(event, "id", "id", required=False),
        event_time=text_field(event, "time", "time", required=False), shape="eventbridge", detail=detail,
    )


def _health(event: dict) -> Interruption | Ignored:
    """AWS Health scheduled changes name the instance in resources / affectedEntities."""
    detail = mapping_field(event, "detail", "detail")
    candidates = [r.rsplit("/", 1)[-1] for r in text_items(event, "resources", "resources")]
    for index, entity in enumerate(list_field(detail, "affectedEntities", "detail.affectedEntities")):
        path = f"detail.affectedEntities[{index}]"
        if not isinstance(entity, dict):
            raise BadEvent(f"{path} must be an object, not {type(entity).__name__}")
        candidates.append(text_field(entity, "entityValue", f"{path}.entityValue", required=False))
    instance_ids = [c for c in candidates if INSTANCE_ID_RE.fullmatch(c)]
    if not instance_ids:
        return Ignored(reason="AWS Health event names no EC2 instance", shape="aws-health")
    return _interruption(event, EventKind.HEALTH, instance_ids[0],
                         (("category", text_field(detail, "eventTypeCategory", "detail.eventTypeCategory",
                                                  required=False)),
                          ("event-type", text_field(detail, "eventTypeCode", "detail.eventTypeCode", required=False))))


PARSERS: dict[tuple[str, str], Callable[[dict], Interruption | Ignored | Tick]] = {
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"):
        lambda e: _instance(e, EventKind.INTERRUPTION, "instance-action"),
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"): lambda e: _instance(e, EventKind.REBALANCE),
    ("aws.ec2", "EC2 Instance State-change Notification"): lambda e: _instance(e, EventKind.STATE_CHANGE, "state"),
    ("aws.health", "AWS Health Event"): _health,
    ("aws.events", "Scheduled Event"): lambda e: Tick(source="eventbridge-schedule"),
}


def parse_eventbridge(event: dict) -> Interruption | Ignored | Tick:
    source = text_field(event, "source", "source")
    detail_type = text_field(event, "detail-type", "detail-type")
    parser = PARSERS.get((source, detail_type))
    if parser is None:
        return Ignored(reason=f"{shown(source)} {shown(detail_type)} is not an event we act on", shape="eventbridge")
    return parser(event)
