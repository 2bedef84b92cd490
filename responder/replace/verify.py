"""Verify before spending: is this event allowed, and is the instance really being reclaimed?

Parts: event_rejection (allow-lists on what the event claims, no cloud call), instance_rejection
(what the cloud says about the instance). Each returns None when fine, else the reason.
"""

from __future__ import annotations

from responder.clouds.base import InstanceInfo
from responder.model import EventKind, Interruption
from responder.settings import Settings


def event_rejection(event: Interruption, settings: Settings) -> str | None:
    if settings.allowed_regions and event.region not in settings.allowed_regions:
        return f"region {event.region} is not in the allowed regions"
    if settings.allowed_accounts and event.account not in settings.allowed_accounts:
        return f"account {event.account or '(none given)'} is not in the allowed accounts"
    return None


def instance_rejection(event: Interruption, info: InstanceInfo, settings: Settings) -> str | None:
    if info.region and info.region != event.region:
        return f"instance {info.instance_id} is in {info.region}, not {event.region}"
    if event.account and info.account and info.account != event.account:
        return f"instance {info.instance_id} belongs to account {info.account}, not {event.account}"
    if not info.spot:
        return f"instance {info.instance_id} is not preemptible/spot; nothing will reclaim it"
    # A rebalance recommendation comes before the cloud marks anything: it is acted on by policy.
    if event.kind == EventKind.INTERRUPTION and not info.reclaiming:
        return (f"instance {info.instance_id} is not marked for reclamation by the cloud "
                f"(no Recycling lock / spot request not marked for termination)")
    tags = dict(info.tags)
    for key, value in settings.tag_selector:
        if tags.get(key) != value:
            return f"instance {info.instance_id} lacks tag {key}={value} required by the tag selector"
    return None
