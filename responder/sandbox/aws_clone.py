"""What a launch copies beyond type and place, where moto keeps none of it: the credit mode of a
T instance, its placement group and tenancy, the MaxPrice of a spot instance's request.

Parts: seed_clone_attributes (the scenario instances' `credit`, `placement_group`, `tenancy`),
launch_refusal (what EC2 refuses before launching any override: a key pair or a placement group
that does not exist, a credit mode on a type that has none), apply_launch (the template's placement,
tenancy and credit mode on launched instances; a spot request carrying the override's MaxPrice),
describe_instance_credit_specifications (the recorded mode; moto answers "standard" for all).

Error codes: EC2 API Reference, "Error codes for the Amazon EC2 API": InvalidKeyPair.NotFound
("The specified key pair name does not exist"), InvalidPlacementGroup.Unknown ("The specified
placement group cannot be found"). A CreditSpecification on a type without credits: the harsher
reading, refused (InvalidParameterCombination), so a launch that mixes kinds is caught here.
"""

from __future__ import annotations

from typing import Any

from responder.sandbox.aws_wire import Ec2Error, as_list, ec2_response

_BURSTABLE = ("t2.", "t3.", "t3a.", "t4g.")


def _default_credit(instance_type: str) -> str:
    """EC2's default: T2 launches standard, T3 / T3a / T4g unlimited (EC2 User Guide, "Burstable
    performance instances", Unlimited mode)."""
    if not instance_type.startswith(_BURSTABLE):
        return ""
    return "standard" if instance_type.startswith("t2.") else "unlimited"


def _groups(region) -> set[str]:
    listed = {g["name"] if isinstance(g, dict) else str(g) for g in region.raw.get("placement_groups") or []}
    return listed | {i["placement_group"] for i in region.instances if i.get("placement_group")}


def seed_clone_attributes(backend, region) -> None:
    for inst in region.instances:
        instance = backend.get_instance(inst["id"]) if inst.get("id") else None
        if instance is None:
            continue
        instance.placement.group_name = inst.get("placement_group", "")
        instance.placement.tenancy = inst.get("tenancy", "default")
        instance.cpu_credits = inst.get("credit") or _default_credit(inst["type"])


def launch_refusal(backend, region, template: dict[str, Any], instance_type: str) -> Ec2Error | None:
    key_name = template.get("KeyName")
    if key_name and key_name not in backend.key_pairs:
        return Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{key_name}' does not exist")
    group = (template.get("Placement") or {}).get("GroupName")
    if group and group not in _groups(region):
        return Ec2Error("InvalidPlacementGroup.Unknown", f"The Placement Group '{group}' is unknown.")
    credit = (template.get("CreditSpecification") or {}).get("CpuCredits")
    if credit and (credit not in ("standard", "unlimited") or not instance_type.startswith(_BURSTABLE)):
        return Ec2Error("InvalidParameterCombination",
                        f"CreditSpecification {credit!r} is not supported for instance type {instance_type}.")
    return None


def apply_launch(backend, instance_ids: list[str], template: dict[str, Any], max_price: str) -> None:
    """`max_price`: the spot request's price ("" for an on-demand launch)."""
    placement = template.get("Placement") or {}
    credit = (template.get("CreditSpecification") or {}).get("CpuCredits")
    for instance_id in instance_ids:
        instance = backend.get_instance(instance_id)
        instance.placement.group_name = placement.get("GroupName", "")
        instance.placement.tenancy = placement.get("Tenancy", "default")
        instance.cpu_credits = credit or _default_credit(instance.instance_type)
        if max_price:
            _spot_request(backend, instance, max_price)


def _spot_request(backend, instance, price: str) -> None:
    """A fleet's spot instance has a spot request, as on EC2, whose SpotPrice is the MaxPrice asked."""
    # Lazy: moto loads in about 1.5 s; an Aliyun- or OCI-only sandbox never needs it.
    from moto.ec2.models.spot_requests import SpotInstanceRequest
    from moto.ec2.utils import random_spot_request_id

    class _ForLaunched(SpotInstanceRequest):
        def launch_instance(self):  # the fleet launched it already
            return instance

    request = _ForLaunched(
        backend, random_spot_request_id(), price, instance.image_id, "one-time", None, None, None, None,
        instance.key_name, [g.id for g in instance.security_groups], None, instance.instance_type,
        instance.placement.zone, None, None, False, instance.subnet_id, {}, None, None)
    backend.spot_instance_requests[request.id] = request
    instance.spot_instance_request_id = request.id


def describe_instance_credit_specifications(call) -> tuple[int, bytes]:
    ids = as_list(call.p.get("InstanceId"))
    rows = []
    known = {i.id: i for r in call.backend.all_reservations() for i in r.instances}
    for instance_id in ids:
        instance = known.get(instance_id)
        if instance is None:
            raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        mode = getattr(instance, "cpu_credits", "") or _default_credit(instance.instance_type)
        if mode:  # only burstable instances have a credit specification
            rows.append({"InstanceId": instance_id, "CpuCredits": mode})
    return 200, ec2_response("DescribeInstanceCreditSpecifications", {"InstanceCreditSpecifications": rows})
