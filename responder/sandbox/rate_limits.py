"""API rate limits as the clouds enforce them: token buckets (EC2, OCI) and per-minute windows with
a lock-out (ECS), per account × region × API (or class), on the emulator's scenario clock.

Parts: Bucket (capacity, refill per second), Window (calls per calendar window; a refused call
keeps the API refused until the next window), Refusal (the cloud's own error for a throttled call),
RateLimits (one cloud's limits: `admit(account, region, action, params)` → None or a Refusal;
`bound_seconds(action, n)` → how long they need to admit n calls at all),
rate_limits_for (the scenario's `rate_limits:` → one cloud's RateLimits or None), check_config
(the section's mistakes, each naming its field). Documented in docs/scenario.md (`rate_limits:`).

Where each default figure comes from:

- EC2, "Request throttling for the Amazon EC2 API" (EC2 developer guide,
  https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): per account and
  Region, a token bucket per API sized by its category (capacity / refill per second):
  non-mutating (Describe*, List*, Search*, Get*) 100 / 20; unfiltered and unpaginated
  non-mutating (DescribeInstances, DescribeInstanceStatus, DescribeNetworkInterfaces,
  DescribeSecurityGroups, DescribeSnapshots, DescribeSpotInstanceRequests, DescribeVolumes, when
  sent with neither a filter nor pagination) 50 / 10 in a smaller bucket of their own; mutating
  50 / 5; resource-intensive 50 / 5; the guide's "uncategorized actions" their own figures
  (RunInstances 5 / 2, TerminateInstances 100 / 5, CreateTags 100 / 10, ...). RunInstances,
  TerminateInstances, StartInstances and StopInstances also draw one token per instance from a
  resource bucket (1,000 / 2, 1,000 / 20, 1,000 / 2, 1,000 / 20). Refusal: RequestLimitExceeded,
  "Request limit exceeded.", HTTP 503 (as EC2 sends it; botocore retries it as a throttle).
  Harsher readings: instance ids alone are not a filter (the smaller bucket applies); CreateFleet
  (instant) draws RunInstances' resource bucket per instance asked; a refused call takes no token.
- ECS, "API throttling" / 流量控制 (https://www.alibabacloud.com/help/doc-detail/437902.htm): a
  threshold per API, per region, per account, shown in Quota Center as calls per window (for
  example 200 / 60 s); "if calls to an API operation are throttled at minute T, the operation can
  continue to be called as of minute T+1"; RunInstances / CreateInstance create at most 5,000
  instances a minute. The page publishes no per-API threshold (each account's lives in its Quota
  Center): the harsher reading, 200 calls a minute for every API, is a chosen figure. Refusal:
  Throttling.User, "Request was denied due to user flow control.", HTTP 400 (the SDK's
  ServerException shows "HTTP Status: 400 Error:Throttling", https://developer.aliyun.com/ask/128391).
- OCI publishes no per-API rate, only HTTP 429 TooManyRequests (API Errors,
  https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm): chosen figures per
  class and tenancy, reads (Get*, List*) 20 / 4, writes 10 / 1. The per-user `oci.throttle` of
  docs/scenario-oci.md stays as a second, separate bucket.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from responder.sandbox.stock import ScenarioError

CLOUDS = ("aws", "aliyun", "oci")


@dataclass
class Bucket:
    """A token bucket: `capacity` tokens, `refill` tokens a second, full at the start."""

    capacity: float
    refill: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float, amount: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass
class Window:
    """At most `calls` in each calendar window of `seconds` (window k covers [k·s, (k+1)·s) of
    scenario time); once a call is refused in window k, nothing passes until window k+1."""

    calls: float
    seconds: float = 60.0
    index: int = -1
    used: float = 0.0
    locked: bool = False

    def take(self, now: float, amount: float = 1.0) -> bool:
        index = math.floor(now / self.seconds)
        if index != self.index:
            self.index, self.used, self.locked = index, 0.0, False
        if self.locked or self.used + amount > self.calls:
            self.locked = True
            return False
        self.used += amount
        return True


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    status: int
    bucket: str  # which limit refused: "DescribeImages", "RunInstances:instances", "read", ...


# -- the documented defaults -------------------------------------------------------------------
EC2_CLASSES = {"non_mutating": (100, 20), "unfiltered": (50, 10), "mutating": (50, 5),
               "resource_intensive": (50, 5)}
EC2_UNFILTERED = frozenset({"DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
                            "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSpotInstanceRequests",
                            "DescribeVolumes"})
EC2_RESOURCE_INTENSIVE = frozenset({"AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress",
                                    "CancelSpotInstanceRequests", "CreateKeyPair", "CreateVpcPeeringConnection",
                                    "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
                                    "RevokeSecurityGroupIngress", "RequestSpotInstances"})
# The guide's uncategorized actions that the sandbox serves.
EC2_OWN = {"RunInstances": (5, 2), "StartInstances": (5, 2), "TerminateInstances": (100, 5),
           "CreateTags": (100, 10), "DeleteTags": (100, 10), "DeregisterImage": (100, 5), "CopyImage": (100, 1),
           "CreateSnapshot": (100, 5), "CreateSnapshots": (100, 5), "DeleteSnapshot": (100, 5),
           "CreateVolume": (100, 5), "DeleteVolume": (100, 5), "AssignPrivateIpAddresses": (100, 5),
           "UnassignPrivateIpAddresses": (100, 5), "CreateLaunchTemplateVersion": (100, 5),
           "ModifyLaunchTemplate": (100, 5), "CreateNetworkInterface": (100, 5),
           "DeleteNetworkInterface": (100, 5), "ModifyImageAttribute": (100, 5),
           "ModifySnapshotAttribute": (100, 5), "ModifyNetworkInterfaceAttribute": (100, 5),
           "DescribeSpotFleetRequests": (50, 3)}
EC2_RESOURCES = {"RunInstances": (1000, 2), "TerminateInstances": (1000, 20), "StartInstances": (1000, 2),
                 "StopInstances": (1000, 20)}
EC2_READS = ("Describe", "List", "Search", "Get")
ECS_PER_API = (200, 60)  # calls, seconds: the chosen harsher reading (no published threshold)
ECS_INSTANCES = (5000, 60)  # instances a minute, RunInstances + CreateInstance
ECS_LAUNCHES = frozenset({"RunInstances", "CreateInstance"})
OCI_CLASSES = {"read": (20, 4), "write": (10, 1)}

REFUSALS = {
    "aws": ("RequestLimitExceeded", "Request limit exceeded.", 503),
    "aliyun": ("Throttling.User", "Request was denied due to user flow control.", 400),
    "oci": ("TooManyRequests", "Too many requests for the tenancy.", 429),
}


def ec2_class(action: str, params: dict[str, str]) -> str:
    if action in EC2_RESOURCE_INTENSIVE:
        return "resource_intensive"
    if not action.startswith(EC2_READS):
        return "mutating"
    narrowed = any(k.startswith("Filter.") or k in ("MaxResults", "NextToken") for k in params)
    return "unfiltered" if action in EC2_UNFILTERED and not narrowed else "non_mutating"


def _instances_asked(action: str, params: dict[str, str]) -> int:
    """Resource tokens one launch or termination needs: one per instance."""
    if action == "TerminateInstances" or action in ("StartInstances", "StopInstances"):
        return max(1, sum(1 for k in params if k.startswith("InstanceId.")))
    if action == "CreateFleet":
        total = params.get("TargetCapacitySpecification.TotalTargetCapacity", "1")
        return int(float(total)) if total.replace(".", "", 1).isdigit() else 1
    for key in ("MaxCount", "Amount", "MinAmount"):  # EC2 RunInstances; ECS RunInstances
        if str(params.get(key, "")).isdigit():
            return max(1, int(params[key]))
    return 1


@dataclass
class RateLimits:
    """One cloud's limits; `overrides` (from the scenario) replace figures by class, action or
    resource name; a name set to None is not limited."""

    cloud: str
    clock: Any
    overrides: dict[str, Any] = field(default_factory=dict)
    _limits: dict[tuple[str, str, str], Bucket | Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _figures(self, names: tuple[str, ...], default: tuple[float, float]) -> tuple[float, float] | None:
        for name in names:
            if name in self.overrides:
                given = self.overrides[name]
                return None if given is None else given
        return default

    def _drawn(self, action: str, params: dict[str, str]) -> list[tuple[str, tuple[float, float], bool, float]]:
        """(bucket name, figures, is a window, tokens) for each limit this call draws from."""
        if self.cloud == "aws":
            kind = ec2_class(action, params)
            name = f"{action}:unfiltered" if kind == "unfiltered" else action
            own = EC2_OWN.get(action) if kind != "unfiltered" else None
            # An override names the bucket (`DescribeInstances:unfiltered`, `RunInstances`) or the
            # class; an uncategorized action keeps its own figures unless named itself.
            names = (name, kind) if kind == "unfiltered" else (action,) if own else (action, kind)
            request = self._figures(names, own or EC2_CLASSES[kind])
            drawn = [(name, request, False, 1.0)]
            resource = "RunInstances" if action == "CreateFleet" else action
            if resource in EC2_RESOURCES:
                figures = self._figures((f"{resource}:instances",), EC2_RESOURCES[resource])
                drawn.append((f"{resource}:instances", figures, False, float(_instances_asked(action, params))))
            return drawn
        if self.cloud == "aliyun":
            drawn = [(action, self._figures((action, "*"), ECS_PER_API), True, 1.0)]
            if action in ECS_LAUNCHES:
                drawn.append(("instances", self._figures(("instances",), ECS_INSTANCES), True,
                              float(_instances_asked(action, params))))
            return drawn
        kind = "read" if action.startswith(("Get", "List")) else "write"
        return [(kind, self._figures((action, kind), OCI_CLASSES[kind]), False, 1.0)]

    def bound_seconds(self, action: str, calls: int, params: dict[str, str] | None = None) -> float:
        """Scenario seconds these limits need, starting full at a window's start, to admit `calls`
        calls of `action` at all (the bound a benchmark measures itself against)."""
        bound = 0.0
        for _, figures, windowed, amount in self._drawn(action, params or {}):
            if figures is None or calls <= 0:
                continue
            size, per = figures
            if windowed:  # `size` calls (or instances) in each window of `per` seconds
                bound = max(bound, math.floor((calls * amount - 1) / size) * per)
            else:  # `size` tokens at once, then `per` a second
                bound = max(bound, max(0.0, (calls * amount - size) / per))
        return bound

    def admit(self, account: str, region: str, action: str, params: dict[str, str] | None = None) -> Refusal | None:
        """Take this call's tokens from every limit it draws from, or refuse it (taking none)."""
        params = params or {}
        now = self.clock()
        with self._lock:
            taken: list[tuple[Bucket | Window, float]] = []
            for name, figures, windowed, amount in self._drawn(action, params):
                if figures is None:
                    continue
                key = (account, region, name)
                limit = self._limits.get(key)
                if limit is None:
                    limit = Window(figures[0], figures[1]) if windowed else Bucket(figures[0], figures[1])
                    self._limits[key] = limit
                if not limit.take(now, amount):
                    for earlier, spent in taken:  # a refused call takes no token from any limit
                        if isinstance(earlier, Bucket):
                            earlier.tokens += spent
                        else:
                            earlier.used -= spent
                    code, message, status = REFUSALS[self.cloud]
                    return Refusal(code, message, status, name)
                taken.append((limit, amount))
        return None


