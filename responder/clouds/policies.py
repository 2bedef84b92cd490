"""Least-privilege policy documents made from responder.clouds.actions and the permissions table.

Parts: policy_document (cloud → the RAM or IAM policy document), aws_statements, aliyun_statements,
oci_policy_text (the OCI statements), OWN_TAG, TAG_SCOPED (AWS actions limited to resources carrying
it). deploy/policies.py writes them to deploy/; s.yaml and template.yaml carry the same statements
(tests/test_policies.py compares them, and the sandbox enforces the files).

AWS: reads on "*" (EC2 Describe* and GetSpotPlacementScores support no resource-level permissions);
every delete, detach, terminate, cancel and resize only on resources tagged responder:managed=true —
the responder tags what it creates at create time (ec2:CreateAction) and, with CreateTags limited
to writing that one tag on instances and volumes, what it takes charge of (a kept volume, an
original it retires); DetachVolume is asked on the instance too, which stays unscoped (the
original's instance is not the responder's); roles passed only to EC2; Secrets Manager reads only; the Price List read (GetProducts) on "*".
Creates stay on "*": the original instance is not the responder's, and CreateFleet / CreateImage
touch resources of many types.
Aliyun: DeleteInstance only on instances tagged responder:managed=true (acs:ResourceTag, which RAM
documents for ECS instances); the rest on "*" (ECS documents no tag condition for the others the
responder calls: the harsher reading is that none applies), the action list limiting it.
OCI: per resource type the least verb covering what is read, and `manage` only through a
`where request.permission = ...` clause naming the manage-level permissions the calls need.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.actions import policy_actions
from responder.clouds.base import OWNED_TAG
from responder.clouds.permissions import OCI_GRANTS, OCI_LOCATION, OCI_VERBS

READ_PREFIXES = ("Describe", "Get", "List")
OWN_TAG = OWNED_TAG[0]
CREATE_TAGGED = ("CreateImage", "CreateFleet", "CreateLaunchTemplate", "CreateCapacityReservation", "CreateVolume",
                 "RunInstances")
# action → the resource types it is asked on (Service Authorization Reference for Amazon EC2).
TAG_SCOPED = {"TerminateInstances": ("instance",), "DeleteVolume": ("volume",), "DetachVolume": ("volume",),
              "DeregisterImage": ("image",), "DeleteSnapshot": ("snapshot",),
              "DeleteLaunchTemplate": ("launch-template",), "CancelCapacityReservation": ("capacity-reservation",),
              "ModifyCapacityReservation": ("capacity-reservation",)}
OCI_GROUP, OCI_COMPARTMENT = "ResponderHunters", "responder-compartment"


def _arn(kind: str) -> str:
    return f"arn:aws:ec2:*::{kind}/*" if kind in ("image", "snapshot") else f"arn:aws:ec2:*:*:{kind}/*"


def _owned() -> dict[str, Any]:
    return {"StringEquals": {f"aws:ResourceTag/{OWN_TAG}": OWNED_TAG[1]}}


def aws_statements() -> list[dict[str, Any]]:
    wanted = policy_actions("aws")
    ec2 = {a.split(":", 1)[1] for a in wanted if a.startswith("ec2:")}
    reads = {a for a in ec2 if a.startswith(READ_PREFIXES)}
    special = set(TAG_SCOPED) | {"CreateTags", "CreateCapacityReservation"}
    writes = ec2 - reads - special
    statements: list[dict[str, Any]] = [
        {"Sid": "Read", "Effect": "Allow", "Action": sorted(f"ec2:{a}" for a in reads), "Resource": "*"},
        {"Sid": "ImageAndLaunch", "Effect": "Allow", "Action": sorted(f"ec2:{a}" for a in writes), "Resource": "*"},
        {"Sid": "TagOnlyWhenCreating", "Effect": "Allow", "Action": ["ec2:CreateTags"], "Resource": "*",
         "Condition": {"StringEquals": {"ec2:CreateAction": list(CREATE_TAGGED)}}},
        {"Sid": "TagWhatItTakesChargeOf", "Effect": "Allow", "Action": ["ec2:CreateTags"],
         "Resource": [_arn("instance"), _arn("volume")],
         "Condition": {"StringEquals": {f"aws:RequestTag/{OWN_TAG}": OWNED_TAG[1]},
                       "ForAllValues:StringEquals": {"aws:TagKeys": [OWN_TAG]}}},
        {"Sid": "CreateTaggedReservations", "Effect": "Allow", "Action": ["ec2:CreateCapacityReservation"],
         "Resource": _arn("capacity-reservation"),
         "Condition": {"StringEquals": {f"aws:RequestTag/{OWN_TAG}": OWNED_TAG[1]}}},
    ]
    for action, kinds in sorted(TAG_SCOPED.items()):
        statements.append({"Sid": f"{action}OfOwn", "Effect": "Allow", "Action": [f"ec2:{action}"],
                           "Resource": [_arn(k) for k in kinds] if len(kinds) > 1 else _arn(kinds[0]),
                           "Condition": _owned()})
    statements += [
        {"Sid": "DetachVolumeFromAnyInstance", "Effect": "Allow", "Action": ["ec2:DetachVolume"],
         "Resource": _arn("instance")},
        {"Sid": "PassInstanceRoleToEc2", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Sid": "ReadStoreSecret", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         "Resource": "arn:aws:secretsmanager:*:*:secret:*"},
        {"Sid": "ReadPrices", "Effect": "Allow", "Action": ["pricing:GetProducts"], "Resource": "*"},
    ]
    covered = {a for s in statements for a in s["Action"]}
    assert covered == wanted, f"a permission has no statement: {sorted(wanted ^ covered)}"
    return statements


def aliyun_statements() -> list[dict[str, Any]]:
    wanted = policy_actions("aliyun")
    reads = {a for a in wanted if a.split(":", 1)[1].startswith(READ_PREFIXES) and not a.startswith("kms:")}
    scoped = {"ecs:DeleteInstance"}
    others = wanted - reads - scoped - {"kms:GetSecretValue"}
    return [
        {"Effect": "Allow", "Action": sorted(reads), "Resource": "*"},
        {"Effect": "Allow", "Action": sorted(others), "Resource": "*"},
        {"Effect": "Allow", "Action": sorted(scoped), "Resource": "acs:ecs:*:*:instance/*",
         "Condition": {"StringEquals": {f"acs:ResourceTag/{OWN_TAG}": OWNED_TAG[1]}}},
        {"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": "acs:kms:*:*:secret/*"},
    ]


def policy_document(cloud: str) -> dict[str, Any]:
    if cloud == "aws":
        return {"Version": "2012-10-17", "Statement": aws_statements()}
    return {"Version": "1", "Statement": aliyun_statements()}


def oci_policy_text() -> str:
    """The OCI statements for the group and compartment placeholders the header tells to replace."""
    by_type: dict[tuple[str, str], list[str]] = {}
    for permission in sorted(policy_actions("oci")):
        resource, _ = OCI_GRANTS[permission]
        where = "tenancy" if OCI_LOCATION.get(permission) == "tenancy" else f"compartment {OCI_COMPARTMENT}"
        by_type.setdefault((resource, where), []).append(permission)
    lines = []
    for (resource, where), permissions in sorted(by_type.items()):
        levels = {p: OCI_VERBS.index(OCI_GRANTS[p][1]) for p in permissions}
        below = [lvl for lvl in levels.values() if lvl < 3]
        managed = sorted(p for p, lvl in levels.items() if lvl == 3)
        head = f"Allow group {OCI_GROUP} to"
        if below:
            lines.append(f"{head} {OCI_VERBS[max(below)]} {resource} in {where}")
        if managed:
            named = ", ".join(f"request.permission = '{p}'" for p in managed)
            clause = named if len(managed) == 1 else f"any {{{named}}}"
            lines.append(f"{head} manage {resource} in {where} where {clause}")
    return "\n".join(lines) + "\n"
