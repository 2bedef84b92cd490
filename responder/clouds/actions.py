"""The cloud API actions each feature calls: the one source the deploy policies are checked against.

Parts: CALLED (cloud → feature → the API actions its flows send, as the emulators see them),
UNREACHABLE_ON_SANDBOX (called actions no sandbox flow can reach, each with its reason),
IMPLIED (permissions a call needs that are no API action of their own: passing a role, tagging at
create time), SCOPED (the actions a policy limits to resources the responder tagged),
called_actions / policy_actions (flattened sets, with the policy prefix `ecs:` / `ec2:`).

tests/test_policies.py runs every flow on the sandbox, collects the actions the emulators
answered, and checks them against CALLED; then checks the RAM policy in s.yaml, the IAM policy in
template.yaml and deploy/*-policy.json against policy_actions: nothing missing, nothing unused.
A new cloud call is added here, and the policies follow (deploy/policies.py writes them).
"""

from __future__ import annotations

CALLED: dict[str, dict[str, frozenset[str]]] = {
    "aliyun": {
        # verify → image (CreateImage is the second call) → plan → launch
        "replace": frozenset({
            "DescribeInstances", "DescribeUserData", "DescribeInstanceRamRole", "DescribeDisks", "CreateImage",
            "DescribeImages", "DescribeInstanceTypes", "DescribeAvailableResource", "DescribeVSwitches",
            "RunInstances",
        }),
        "odcr": frozenset({
            "DescribeInstanceTypes", "DescribeAvailableResource", "CreateCapacityReservation",
            "ModifyCapacityReservation", "DescribeCapacityReservations",
        }),
        # the race against the release: keep the disks on receipt, reattach or give them back,
        # convert and move the public IP, clean up what the responder made
        "race": frozenset({
            "ModifyDiskAttribute", "AttachDisk", "DeleteDisk", "ConvertNatPublicIpToEip", "AssociateEipAddress",
            "DeleteImage", "DeleteSnapshot",
            # a data disk restored in the replacement's zone, or taken off an original that stopped
            "DescribeSnapshots", "CreateDisk", "DetachDisk",
            # RESPONDER_KEEP_PRIVATE_IP: the original's address on the replacement's primary ENI
            "DescribeNetworkInterfaces", "AssignPrivateIpAddresses",
        }),
        # standing capacity: release what is above a target that allows it
        "targets": frozenset({"ReleaseCapacityReservation"}),
    },
    "aws": {
        "replace": frozenset({
            "DescribeInstances", "DescribeInstanceAttribute", "DescribeSpotInstanceRequests", "DescribeAddresses",
            "CreateImage", "DescribeImages", "DescribeInstanceTypes", "DescribeInstanceTypeOfferings",
            "DescribeSubnets", "DescribeSpotPriceHistory", "GetSpotPlacementScores", "CreateLaunchTemplate",
            "DescribeLaunchTemplates", "CreateFleet", "AssociateAddress",
        }),
        # RESPONDER_REBALANCE_POLICY=replace retires the original once its replacement runs
        "rebalance-replace": frozenset({"TerminateInstances"}),
        # RESPONDER_AWS_ACTION=reserve|both, and `responder odcr`
        "reserve": frozenset({
            "DescribeInstanceTypes", "DescribeAvailabilityZones", "CreateCapacityReservation",
            "ModifyCapacityReservation", "DescribeCapacityReservations",
        }),
        "spot-scores": frozenset({"GetSpotPlacementScores", "DescribeInstanceTypes"}),
        # the race: the volumes of the original (what an image will take, what instance-action keeps),
        # kept on receipt (DeleteOnTermination=false), moved or restored in the replacement's zone
        # and RESPONDER_KEEP_PRIVATE_IP: the original's address on the replacement's primary interface
        "race": frozenset({"DescribeVolumes", "ModifyInstanceAttribute", "AttachVolume", "DetachVolume",
                           "DeleteVolume", "DescribeSnapshots", "CreateVolume", "AssignPrivateIpAddresses"}),
        # standing capacity: release what is above a target that allows it
        "targets": frozenset({"CancelCapacityReservation"}),
        # `responder protect` / the protect pass of a tick: image tagged instances, and retention of
        # what the responder made (AMIs with their snapshots, launch templates of ended tasks)
        "protect": frozenset({
            "DescribeInstances", "CreateImage", "DescribeImages", "DeregisterImage", "DescribeSnapshots",
            "DeleteSnapshot", "DescribeLaunchTemplates", "DeleteLaunchTemplate",
        }),
    },
}