# -- the scenario's `rate_limits:` ------------------------------------------------------------
def _switch(value: Any) -> bool | None:
    """True / False for on / off (YAML reads both as booleans), None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value.lower() == "on"
    return None


def _figure_pair(cloud: str, value: dict[str, Any], where: str) -> tuple[float, float]:
    keys = ("calls", "seconds") if cloud == "aliyun" else ("capacity", "refill")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: not a field here; use {' and '.join(keys)}")
    figures = []
    for key, default in zip(keys, (None, 60.0)):
        given = value.get(key, default if cloud == "aliyun" else None)
        if given is None:
            raise ScenarioError(f"{where}: missing '{key}'")
        if isinstance(given, bool) or not isinstance(given, (int, float)) or given <= 0:
            raise ScenarioError(f"{where}.{key}: must be a number above 0, not {given!r}")
        figures.append(float(given))
    return figures[0], figures[1]


def _cloud_overrides(cloud: str, section: Any, where: str) -> dict[str, Any] | None:
    """None: the cloud is off; otherwise the overrides (empty: every documented default)."""
    switch = _switch(section)
    if switch is not None or section is None:
        return {} if switch in (True, None) else None
    if not isinstance(section, dict):
        raise ScenarioError(f"{where}: must be on, off or a mapping of limits, not {section!r}")
    overrides: dict[str, Any] = {}
    for name, value in section.items():
        at = f"{where}.{name}"
        if _switch(value) is False:
            overrides[str(name)] = None
        elif isinstance(value, dict):
            overrides[str(name)] = _figure_pair(cloud, value, at)
        else:
            raise ScenarioError(f"{at}: must be off or a mapping "
                                f"({'{calls: N, seconds: S}' if cloud == 'aliyun' else '{capacity: N, refill: R}'}),"
                                f" not {value!r}")
    return overrides


def check_config(raw: Any) -> dict[str, dict[str, Any] | None]:
    """The scenario's `rate_limits:` → {cloud: overrides or None (off)}; absent means off."""
    if raw is None:
        return {cloud: None for cloud in CLOUDS}
    switch = _switch(raw)
    if switch is not None:
        return {cloud: ({} if switch else None) for cloud in CLOUDS}
    if not isinstance(raw, dict):
        raise ScenarioError(f"rate_limits: must be on, off or a mapping per cloud (aws, aliyun, oci), not {raw!r}")
    unknown = sorted(set(map(str, raw)) - set(CLOUDS))
    if unknown:
        raise ScenarioError(f"rate_limits.{unknown[0]}: not a cloud; use aws, aliyun or oci")
    return {cloud: _cloud_overrides(cloud, raw.get(cloud), f"rate_limits.{cloud}") for cloud in CLOUDS}


def rate_limits_for(scenario_raw: dict[str, Any], cloud: str, clock) -> RateLimits | None:
    """The cloud's limits from the scenario (None when off or absent)."""
    overrides = check_config(scenario_raw.get("rate_limits"))[cloud]
    return None if overrides is None else RateLimits(cloud, clock, overrides)
