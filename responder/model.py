"""Frozen dataclasses and enums shared by every layer.

Parts: Cloud, NOTICE_SECONDS (how long each cloud waits after its notice), EventKind, RECORD_KINDS (rows that are
no interruption), Market, TaskStatus, Interruption (one model for every payload shape),
Ignored (a payload we acknowledge without acting), Offering (type x zone x market).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Cloud(str, Enum):
    ALIYUN = "aliyun"
    AWS = "aws"
    OCI = "oci"


# How long the clouds give between the notice and the release. Aliyun: "the instance enters the
# Pending Release status. Then, the instance is released in about five minutes"
# (alibabacloud.com/help/faq-detail/48269.htm). AWS: "a warning that is issued two minutes before
# Amazon EC2 stops or terminates your Spot Instance"
# (docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
NOTICE_SECONDS = {"aliyun": 300.0, "aws": 120.0}


class EventKind(str, Enum):
    INTERRUPTION = "interruption"  # Aliyun PreemptibleInstanceInterruption, AWS spot warning
    REBALANCE = "rebalance"  # AWS rebalance recommendation: earlier, softer
    STATE_CHANGE = "state-change"  # AWS instance state-change: may update a task
    HEALTH = "health"  # AWS Health scheduled change: acknowledged
    REVERT = "revert"  # a move back to spot of a replacement (responder/revert/): no cloud sends it
    ADOPTED = "adopted"  # a fleet instance planned moves judge as if we had placed it (revert/fleet.py): no event


# The task kind of protect's per-period marker rows (responder/protect/tick.py).
PROTECT_MARKER_KIND = "protect"
# Task rows that record something and are no interruption (protect's per-period markers, the
# adopted fleet instances): reports and the status page never count them as interruptions.
RECORD_KINDS = frozenset({PROTECT_MARKER_KIND, EventKind.ADOPTED.value})


class Market(str, Enum):
    SPOT = "spot"
    ONDEMAND = "ondemand"


class TaskStatus(str, Enum):
    RECEIVED = "received"
    IMAGING = "imaging"
    LAUNCHING = "launching"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.REJECTED)



def claim_key(cloud: str, region: str, instance_id: str) -> str:
    """The claim key of an instance's task (Interruption.key): what a task's row is found by."""
    return f"{cloud}:{region}:{instance_id}"

@dataclass(frozen=True)
class Interruption:
    """A cloud told us an instance is going away (or may soon)."""

    cloud: Cloud
    region: str
    instance_id: str
    kind: EventKind = EventKind.INTERRUPTION
    account: str = ""
    event_id: str = ""
    event_time: str = ""
    shape: str = ""  # which payload shape it came in, for logs: "cloudmonitor", "eventbridge", ...
    detail: tuple[tuple[str, str], ...] = ()  # small extra facts (instance-action, state)

    @property
    def key(self) -> str:
        """The claim key: one task per cloud:region:instance, whatever the delivery."""
        return claim_key(self.cloud.value, self.region, self.instance_id)

    def detail_value(self, name: str, default: str = "") -> str:
        return dict(self.detail).get(name, default)


@dataclass(frozen=True)
class Ignored:
    """A well-formed payload that is not ours to act on; acknowledged with 2xx."""

    reason: str
    shape: str = ""


@dataclass(frozen=True)
class Offering:
    """Somewhere capacity can be bought: an instance type in a zone on a market."""

    instance_type: str
    zone: str
    market: Market = Market.ONDEMAND

    def __str__(self) -> str:
        return f"{self.instance_type}@{self.zone}/{self.market.value}"


@dataclass(frozen=True)
class Tick:
    """A timer fired (FC timer trigger, EventBridge schedule): advance whatever is due."""

    source: str = ""
