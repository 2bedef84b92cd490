"""What RunInstances records of an instance beyond type and place, checked as ECS checks it, and
what DescribeInstances answers of it: the fields a replacement must copy to be a clone.

Parts: launch_attributes (RunInstances parameters → the instance's recorded attributes, or an
EcsError); aliyun_ecs_state.describe_attributes renders them in DescribeInstances.

The account's key pairs, deployment sets, resource groups and HPC clusters come from the scenario
region (`key_pairs`, `deployment_sets`, `resource_groups`, `hpc_clusters`) plus whatever a seeded
instance names, so a scenario that names a key pair on its instance keeps working.

Error codes are those of the RunInstances error-code list (ECS API 2014-05-26, RunInstances,
"Error codes"): InvalidKeyPairName.NotFound (404), InvalidDeploymentSetId.NotFound (404),
InvalidInternetChargeType.ValueNotSupported, InvalidPasswordParam.Mismatch ("The input password
should be null when passwdInherit is true"), InvalidParameter.CreditSpecification,
InvalidHpcClusterId.Unnecessary / .NotFound. Where a rule's status is not documented, the harsher
reading: a 4xx the caller must not retry.
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aliyun_ecs_state import EcsError
from responder.sandbox.scenario import Region

_CHARGE_TYPES = ("PayByTraffic", "PayByBandwidth")
_CREDIT_MODES = ("Standard", "Unlimited")
_BURSTABLE = ("ecs.t5-", "ecs.t6-")
_INTERRUPTION = ("Terminate", "Stop")


def _known(region: Region, key: str, attribute: str) -> set[str]:
    listed = region.raw.get(key) or []
    names = {item["id"] if isinstance(item, dict) else str(item) for item in listed}
    return names | {str(i[attribute]) for i in region.instances if i.get(attribute)}


def _hpc_zone(region: Region, cluster_id: str) -> str:
    for item in region.raw.get("hpc_clusters") or []:
        if isinstance(item, dict) and item.get("id") == cluster_id:
            return str(item.get("zone", ""))
    return ""


def launch_attributes(region: Region, params: dict[str, str], itype: str, zone: str) -> dict[str, Any]:
    """The attributes a RunInstances call gives its instances; raises EcsError as ECS refuses."""
    key_pair = params.get("KeyPairName", "")
    if key_pair and key_pair not in _known(region, "key_pairs", "key_pair"):
        raise EcsError("InvalidKeyPairName.NotFound", "The specified KeyPairName does not exist in our records.", 404)
    inherit = params.get("PasswordInherit", "").lower() == "true"
    if inherit and params.get("Password"):
        raise EcsError("InvalidPasswordParam.Mismatch", "The input password should be null when passwdInherit is true.")
    charge = params.get("InternetChargeType", "") or "PayByTraffic"
    if charge not in _CHARGE_TYPES:
        raise EcsError("InvalidInternetChargeType.ValueNotSupported", "The specified InternetChargeType is not valid.")
    credit = params.get("CreditSpecification", "")
    if credit and (credit not in _CREDIT_MODES or not itype.startswith(_BURSTABLE)):
        # Only burstable (t5 / t6) types have a credit mode; the harsher reading refuses it elsewhere.
        raise EcsError("InvalidParameter.CreditSpecification",
                       f"The specified CreditSpecification {credit!r} is not supported for {itype}.")
    deployment_set = params.get("DeploymentSetId", "")
    if deployment_set and deployment_set not in _known(region, "deployment_sets", "deployment_set"):
        raise EcsError("InvalidDeploymentSetId.NotFound", "The specified DeploymentSetId does not exist.", 404)
    group = params.get("ResourceGroupId", "")
    if group and group not in _known(region, "resource_groups", "resource_group"):
        raise EcsError("InvalidResourceGroupId.NotFound", "The specified ResourceGroupId does not exist.", 404)
    hpc = params.get("HpcClusterId", "")
    if hpc:
        if hpc not in _known(region, "hpc_clusters", "hpc_cluster"):
            raise EcsError("InvalidHpcClusterId.NotFound", "The specified HpcClusterId does not exist.", 404)
        cluster_zone = _hpc_zone(region, hpc)
        if cluster_zone and cluster_zone != zone:  # an E-HPC cluster lives in one zone
            raise EcsError("InvalidHpcClusterId.Unnecessary", "The specified HpcClusterId is unnecessary.")
    strategy = params.get("SpotStrategy", "NoSpot") or "NoSpot"
    behavior = params.get("SpotInterruptionBehavior", "") or "Terminate"
    if strategy != "NoSpot" and behavior not in _INTERRUPTION:
        raise EcsError("InvalidParameter", "The specified SpotInterruptionBehavior is not valid.")
    limit = float(params.get("SpotPriceLimit") or 0) if strategy == "SpotWithPriceLimit" else 0.0
    return {
        "password_inherit": inherit, "internet_charge_type": charge, "credit": credit,
        "spot_price_limit": limit, "spot_duration": int(params.get("SpotDuration") or 1) if strategy != "NoSpot" else 0,
        "spot_interruption": behavior if strategy != "NoSpot" else "Terminate",
        "deployment_set": deployment_set, "resource_group": group, "hpc_cluster": hpc,
    }

