"""Every payload shape → one model: Interruption, Ignored or Tick. Unknown shapes are refused.

Parts: parse_body (raw bytes → list of models; BadEvent with a 4xx naming the problem; the size,
encoding and depth bounds are in limits.py), parse_payload (one decoded JSON value), the shape
detection that routes to aliyun.py / aws.py / oci.py.
"""

from __future__ import annotations

from typing import Any, Union

from responder.errors import BadEvent
from responder.model import Ignored, Interruption, Tick
from responder.parsing import aliyun, aws, oci
from responder.parsing.fields import text_field
from responder.parsing.limits import decode_json

Parsed = Union[Interruption, Ignored, Tick]
MAX_EVENTS_PER_BODY = 100


def parse_body(raw: bytes, max_bytes: int = 256 * 1024) -> list[Parsed]:
    return parse_payload(decode_json(raw, max_bytes))


def parse_payload(payload: Any) -> list[Parsed]:
    """One event, or a JSON array of them (EventBridge batching)."""
    if isinstance(payload, list):
        if not payload:
            raise BadEvent("empty JSON array: expected at least one event")
        if len(payload) > MAX_EVENTS_PER_BODY:
            raise BadEvent(f"{len(payload)} events in one body, over the limit of {MAX_EVENTS_PER_BODY}")
        parsed = []
        for index, item in enumerate(payload):
            try:
                parsed.append(_parse_one(item))
            except BadEvent as exc:
                raise BadEvent(f"event [{index}]: {exc}", exc.status) from None
        return parsed
    return [_parse_one(payload)]


def _parse_one(event: Any) -> Parsed:
    if not isinstance(event, dict):
        raise BadEvent(f"an event must be a JSON object, not {type(event).__name__}")
    if "detail-type" in event and "source" in event:
        return aws.parse_eventbridge(event)
    if "eventType" in event and "cloudEventsVersion" in event:  # OCI Events (CloudEvents 0.1)
        return oci.parse_event(event)
    if "specversion" in event and "type" in event:
        return aliyun.parse_cloudevent(event)
    if "name" in event and ("content" in event or "product" in event or "regionId" in event):
        return aliyun.parse_cloudmonitor(event)
    if "triggerTime" in event and "triggerName" in event:
        return Tick(source=f"fc-timer:{text_field(event, 'triggerName', 'triggerName')[:80]}")
    if event.get("kind") == "tick":
        return Tick(source="request")
    raise BadEvent("unknown payload shape: expected an Aliyun CloudMonitor event, an Aliyun EventBridge "
                   "CloudEvent, an AWS EventBridge event, an OCI Events message or a timer trigger")
