"""What each cloud documents about its API rate limits: which bucket a call draws from, and the
bucket's figures. The client-side budget (budget.py) starts from these and adapts to what the
cloud answers.

Parts: Limit (a token bucket's capacity and refill, or calls per window with ECS's lock-out),
EC2_CLASSES / EC2_UNFILTERED / EC2_RESOURCE_INTENSIVE / EC2_OWN / EC2_RESOURCES, ECS_DEFAULT /
ECS_INSTANCES_PER_MINUTE, OCI_CLASSES (the figures), limits_for (one call → the buckets it draws
from), camel (an SDK method name → the API's action name), overrides (RESPONDER_API_RATES → figures).

EC2, "Request throttling for the Amazon EC2 API" (EC2 developer guide,
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): per account and
Region, "each API is evaluated individually" (a bucket per API), sized by its category — capacity
and refill per second: non-mutating (Describe*, List*, Search*, Get*) 100 / 20; unfiltered and
unpaginated non-mutating (DescribeInstances, DescribeInstanceStatus, DescribeNetworkInterfaces,
DescribeSecurityGroups, DescribeSnapshots, DescribeSpotInstanceRequests, DescribeVolumes) 50 / 10;
mutating 50 / 5; resource-intensive 50 / 5; uncategorized actions their own (RunInstances 5 / 2,
TerminateInstances 100 / 5, ...). RunInstances, TerminateInstances, StartInstances and
StopInstances also draw from a resource bucket (1,000 / 2, 1,000 / 20, 1,000 / 2, 1,000 / 20),
one token per instance. Harsher readings where the guide is silent: the "unfiltered" actions always
count against the smaller bucket (the budget does not see whether a call was filtered); CreateFleet
(instant) launches through RunInstances' resource bucket; a launch costs one resource token (a
replacement is one instance).

ECS, "API throttling" / 流量控制 (https://www.alibabacloud.com/help/doc-detail/437902.htm): a
threshold per API, per region, per account, shown in each account's Quota Center as calls per
window; "if calls to an API operation are throttled at minute T, the operation can continue to be
called as of minute T+1"; RunInstances / CreateInstance create at most 5,000 instances a minute;
after a throttle, probe at one call a second. The page publishes no threshold: the harsher
reading, 200 calls per 60 s for every API, is a chosen figure — set the account's own with
RESPONDER_API_RATES. Counted here over a sliding 60 s, so no calendar minute of the cloud's can
see more than the threshold, wherever its minutes start.

OCI publishes no per-API rate, only HTTP 429 TooManyRequests (API Errors,
https://docs.oracle.com/en-us/iaas/Content/API/References/apierrors.htm): chosen figures per class,
reads (Get*, List*) 25 / 5, writes 10 / 1, configurable the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    capacity: float  # a bucket's tokens; a window's calls
    refill: float  # tokens (calls) per second: the rate the budget adapts from
    window: float = 0.0  # > 0: calls are counted over a sliding window of this many seconds (ECS)
    # A throttle with one of these codes refuses everything until the cloud's next window (ECS:
    # the account's per-API threshold, `Throttling.User`; "" — a code not told — counts as one).
    lockout: tuple[str, ...] = ()


ECS_QUOTA_CODES = ("Throttling.User", "")  # the threshold the page's lock-out rule is about


def bucket(capacity: float, refill: float) -> Limit:
    return Limit(capacity, refill)


def per_window(calls: float, seconds: float) -> Limit:
    return Limit(calls, calls / seconds, window=seconds, lockout=ECS_QUOTA_CODES)


EC2_CLASSES = {"non_mutating": bucket(100, 20), "unfiltered": bucket(50, 10), "mutating": bucket(50, 5),
               "resource_intensive": bucket(50, 5)}
EC2_UNFILTERED = frozenset({"DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
                            "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSpotInstanceRequests",
                            "DescribeVolumes"})
EC2_RESOURCE_INTENSIVE = frozenset({"AcceptVpcPeeringConnection", "AuthorizeSecurityGroupIngress",
                                    "CancelSpotInstanceRequests", "CreateKeyPair", "CreateVpcPeeringConnection",
                                    "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection",
                                    "RevokeSecurityGroupIngress", "RequestSpotInstances"})
# The uncategorized actions the responder calls (the guide's table has many more).
EC2_OWN = {"RunInstances": bucket(5, 2), "StartInstances": bucket(5, 2), "TerminateInstances": bucket(100, 5),
           "CreateTags": bucket(100, 10), "DeleteTags": bucket(100, 10), "DeregisterImage": bucket(100, 5),
           "CreateSnapshot": bucket(100, 5), "DeleteSnapshot": bucket(100, 5), "CreateVolume": bucket(100, 5),
           "DeleteVolume": bucket(100, 5), "AssignPrivateIpAddresses": bucket(100, 5),
           "UnassignPrivateIpAddresses": bucket(100, 5), "CreateLaunchTemplateVersion": bucket(100, 5),
           "ModifyLaunchTemplate": bucket(100, 5)}
EC2_RESOURCES = {"RunInstances": bucket(1000, 2), "TerminateInstances": bucket(1000, 20),
                 "StartInstances": bucket(1000, 2), "StopInstances": bucket(1000, 20)}
_EC2_RESOURCE_OF = {"CreateFleet": "RunInstances"}
_READS = ("Describe", "List", "Search", "Get")

ECS_DEFAULT = per_window(200, 60)
ECS_INSTANCES_PER_MINUTE = per_window(5000, 60)
ECS_LAUNCHES = frozenset({"RunInstances", "CreateInstance"})
OCI_CLASSES = {"read": bucket(25, 5), "write": bucket(10, 1)}

Overrides = dict[tuple[str, str], Limit]  # (cloud, action or class or "*") → figures


def camel(action: str) -> str:
    """`describe_images` (boto3, oci) → `DescribeImages`; an API name stays as it is."""
    return "".join(part[:1].upper() + part[1:] for part in action.split("_")) if "_" in action or \
        action.islower() else action


def ec2_class(action: str) -> str:
    if action in EC2_RESOURCE_INTENSIVE:
        return "resource_intensive"
    if action in EC2_UNFILTERED:
        return "unfiltered"
    return "non_mutating" if action.startswith(_READS) else "mutating"


def limits_for(cloud: str, action: str, overrides: Overrides | None = None) -> list[tuple[str, Limit]]:
    """The buckets one call draws a token from, each named so that every caller of the same bucket
    shares it: EC2 and ECS one per API (plus a launch's instance bucket), OCI one per class."""
    given = overrides or {}
    if cloud == "aws":
        kind = ec2_class(action)
        request = given.get(("aws", action)) or EC2_OWN.get(action) or given.get(("aws", kind)) or EC2_CLASSES[kind]
        drawn = [(action, request)]
        resource = _EC2_RESOURCE_OF.get(action, action)
        if resource in EC2_RESOURCES:
            drawn.append((f"{resource}:instances", given.get(("aws", f"{resource}:instances"))
                          or EC2_RESOURCES[resource]))
        return drawn
    if cloud == "aliyun":
        drawn = [(action, given.get(("aliyun", action)) or given.get(("aliyun", "*")) or ECS_DEFAULT)]
        if action in ECS_LAUNCHES:
            drawn.append(("instances", given.get(("aliyun", "instances")) or ECS_INSTANCES_PER_MINUTE))
        return drawn
    if cloud == "oci":
        kind = "read" if action.startswith(("Get", "List")) else "write"
        return [(kind, given.get(("oci", action)) or given.get(("oci", kind)) or OCI_CLASSES[kind])]
    return []


def overrides(rates: tuple[tuple[str, str, float, float, bool], ...]) -> Overrides:
    """Settings.api_rates (RESPONDER_API_RATES, parsed and checked there) → figures by (cloud, name)."""
    return {(cloud, name): per_window(a, b) if window else bucket(a, b) for cloud, name, a, b, window in rates}
