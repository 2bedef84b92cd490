"""Pure builders for the AWS launch: the launch template and the CreateFleet request.

Parts: is_burstable, template_name (deterministic, from the ClientToken), launch_template_data (a
clone of the source instance: image, key pair, security groups, IAM instance profile, user data,
placement group and tenancy, the credit mode of a T type, tags + extra tags), allocation_strategy
(the one that honours a ranking), fleet_request (CreateFleet Type=instant with one override per
offering × subnet, Priority = rank, the original's spot MaxPrice).

Kept apart from the adapter so the request shape can be tested without a cloud.
"""

from __future__ import annotations

import re
from typing import Any

from responder.clouds.base import OWNED_TAG, LaunchRequest
from responder.model import Market, Offering

_NOT_TEMPLATE_CHARS = re.compile(r"[^a-zA-Z0-9().\-/_]")
# Tags EC2 reserves or that describe the old instance's fleet membership: never copied.
_SKIP_TAG_PREFIXES = ("aws:",)


# Burstable performance instances: the only ones with a credit mode (EC2 User Guide, "Burstable
# performance instances": T2, T3, T3a, T4g).
_BURSTABLE_FAMILIES = ("t2.", "t3.", "t3a.", "t4g.")


def is_burstable(instance_type: str) -> bool:
    return instance_type.startswith(_BURSTABLE_FAMILIES)


def template_name(client_token: str) -> str:
    """Same token → same template, so a retried launch does not leave a second one behind."""
    return ("responder-" + _NOT_TEMPLATE_CHARS.sub("-", client_token))[:128]


def launch_template_data(request: LaunchRequest) -> dict[str, Any]:
    source = request.source
    tags = {k: v for k, v in source.tags if not k.startswith(_SKIP_TAG_PREFIXES)}
    tags.update(dict(request.extra_tags))
    tags.update((OWNED_TAG,))  # the responder's own: the policy lets it terminate only instances so tagged
    data: dict[str, Any] = {"ImageId": request.image_id}
    if source.key_pair:
        data["KeyName"] = source.key_pair
    if source.security_group_ids:
        data["SecurityGroupIds"] = list(source.security_group_ids)
    if source.role:
        data["IamInstanceProfile"] = {"Name": source.role}
    if source.user_data:
        data["UserData"] = source.user_data
    placement = {k: v for k, v in (("GroupName", source.placement_group), ("Tenancy", source.tenancy)) if v}
    if placement:
        data["Placement"] = placement
    if source.credit_mode and request.offerings and is_burstable(request.offerings[0].instance_type):
        data["CreditSpecification"] = {"CpuCredits": source.credit_mode}
    if tags:
        data["TagSpecifications"] = [{"ResourceType": "instance",
                                      "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return data


def allocation_strategy(market: Market, ranked: bool) -> str:
    """The CreateFleet strategy that honours the overrides' order when the order matters.

    Only two strategies read override Priority (EC2 API Reference, FleetLaunchTemplateOverridesRequest):
    on-demand `prioritized`, and spot `capacity-optimized-prioritized`, which "uses priority on a
    best-effort basis ... but optimizes for capacity first". `price-capacity-optimized` (AWS's
    general recommendation for spot) ignores Priority, so a ranking sent with it does nothing; it is
    used only when there is no ranking to keep (one override, or `ranked=False`)."""
    if market != Market.SPOT:
        return "prioritized"
    return "capacity-optimized-prioritized" if ranked else "price-capacity-optimized"


def fleet_request(template_id: str, offerings: list[Offering], subnet_of: dict[str, str], market: Market,
                  count: int, client_token: str, ranked: bool = True, max_price: float = 0.0) -> dict[str, Any]:
    """Overrides in preference order, Priority = position (0 = first choice), with the strategy that
    reads it (allocation_strategy); a single override is no ranking. `max_price`: the original's spot
    MaxPrice on every spot override (a fleet refuses InstanceMarketOptions in its template)."""
    ranked = ranked and len(offerings) > 1
    strategy = allocation_strategy(market, ranked)
    overrides = []
    for i, o in enumerate(offerings):
        override: dict[str, Any] = {"InstanceType": o.instance_type, "SubnetId": subnet_of[o.zone]}
        if strategy in ("prioritized", "capacity-optimized-prioritized"):
            override["Priority"] = float(i)
        if market == Market.SPOT and max_price > 0:
            override["MaxPrice"] = f"{max_price:g}"
        overrides.append(override)
    spot = market == Market.SPOT
    request: dict[str, Any] = {
        "Type": "instant",
        "ClientToken": client_token,
        "LaunchTemplateConfigs": [{"LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
                                   "Overrides": overrides}],
        "TargetCapacitySpecification": {"TotalTargetCapacity": count,
                                        "DefaultTargetCapacityType": "spot" if spot else "on-demand"},
    }
    request["SpotOptions" if spot else "OnDemandOptions"] = {"AllocationStrategy": strategy}
    return request
