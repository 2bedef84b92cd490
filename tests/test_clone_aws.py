"""A replacement on AWS is a clone: DescribeInstances (and the spot request, and the credit mode) of
the original and of its replacement agree field by field, but for the fields listed here that
differ on purpose. Real boto3, EC2 emulator. And a launch EC2 would refuse is refused."""

from __future__ import annotations

import dataclasses

import boto3
import pytest
from botocore.config import Config

from responder.clouds.base import LaunchRequest
from responder.errors import CloudError
from responder.model import Market, Offering
from tests.scenarios import scenario
from tests.test_aws_flow import run

DOOMED = "i-1234567890abcdef0"
REGION = "us-east-2"
SUBNET_A = "subnet-0a1b2c3d4e5f60001"
BURSTABLE = {"type": "t3.large", "family": "t3", "cpu": 2, "memory_gib": 8}
# A burstable original in unlimited mode, bought under its own spot MaxPrice, in a placement group,
# on dedicated tenancy.
CLONED = {"type": "t3.large", "credit": "unlimited", "spot_price": "0.042", "placement_group": "pg-workers",
          "tenancy": "dedicated"}

# What differs on purpose: a new instance has its own id, image (made from the original), launch
# time, addresses and interfaces, disks, its own spot request and the responder's added tags; the
# original has been released by then (state, reason), and a released instance shows no instance
# profile (the clone's is checked by name below).
DIFFER_ON_PURPOSE = {"InstanceId", "ImageId", "LaunchTime", "PrivateIpAddress", "PrivateDnsName", "PublicDnsName",
                     "NetworkInterfaces", "BlockDeviceMappings", "Tags", "SpotInstanceRequestId", "State",
                     "StateTransitionReason", "StateReason", "IamInstanceProfile"}


def _scenario(instance=None, **top):
    data = scenario(offers=[], cloud="aws", instances={DOOMED: dict(CLONED, **(instance or {}))}, **top)
    data["regions"][0]["instance_types"].append(dict(BURSTABLE))
    return data


def _ec2(box):
    return boto3.client("ec2", region_name=REGION, endpoint_url=box.emulators["aws"].endpoint_url,
                        aws_access_key_id="sandbox-key", aws_secret_access_key="sandbox-secret",
                        config=Config(retries={"total_max_attempts": 1}))


def _describe(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _top_level_differences(original: dict, clone: dict) -> dict:
    return {k: (original.get(k), clone.get(k)) for k in original.keys() | clone.keys()
            if original.get(k) != clone.get(k)}


def test_the_replacement_describes_as_the_original_but_for_what_differs_on_purpose(responder_factory):
    client, runner, box = responder_factory(_scenario())
    task = run(client, runner)
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    ec2 = _ec2(box)
    original, clone = _describe(ec2, DOOMED), _describe(ec2, replacement)
    differing = _top_level_differences(original, clone)
    assert set(differing) - DIFFER_ON_PURPOSE == set(), {k: v for k, v in differing.items()
                                                          if k not in DIFFER_ON_PURPOSE}
    assert clone["Placement"] == original["Placement"]  # zone, group, tenancy
    assert clone["IamInstanceProfile"]["Arn"].endswith("/worker-profile")
    assert (clone["Placement"]["GroupName"], clone["Placement"]["Tenancy"]) == ("pg-workers", "dedicated")
    assert {(t["Key"], t["Value"]) for t in original["Tags"]} <= {(t["Key"], t["Value"]) for t in clone["Tags"]}
    credits = {c["InstanceId"]: c["CpuCredits"] for c in ec2.describe_instance_credit_specifications(
        InstanceIds=[DOOMED, replacement])["InstanceCreditSpecifications"]}
    assert credits == {DOOMED: "unlimited", replacement: "unlimited"}
    prices = {r["InstanceId"]: float(r["SpotPrice"]) for r in ec2.describe_spot_instance_requests(
        Filters=[{"Name": "instance-id", "Values": [DOOMED, replacement]}])["SpotInstanceRequests"]}
    assert prices == {DOOMED: 0.042, replacement: 0.042}


def test_a_standard_mode_original_stays_standard(responder_factory):
    client, runner, box = responder_factory(_scenario(instance={"credit": "standard"}))
    task = run(client, runner)
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    rows = _ec2(box).describe_instance_credit_specifications(InstanceIds=[replacement])["InstanceCreditSpecifications"]
    assert rows[0]["CpuCredits"] == "standard"


def _request(box, **source_changes) -> LaunchRequest:
    cloud = box.clouds["aws"]
    source = cloud.clone_details(REGION, cloud.describe_instance(REGION, DOOMED))
    source = dataclasses.replace(source, **source_changes)
    return LaunchRequest(source=source, image_id=source.image_id, client_token="t-" + "-".join(source_changes),
                         offerings=(Offering(source.instance_type, "us-east-2a", Market.ONDEMAND),),
                         subnet_by_zone=(("us-east-2a", SUBNET_A),))


@pytest.mark.parametrize("changes, code", [
    ({"key_pair": "no-such-key"}, "InvalidKeyPair.NotFound"),
    ({"placement_group": "pg-nosuch"}, "InvalidPlacementGroup.Unknown"),
])
def test_a_launch_ec2_would_refuse_is_refused_and_launches_nothing(sandbox_factory, changes, code):
    box = sandbox_factory(_scenario())
    before = len(_ec2(box).describe_instances()["Reservations"])
    with pytest.raises(CloudError) as caught:
        box.clouds["aws"].launch(REGION, _request(box, **changes))
    assert caught.value.code == code
    assert len(_ec2(box).describe_instances()["Reservations"]) == before