# Called, but by a path the sandbox cannot reach: EC2 answers a repeated ClientToken idempotently,
# so the name-taken fallback of the launch template only runs once EC2 has forgotten the token.
# Granted (denying it would break that fallback); the coverage test accepts not seeing it.
# The race's and the targets' later steps run on their own scenarios (tests/test_race_*.py,
# tests/test_targets_*.py), not in the flows this coverage test drives on the default one.
_RACE_SCENARIO = "the race on the realistic scenario pack (tests/test_race_*.py)"
_TARGET_RELEASE = "releasing capacity above a target that allows it (tests/test_targets_reconcile.py)"
_PROTECT = "protect ahead and retention on the realistic scenario pack (tests/test_protect_aws.py)"
UNREACHABLE_ON_SANDBOX: dict[str, dict[str, str]] = {
    "aliyun": {"AttachDisk": _RACE_SCENARIO, "DeleteDisk": _RACE_SCENARIO, "ConvertNatPublicIpToEip": _RACE_SCENARIO,
               "AssociateEipAddress": _RACE_SCENARIO, "DeleteImage": _RACE_SCENARIO, "DeleteSnapshot": _RACE_SCENARIO,
               "DescribeSnapshots": _RACE_SCENARIO, "CreateDisk": _RACE_SCENARIO, "DetachDisk": _RACE_SCENARIO,
               "DescribeNetworkInterfaces": _RACE_SCENARIO, "AssignPrivateIpAddresses": _RACE_SCENARIO,
               "ReleaseCapacityReservation": _TARGET_RELEASE},
    "aws": {"DescribeLaunchTemplates": "a launch template found by name after CreateLaunchTemplate says AlreadyExists",
            **{a: _RACE_SCENARIO for a in ("ModifyInstanceAttribute", "AttachVolume", "DetachVolume", "DeleteVolume",
                                           "CreateVolume", "AssignPrivateIpAddresses")},
            "CancelCapacityReservation": _TARGET_RELEASE, "DeregisterImage": _PROTECT, "DescribeSnapshots": _PROTECT,
            "DeleteSnapshot": _PROTECT, "DeleteLaunchTemplate": _PROTECT},
}

# Permissions the clouds check on a call besides the call's own action (the emulators cannot see them).
IMPLIED: dict[str, dict[str, str]] = {
    "aliyun": {
        # The replacement keeps the original's RAM role (RunInstances RamRoleName).
        "ram:PassRole": "RunInstances with the original's RAM role",
    },
    "aws": {
        # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html:
        # tagging on create (TagSpecifications) needs ec2:CreateTags for the created resource.
        "ec2:CreateTags": "TagSpecifications on CreateImage, CreateFleet, CreateLaunchTemplate, CreateCapacityReservation",
        # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-prerequisites.html: an
        # instant fleet launches through RunInstances, checked against the caller's policy.
        "ec2:RunInstances": "CreateFleet (type instant) launches with the caller's RunInstances permission",
        # The replacement keeps the original's instance profile.
        "iam:PassRole": "CreateFleet / RunInstances with the original's instance profile",
    },
}

# AWS actions limited to capacity reservations carrying the responder's tag (responder:managed=true,
# set on create by responder.clouds.aws_capacity): the responder never modifies anyone else's.
# ECS documents no tag condition for capacity reservations, so the RAM policy cannot scope them.
SCOPED = {"aws": {"ModifyCapacityReservation": "responder:managed"}}
PREFIX = {"aliyun": "ecs", "aws": "ec2"}


def called_actions(cloud: str) -> set[str]:
    """Every API action any feature of `cloud` calls, as the API names it (no prefix)."""
    return set().union(*CALLED[cloud].values())


def policy_actions(cloud: str) -> set[str]:
    """What a least-privilege policy for `cloud` grants: the called actions with the policy
    prefix, and the implied permissions."""
    return {f"{PREFIX[cloud]}:{a}" for a in called_actions(cloud)} | set(IMPLIED[cloud])
