"""Least-privilege policy documents made from responder.clouds.actions.

Parts: policy_document (cloud → the RAM or IAM policy document), aws_statements,
aliyun_statements, READ_PREFIXES. deploy/policies.py writes them to deploy/*-policy.json;
s.yaml and template.yaml carry the same statements (tests/test_policies.py compares them).

AWS: reads on "*" (EC2 Describe* and GetSpotPlacementScores support no resource-level
permissions); capacity reservations created only with the responder's tag and modified only when
they carry it; tags only at create time (ec2:CreateAction); roles passed only to EC2. The other
writes stay on "*": the original instance is not the responder's, and CreateFleet / CreateImage
touch resources (launch templates, snapshots, network interfaces) of many types.
Aliyun: RAM documents no tag condition for ECS capacity reservations or images; the harsher
reading is that none applies, so every action is on "*", and the action list is what limits it.
"""

from __future__ import annotations

from typing import Any

from responder.clouds.actions import IMPLIED, PREFIX, SCOPED, called_actions

READ_PREFIXES = ("Describe", "Get", "List")
CREATE_TAGGED = ("CreateImage", "CreateFleet", "CreateLaunchTemplate", "CreateCapacityReservation", "RunInstances")
OWN_TAG = "responder:managed"


def _sorted(actions) -> list[str]:
    return sorted(actions)


def aws_statements() -> list[dict[str, Any]]:
    called = called_actions("aws")
    reads = {a for a in called if a.startswith(READ_PREFIXES)}
    scoped = set(SCOPED["aws"]) | {"CreateCapacityReservation"}
    writes = (called - reads - scoped) | {"RunInstances"}
    reservation = "arn:aws:ec2:*:*:capacity-reservation/*"
    statements: list[dict[str, Any]] = [
        {"Sid": "Read", "Effect": "Allow", "Action": _sorted(f"ec2:{a}" for a in reads), "Resource": "*"},
        {"Sid": "ImageLaunchRetire", "Effect": "Allow", "Action": _sorted(f"ec2:{a}" for a in writes), "Resource": "*"},
        {"Sid": "TagOnlyWhenCreating", "Effect": "Allow", "Action": ["ec2:CreateTags"], "Resource": "*",
         "Condition": {"StringEquals": {"ec2:CreateAction": list(CREATE_TAGGED)}}},
        {"Sid": "CreateTaggedReservations", "Effect": "Allow", "Action": ["ec2:CreateCapacityReservation"],
         "Resource": reservation, "Condition": {"StringEquals": {f"aws:RequestTag/{OWN_TAG}": "true"}}},
    ]
    for action, tag in sorted(SCOPED["aws"].items()):
        statements.append({"Sid": f"{action}OfOwnReservations", "Effect": "Allow", "Action": [f"ec2:{action}"],
                           "Resource": reservation,
                           "Condition": {"StringEquals": {f"aws:ResourceTag/{tag}": "true"}}})
    statements.append({"Sid": "PassInstanceRoleToEc2", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
                       "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}})
    covered = {a for s in statements for a in s["Action"]}
    assert covered == {f"{PREFIX['aws']}:{a}" for a in called} | set(IMPLIED["aws"]), "a permission has no statement"
    return statements


def aliyun_statements() -> list[dict[str, Any]]:
    called = called_actions("aliyun")
    reads = {a for a in called if a.startswith(READ_PREFIXES)}
    return [
        {"Effect": "Allow", "Action": _sorted(f"ecs:{a}" for a in reads), "Resource": "*"},
        {"Effect": "Allow", "Action": _sorted(f"ecs:{a}" for a in called - reads), "Resource": "*"},
        {"Effect": "Allow", "Action": _sorted(IMPLIED["aliyun"]), "Resource": "*"},
    ]


def policy_document(cloud: str) -> dict[str, Any]:
    if cloud == "aws":
        return {"Version": "2012-10-17", "Statement": aws_statements()}
    return {"Version": "1", "Statement": aliyun_statements()}
