"""Verify before spending: is this event allowed, and is the instance really being reclaimed?

Parts: event_rejection (allow-lists on what the event claims, no cloud call), instance_rejection
(what the cloud says about the instance); each returns None when fine, else the reason.
may_change_soon (whether the cloud may reverse a rejection within minutes), verdict_seconds (how
long a rejection the cloud gave stands: VERDICT_SECONDS, or RECHECK_SECONDS for one that may
change soon).

A rejection the cloud gave is remembered on the task row for as long as it stands: a sender who
repeats a forged or unverifiable event gets the same answer without another cloud read, so a flood
costs at most one read per instance and hour. The one rejection that may change within minutes is
"not marked for reclamation yet" about a spot instance that is ours: the real notice may follow (or
the cloud's API may lag its own event), so it stands RECHECK_SECONDS, and a delivery within that
time has the instance read again once it has passed (runner.submit).
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


VERDICT_SECONDS = 3600.0
# Under every notice window (AWS 120 s, Aliyun 300 s): a real notice arriving right after a forged
# one is still acted on in time, and a flood about one real instance costs a read per 30 s at most.
RECHECK_SECONDS = 30.0


def verdict_seconds(rechecks_soon: bool) -> float:
    return RECHECK_SECONDS if rechecks_soon else VERDICT_SECONDS


def may_change_soon(event: Interruption, info: InstanceInfo, settings: Settings) -> bool:
    """True when the only reason to reject is that the cloud has not marked the instance yet."""
    return instance_rejection(event, info, settings) == _not_marked(info)


def _not_marked(info: InstanceInfo) -> str:
    return (f"instance {info.instance_id} is not marked for reclamation by the cloud "
            f"(no Recycling lock / spot request not marked for termination)")


def instance_rejection(event: Interruption, info: InstanceInfo, settings: Settings) -> str | None:
    if info.region and info.region != event.region:
        return f"instance {info.instance_id} is in {info.region}, not {event.region}"
    if event.account and info.account and info.account != event.account:
        return f"instance {info.instance_id} belongs to account {info.account}, not {event.account}"
    if not info.spot:
        return f"instance {info.instance_id} is not preemptible/spot; nothing will reclaim it"
    # A rebalance recommendation comes before the cloud marks anything: it is acted on by policy.
    if event.kind == EventKind.INTERRUPTION and not info.reclaiming:
        return _not_marked(info)
    tags = dict(info.tags)
    for key, value in settings.tag_selector:
        if tags.get(key) != value:
            return f"instance {info.instance_id} lacks tag {key}={value} required by the tag selector"
    return None
