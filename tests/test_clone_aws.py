"""A replacement on AWS is a clone: DescribeInstances (and the spot request, and the credit mode) of
the original and of its replacement agree field by field, but for the fields listed here that
differ on purpose. Real boto3, EC2 emulator. And a launch EC2 would refuse is refused."""

from __future__ import annotations

import dataclasses
import time

import boto3
import pytest
from botocore.config import Config

from responder.clouds.base import LaunchRequest
from responder.errors import CloudError
from responder.model import Market, Offering
from responder.replace.runner import TaskRunner
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.sandbox.stock import SandboxClock
from responder.store import Store
from responder.web import create_app
from tests.scenarios import scenario
from tests.test_aws_flow import WARNING, deliver, run

DOOMED = "i-1234567890abcdef0"
REGION = "us-east-2"
SUBNETS = {"us-east-2a": "subnet-0a1b2c3d4e5f60001", "us-east-2b": "subnet-0a1b2c3d4e5f60002"}
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


def _scenario(instance=None, offers=(), **top):
    data = scenario(offers=list(offers), cloud="aws", instances={DOOMED: dict(CLONED, **(instance or {}))}, **top)
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


def _request(box, zone: str = "us-east-2a", **source_changes) -> LaunchRequest:
    cloud = box.clouds["aws"]
    source = cloud.clone_details(REGION, cloud.describe_instance(REGION, DOOMED))
    source = dataclasses.replace(source, **source_changes)
    return LaunchRequest(source=source, image_id=source.image_id, client_token=f"t-{zone}-" + "-".join(source_changes),
                         offerings=(Offering(source.instance_type, zone, Market.ONDEMAND),),
                         subnet_by_zone=((zone, SUBNETS[zone]),))


@pytest.mark.parametrize("zone, changes, code", [
    ("us-east-2a", {"key_pair": "no-such-key"}, "InvalidKeyPair.NotFound"),
    ("us-east-2a", {"placement_group": "pg-nosuch"}, "InvalidPlacementGroup.Unknown"),
    # the original's cluster group has a live member (the original) in us-east-2a
    ("us-east-2b", {}, "InvalidPlacementGroup.InUse"),
])
def test_a_launch_ec2_would_refuse_is_refused_and_launches_nothing(sandbox_factory, zone, changes, code):
    box = sandbox_factory(_scenario())
    before = len(_ec2(box).describe_instances()["Reservations"])
    with pytest.raises(CloudError) as caught:
        box.clouds["aws"].launch(REGION, _request(box, zone, **changes))
    assert caught.value.code == code
    assert len(_ec2(box).describe_instances()["Reservations"]) == before


@pytest.mark.parametrize("params, code", [
    ({"KeyName": "no-such-key"}, "InvalidKeyPair.NotFound"),
    ({"Placement": {"GroupName": "pg-nosuch", "AvailabilityZone": "us-east-2a"}}, "InvalidPlacementGroup.Unknown"),
    ({"Placement": {"GroupName": "pg-workers", "AvailabilityZone": "us-east-2b"}}, "InvalidPlacementGroup.InUse"),
])
def test_run_instances_is_refused_as_a_fleet_override_is(sandbox_factory, params, code):
    box = sandbox_factory(_scenario())
    ec2 = _ec2(box)
    image = _describe(ec2, DOOMED)["ImageId"]
    before = len(ec2.describe_instances()["Reservations"])
    with pytest.raises(ec2.exceptions.ClientError) as caught:
        ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=1, MaxCount=1, **params)
    assert caught.value.response["Error"]["Code"] == code
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_a_spread_group_may_span_zones(sandbox_factory):
    data = _scenario()
    data["regions"][0]["placement_groups"] = [{"name": "pg-workers", "strategy": "spread"}]
    box = sandbox_factory(data)
    launched = box.clouds["aws"].launch(REGION, _request(box, "us-east-2b"))
    assert len(launched.instance_ids) == 1
    placed = _describe(_ec2(box), launched.instance_ids[0])["Placement"]
    assert (placed["AvailabilityZone"], placed["GroupName"]) == ("us-east-2b", "pg-workers")


@pytest.mark.slow
def test_a_cluster_group_original_is_replaced_in_another_zone_only_once_it_is_gone(sandbox_factory, test_settings):
    """Slow: the refused launch is tried again on the launch back-off (30 s, on a runner clock at
    10x: 3 real seconds) once the original is gone. Stock only outside the original's zone: while
    the original lives, EC2 refuses the group's other zones (InvalidPlacementGroup.InUse) and the
    refused launch costs no spend; once the original is released the group has no live member and
    the replacement joins it elsewhere."""
    zone_a_gone = [{"type": t["type"], "zone": "us-east-2a", "market": m, "available": 0}
                   for t in _scenario()["regions"][0]["instance_types"] for m in ("spot", "ondemand")]
    # The shipped RESPONDER_LAUNCH_RETRY_SECONDS (the tests' default is 0): the refused zones are
    # tried again, like sold-out ones, until the original's release opens them.
    # The original's own two minutes (the sandbox's release, 6 real seconds at the tests' 20x) never
    # end (release_after: null): only the termination below frees the group. The fast clock stands
    # for a starved CPU, on which those two minutes used to pass within the first step and the
    # replacement rightly joined the group elsewhere before the check that it had not.
    box = sandbox_factory(_scenario(instance={"release_after": None}, offers=zone_a_gone), time_scale=400)
    # The runner's own time at 10x too (leases, back-offs, deadlines: all on its clock), so the
    # back-off's 30 s is waited in 3 real seconds; the tests' other runners use real time.
    clock, settings = SandboxClock(10), test_settings.with_(launch_retry_seconds=300.0)

    def fast_sleep(seconds: float) -> None:  # a wait on the runner's clock, in real time
        time.sleep(seconds / 10)
    runner = TaskRunner(Store(settings.database_url, clock=clock), box.clouds, settings, clock=clock,
                        sleep=fast_sleep)
    status, body = deliver(create_app(settings, runner=runner).test_client(), WARNING)
    assert status in (200, 202), body
    task = runner.run_to_end(body["task"]["id"], timeout=50, sleep=fast_sleep)
    assert task.status == "launching" and not task.record.launch.replacement_ids, task.reason
    # The original goes (as its release would take it): the group has no live member left.
    boto3.client("ec2", region_name=REGION, endpoint_url=box.emulators["aws"].endpoint_url,
                 aws_access_key_id=SANDBOX_ADMIN_KEY, aws_secret_access_key="sandbox-secret",
                 config=Config(retries={"total_max_attempts": 1})).terminate_instances(InstanceIds=[DOOMED])
    task = runner.run_to_end(task.id, timeout=600, sleep=fast_sleep)
    assert task.status == "done", task.reason
    ec2 = _ec2(box)
    placed = _describe(ec2, task.record.launch.replacement_ids[0])["Placement"]
    assert placed["GroupName"] == "pg-workers" and placed["AvailabilityZone"] != "us-east-2a"
    assert _describe(ec2, DOOMED)["State"]["Name"] == "terminated"
