"""Pure builders for the Aliyun launch: what DescribeInstances says of the original, and the
RunInstances parameters that make its replacement a clone.

Parts: clone_fields (the DescribeInstances Instance → the InstanceInfo fields a clone copies),
is_burstable, run_instances_params (one RunInstances call for one offering).

Every field read here exists in the ECS 2014-05-26 DescribeInstances response model (Instance.
InternetChargeType, InternetMaxBandwidthOut, CreditSpecification, SpotStrategy, SpotPriceLimit,
SpotDuration, SpotInterruptionBehavior, DeploymentSetId, ResourceGroupId, HpcClusterId), and every
parameter sent exists in the RunInstances request model. Kept apart from the adapter so the request
shape can be read (and tested) without a cloud.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.base import OWNED_TAG, LaunchRequest
from responder.model import Market, Offering

# Burstable families: the only ones RunInstances takes CreditSpecification for (ECS "Burstable
# instance families": t5, t6). A fallback to another family drops the credit mode, as it must.
_BURSTABLE_PREFIXES = ("ecs.t5-", "ecs.t6-")


def is_burstable(instance_type: str) -> bool:
    return instance_type.startswith(_BURSTABLE_PREFIXES)


def clone_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The InstanceInfo keyword arguments a clone copies, from one DescribeInstances Instance."""
    strategy = raw.get("SpotStrategy") or "NoSpot"
    return {
        "internet_charge_type": raw.get("InternetChargeType") or "",
        "credit_mode": raw.get("CreditSpecification") or "",
        # SpotPriceLimit means something only with SpotWithPriceLimit (DescribeInstances model)
        "spot_price_limit": float(raw.get("SpotPriceLimit") or 0) if strategy == "SpotWithPriceLimit" else 0.0,
        "spot_duration": int(raw["SpotDuration"]) if strategy != "NoSpot" and raw.get("SpotDuration") is not None
        else -1,
        "spot_interruption_behavior": (raw.get("SpotInterruptionBehavior") or "") if strategy != "NoSpot" else "",
        "placement_group": raw.get("DeploymentSetId") or "",
        "resource_group_id": raw.get("ResourceGroupId") or "",
        "hpc_cluster_id": raw.get("HpcClusterId") or "",
    }


def _spot_params(request: LaunchRequest, offering: Offering) -> dict[str, Any]:
    """The original's bidding, on a spot launch: its own price cap (SpotWithPriceLimit) when it had
    one, its protection period and interruption mode. An on-demand fallback is NoSpot."""
    src = request.source
    if offering.market != Market.SPOT:
        return {"SpotStrategy": "NoSpot"}
    params: dict[str, Any] = {"SpotStrategy": "SpotAsPriceGo"}
    if src.spot_price_limit > 0:
        params.update(SpotStrategy="SpotWithPriceLimit", SpotPriceLimit=f"{src.spot_price_limit:.3f}")
    if src.spot_duration >= 0:
        params["SpotDuration"] = src.spot_duration
    if src.spot_interruption_behavior:
        params["SpotInterruptionBehavior"] = src.spot_interruption_behavior
    return params


def run_instances_params(request: LaunchRequest, offering: Offering, vswitch: str,
                         tags: dict[str, Any]) -> dict[str, Any]:
    """RunInstances for one offering, copying what the original had that the API takes. `tags`
    is the flattened Tag.N.Key / Tag.N.Value set."""
    src = request.source
    params: dict[str, Any] = {
        "ImageId": request.image_id, "InstanceType": offering.instance_type, "ZoneId": offering.zone,
        "VSwitchId": vswitch, "Amount": request.count, "ClientToken": request.client_token,
        "InstanceChargeType": "PostPaid", **_spot_params(request, offering),
        "KeyPairName": src.key_pair, "InstanceName": src.name, "HostName": src.hostname,
        "RamRoleName": src.role, "UserData": src.user_data,
        "SystemDisk.Category": src.system_disk_category,
        "SystemDisk.Size": src.system_disk_size or None,
        "DeploymentSetId": src.placement_group, "ResourceGroupId": src.resource_group_id,
        "HpcClusterId": src.hpc_cluster_id, **tags,
    }
    if not src.key_pair:
        # Reached by password: the image made from the original carries it, and PasswordInherit
        # keeps it (RunInstances: "use the password preset in the image"); without it a clone of a
        # password-only machine would have no way in.
        params["PasswordInherit"] = "true"
    if src.credit_mode and is_burstable(offering.instance_type):
        params["CreditSpecification"] = src.credit_mode
    if src.public_ip:  # a public address on the original: the clone gets one, same bandwidth, same billing
        params["InternetMaxBandwidthOut"] = max(src.public_bandwidth_out, 1)
        if src.internet_charge_type:
            params["InternetChargeType"] = src.internet_charge_type
    for n, group in enumerate(src.security_group_ids, start=1):
        params[f"SecurityGroupIds.{n}"] = group
    if request.dry_run:
        params["DryRun"] = "true"
    return params


def owned_tags(request: LaunchRequest) -> tuple[tuple[str, str], ...]:
    """The original's tags, the launch's own, and responder:managed (RAM lets the responder
    release — DeleteInstance — only instances so tagged)."""
    return tuple(t for t in request.source.tags if t[0] != OWNED_TAG[0]) + request.extra_tags + (OWNED_TAG,)
