"""The cloud API calls each feature makes: the one list the deploy policies are made from.

Parts: CALLED (cloud → feature → the API calls its flows send, as the emulators see them),
UNREACHABLE_ON_SANDBOX (called APIs no sandbox flow of tests/test_policies.py reaches, each with
its reason), called_actions (the flattened set of API names), policy_actions (what a policy must
allow for them: each call's permissions from responder.clouds.permissions, the vendors' cited table).

tests/test_policies.py runs the flows on the sandbox with the shipped policies enforced, collects
the calls the emulators answered and checks them against CALLED; then checks the RAM policy in
s.yaml, the IAM policy in template.yaml, deploy/*-policy.json and deploy/oci-policy.txt against
the table. A new cloud call is added here, and the policies follow (deploy/policies.py writes them).
"""

from __future__ import annotations

from responder.clouds.permissions import needed

CALLED: dict[str, dict[str, frozenset[str]]] = {
    "aliyun": {
        # verify → image (CreateImage is the second call) → plan → launch
        "replace": frozenset({
            "DescribeInstances", "DescribeUserData", "DescribeInstanceRamRole", "DescribeDisks", "CreateImage",
            "DescribeImages", "DescribeInstanceTypes", "DescribeAvailableResource", "DescribeVSwitches",
            "RunInstances",
            # the interruption bands that order spot candidates (clouds/spot_bands.py)
            "DescribeSpotAdvice",
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
            # a replacement launched from an older image gets the fresh image's system disk (swap.py)
            "StopInstance", "ReplaceSystemDisk", "StartInstance",
        }),
        # standing capacity: release what is above a target that allows it
        "targets": frozenset({"ReleaseCapacityReservation", "DeleteInstance"}),
        # RESPONDER_DATABASE_SECRET=aliyun:REGION:NAME: the store URL from a KMS secret
        "secrets": frozenset({"GetSecretValue"}),
        # what a done task bought and what its original cost, per hour (replace/pricing.py)
        "cost": frozenset({"DescribePrice"}),
    },
    "aws": {
        "replace": frozenset({
            "DescribeInstances", "DescribeInstanceAttribute", "DescribeSpotInstanceRequests", "DescribeAddresses",
            "CreateImage", "DescribeImages", "DescribeInstanceTypes", "DescribeInstanceTypeOfferings",
            "DescribeSubnets", "DescribeSpotPriceHistory", "GetSpotPlacementScores", "CreateLaunchTemplate",
            "DescribeLaunchTemplates", "CreateFleet", "AssociateAddress",
            # the credit mode of a burstable (T) original, which its clone keeps
            "DescribeInstanceCreditSpecifications",
        }),
        # RESPONDER_REBALANCE_POLICY=replace retires the original once its replacement runs; the
        # original is tagged when the task takes charge of it (the policy scopes the terminate)
        "rebalance-replace": frozenset({"CreateTags", "TerminateInstances"}),
        # RESPONDER_AWS_ACTION=reserve|both, and `responder odcr`
        "reserve": frozenset({
            "DescribeInstanceTypes", "DescribeAvailabilityZones", "CreateCapacityReservation",
            "ModifyCapacityReservation", "DescribeCapacityReservations",
        }),
        "spot-scores": frozenset({"GetSpotPlacementScores", "DescribeInstanceTypes"}),
        # the race: the volumes of the original (what an image will take, what instance-action keeps),
        # kept on receipt (DeleteOnTermination=false), moved or restored in the replacement's zone
        # and RESPONDER_KEEP_PRIVATE_IP: the original's address on the replacement's primary interface
        # (a kept volume is tagged as the responder's first: DeleteVolume / DetachVolume are scoped by tag)
        "race": frozenset({"DescribeVolumes", "ModifyInstanceAttribute", "AttachVolume", "DetachVolume", "CreateTags",
                           "DeleteVolume", "DescribeSnapshots", "CreateVolume", "AssignPrivateIpAddresses",
                           # a replacement launched from an older image gets the fresh AMI's root volume
                           "CreateReplaceRootVolumeTask", "DescribeReplaceRootVolumeTasks"}),
        # standing capacity: release what is above a target that allows it
        "targets": frozenset({"CancelCapacityReservation", "TerminateInstances"}),
        # RESPONDER_DATABASE_SECRET: the store URL from a Secrets Manager secret
        "secrets": frozenset({"GetSecretValue"}),
        # what a done task bought and what its original cost, per hour: spot price history and
        # the Price List API (replace/pricing.py)
        "cost": frozenset({"DescribeSpotPriceHistory", "GetProducts"}),
        # `responder protect` / the protect pass of a tick: image tagged instances, and retention of
        # what the responder made (AMIs with their snapshots, launch templates of ended tasks)
        "protect": frozenset({
            "DescribeInstances", "CreateImage", "DescribeImages", "DeregisterImage", "DescribeSnapshots",
            "DeleteSnapshot", "DescribeLaunchTemplates", "DeleteLaunchTemplate",
        }),
    },
    "oci": {
        # hunting standing capacity, and relaunching a preempted instance no target owns
        "targets": frozenset({"ListAvailabilityDomains", "ListShapes", "ListImages", "GetImage", "ListInstances",
                              "GetInstance", "LaunchInstance", "ListVnicAttachments", "GetVnic", "GetSubnet",
                              "ListSubnets", "TerminateInstance", "ListBootVolumeAttachments", "GetBootVolume"}),
        "replace": frozenset({"CreateImage"}),
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
_SECRET = "a store URL read from a secret at start (tests/test_targets_secret_url.py, tests/test_secrets.py)"
_OCI = "the OCI flows of tests/test_oci_*.py and tests/test_targets_oci_*.py"
UNREACHABLE_ON_SANDBOX: dict[str, dict[str, str]] = {
    "aliyun": {"AttachDisk": _RACE_SCENARIO, "DeleteDisk": _RACE_SCENARIO, "ConvertNatPublicIpToEip": _RACE_SCENARIO,
               "AssociateEipAddress": _RACE_SCENARIO, "DeleteImage": _RACE_SCENARIO, "DeleteSnapshot": _RACE_SCENARIO,
               "DescribeSnapshots": _RACE_SCENARIO, "CreateDisk": _RACE_SCENARIO, "DetachDisk": _RACE_SCENARIO,
               "DescribeNetworkInterfaces": _RACE_SCENARIO, "AssignPrivateIpAddresses": _RACE_SCENARIO,
               "StopInstance": _RACE_SCENARIO, "ReplaceSystemDisk": _RACE_SCENARIO, "StartInstance": _RACE_SCENARIO,
               "ReleaseCapacityReservation": _TARGET_RELEASE, "DeleteInstance": _TARGET_RELEASE,
               "GetSecretValue": _SECRET},
    "aws": {"DescribeLaunchTemplates": "a launch template found by name after CreateLaunchTemplate says AlreadyExists",
            **{a: _RACE_SCENARIO for a in ("ModifyInstanceAttribute", "AttachVolume", "DetachVolume", "DeleteVolume",
                                           "CreateVolume", "AssignPrivateIpAddresses", "CreateReplaceRootVolumeTask",
                                           "DescribeReplaceRootVolumeTasks")},
            "CancelCapacityReservation": _TARGET_RELEASE, "DeregisterImage": _PROTECT, "DescribeSnapshots": _PROTECT,
            "DeleteSnapshot": _PROTECT, "DeleteLaunchTemplate": _PROTECT, "GetSecretValue": _SECRET,
            # only a burstable (T) original has a credit mode to read; the default scenario's are m5
            "DescribeInstanceCreditSpecifications": "a burstable original (tests/test_clone_aws.py, policy enforced)",
            # the sample replacements buy spot for a spot original: no on-demand price is read
            "GetProducts": "an on-demand fallback's price (tests/test_costs_flow.py, policy enforced)"},
    "oci": {"CreateImage": "the OCI adapter test (tests/test_oci_adapter.py)",
            **{a: _OCI for a in ("GetImage", "GetInstance", "ListVnicAttachments", "GetVnic", "GetSubnet", "ListSubnets",
                                 "TerminateInstance", "ListInstances", "ListBootVolumeAttachments",
                                 "GetBootVolume")}},
}

def called_actions(cloud: str) -> set[str]:
    """Every API any feature of `cloud` calls, as the API names it."""
    return set().union(*CALLED[cloud].values())


def policy_actions(cloud: str) -> set[str]:
    """What a least-privilege policy for `cloud` allows: each called API's permissions as the
    vendor's table names them (the conditional ones too: tags on create, a role passed)."""
    return {p for api in called_actions(cloud) for p in needed(cloud, api)}

