"""AwsCloud against the emulator: real boto3 over HTTP, errors classified into the taxonomy."""

from __future__ import annotations

import pytest

from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import REGION, SPOT_ID, client_for
from responder.clouds.aws import AwsCloud
from responder.clouds.aws_errors import classify, is_invalid, is_no_capacity, is_not_found, is_throttled
from responder.clouds.base import LaunchRequest
from responder.errors import Fatal, Invalid, NoCapacity, NotFound, Throttled
from responder.model import Market, Offering

M5_2B = Offering("m5.large", "us-east-2b")


def test_a_reservation_is_created_tagged_as_ours_resized_and_described(cloud, ec2):
    r = cloud.create_reservation(REGION, M5_2B, 2, client_token="t-1", preference="targeted", tags=(("task", "t-1"),))
    assert (r.instance_type, r.zone, r.total, r.available, r.state) == ("m5.large", "us-east-2b", 2, 2, "active")
    raw = ec2.describe_capacity_reservations(CapacityReservationIds=[r.reservation_id])["CapacityReservations"][0]
    assert raw["InstanceMatchCriteria"] == "targeted" and raw["EndDateType"] == "unlimited"
    assert raw["InstancePlatform"] == "Linux/UNIX" and raw["EbsOptimized"] is True
    assert {"Key": "responder:managed", "Value": "true"} in raw["Tags"]
    assert cloud.modify_reservation(REGION, r.reservation_id, 4).total == 4
    assert cloud.describe_reservation(REGION, r.reservation_id).available == 4
    assert [x.reservation_id for x in cloud.list_reservations(REGION, "m5.large", "us-east-2b")] == [r.reservation_id]
    cloud.cancel_reservation(REGION, r.reservation_id)
    assert cloud.describe_reservation(REGION, r.reservation_id).state == "cancelled"


def test_a_retried_reservation_with_the_same_token_is_the_same_reservation(cloud, emulator):
    first = cloud.create_reservation(REGION, M5_2B, 3, client_token="task-9:reserve:0")
    again = cloud.create_reservation(REGION, M5_2B, 3, client_token="task-9:reserve:0")
    assert first.reservation_id == again.reservation_id
    assert len(emulator.calls_of("CreateCapacityReservation")) == 2
    assert emulator.stock.available("m5.large", "us-east-2b", "ondemand") == 97


def test_insufficient_capacity_surfaces_as_no_capacity_after_one_attempt(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "m5.large", "zone": "us-east-2b", "market": "ondemand", "available": 1})
    emu = make_emulator(scenario_dict)
    cloud = AwsCloud(endpoint_url=emu.endpoint_url, region_name=REGION)
    with pytest.raises(NoCapacity) as err:
        cloud.create_reservation(REGION, M5_2B, 2, client_token="t-2")
    assert err.value.code == "InsufficientInstanceCapacity" and err.value.http_status == 500
    assert "reserving 2 x m5.large in us-east-2b" in str(err.value)
    assert len(emu.calls_of("CreateCapacityReservation")) == 1  # the adapter never retries


def test_unknown_reservation_is_not_found_and_bad_zone_is_invalid(cloud):
    with pytest.raises(NotFound):
        cloud.describe_reservation(REGION, "cr-0123456789abcdef0")
    with pytest.raises(Invalid):
        cloud.create_reservation(REGION, Offering("m5.large", "us-east-2z"), 1, client_token="t-3")


def test_throttling_is_classified_throttled(scenario_dict, make_emulator):
    scenario_dict["faults"] = [{"action": "DescribeCapacityReservations", "code": "RequestLimitExceeded", "times": 1}]
    emu = make_emulator(scenario_dict)
    cloud = AwsCloud(endpoint_url=emu.endpoint_url, region_name=REGION)
    with pytest.raises(Throttled) as err:
        cloud.describe_reservation(REGION, "cr-0123456789abcdef0")
    assert err.value.http_status == 503


def test_a_region_the_account_does_not_use_is_not_found_and_one_aws_knows_is_a_refusal(scenario_dict, make_emulator):
    scenario_dict["world"] = False  # the sandbox serves us-east-2 only, so other regions are refused
    emulator = make_emulator(scenario_dict)
    cloud = AwsCloud(endpoint_url=emulator.endpoint_url, region_name=REGION)
    with pytest.raises(NotFound) as forged:  # no such region anywhere: the event is about nothing of ours
        cloud.describe_instance("xx-forged-9", SPOT_ID)
    assert "xx-forged-9 is not a region this account uses" in str(forged.value)
    with pytest.raises(Fatal) as refused:  # a real region the emulator does not serve: as AWS answers
        cloud.describe_instance("ap-northeast-3", SPOT_ID)  # wrong credentials, loud, not a rejection
    assert refused.value.code == "AuthFailure" and not isinstance(refused.value, NotFound)
    assert [c["region"] for c in emulator.calls_of("DescribeInstances")] == ["xx-forged-9", "ap-northeast-3"]


@pytest.mark.parametrize("code, predicate", [
    ("InsufficientInstanceCapacity", is_no_capacity), ("Unsupported", is_no_capacity),
    ("RequestLimitExceeded", is_throttled), ("Throttling", is_throttled),
    ("InvalidInstanceID.NotFound", is_not_found), ("InvalidInstanceID.Malformed", is_not_found),
    ("InvalidParameterValue", is_invalid), ("InvalidAvailabilityZone", is_invalid),
])
def test_codes_fall_in_their_class(code, predicate):
    assert predicate(code)


def test_access_denied_and_unknown_codes_are_fatal_and_keep_the_message():
    from botocore.exceptions import ClientError

    for code in ("UnauthorizedOperation", "SomethingNew"):
        err = classify(ClientError({"Error": {"Code": code, "Message": "you may not"}}, "RunInstances"), "launching")
        assert isinstance(err, Fatal) and "you may not" in str(err) and err.operation == "RunInstances"


def test_the_interrupted_instance_is_described_as_a_reclaimed_spot_clone_source(cloud):
    info = cloud.describe_instance(REGION, SPOT_ID)
    assert (info.spot, info.reclaiming, info.spot_request_state) == (True, True, "marked-for-termination")
    assert (info.zone, info.instance_type) == ("us-east-2a", "m5.large")
    assert info.user_data == "" and info.elastic_ip_allocation == ""  # verification reads only the essentials
    info = cloud.clone_details(REGION, info)
    assert (info.account, info.subnet_id, info.vpc_id) == ("123456789012", "subnet-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60000")
    assert info.security_group_ids == ("sg-0123456789abcdef0",) and info.key_pair == "my-kp"
    assert info.role == "worker-profile" and info.user_data == "IyEvYmluL3NoCmVjaG8gaGVsbG8K"
    assert info.elastic_ip_allocation.startswith("eipalloc-") and info.name == "worker-1"
    assert cloud.describe_instance(REGION, "i-0b662ef9931388ba0").reclaiming is False


def test_a_missing_instance_is_not_found(cloud):
    with pytest.raises(NotFound):
        cloud.describe_instance(REGION, "i-0000000000000dead")


def test_create_image_retried_finds_the_first_image(cloud, emulator):
    first = cloud.create_image(REGION, SPOT_ID, "responder-task-1", "tok", tags=(("task", "1"),))
    assert cloud.describe_image(REGION, first).state == "creating"
    assert cloud.create_image(REGION, SPOT_ID, "responder-task-1", "tok") == first
    made = [c for c in emulator.calls_of("CreateImage") if c["status"] == 200]
    refused = [c["code"] for c in emulator.calls_of("CreateImage") if c["status"] != 200]
    assert len(made) == 1 and refused == ["InvalidAMIName.Duplicate"]  # EC2 refuses the name twice
    emulator.clock.advance(emulator.scenario.image_build_seconds)
    assert cloud.describe_image(REGION, first).state == "available"


def test_catalog_offerings_and_subnets(cloud):
    specs = cloud.instance_types(REGION)
    assert set(specs) == {"m5.large", "m6i.large", "m7i.large", "c5.xlarge", "r5.large", "m6g.large"}
    assert (specs["r5.large"].cpu, specs["r5.large"].memory_gib, specs["m6g.large"].architecture) == (2, 16.0, "arm64")
    pairs = cloud.offerings_with_stock(REGION, ["m5.large"], Market.SPOT)
    assert pairs == {("m5.large", z) for z in ("us-east-2a", "us-east-2b", "us-east-2c")}
    subnets = cloud.subnets(REGION, "vpc-0a1b2c3d4e5f60000")
    assert sorted(s.zone for s in subnets) == ["us-east-2a", "us-east-2b", "us-east-2c"]


def test_placement_scores_are_keyed_by_zone_name_and_come_from_one_group_of_the_candidates(cloud, emulator):
    scores = cloud.placement_scores(REGION, ["m5.large", "m6i.large", "m7i.large", "r5.large"], target_capacity=40)
    # r5.large is alone in its shape, so it joins the group before it: one request for all four.
    assert len(emulator.calls_of("GetSpotPlacementScores")) == 1
    assert scores[("m5.large", "us-east-2a")] == 7 and scores[("m5.large", "us-east-2b")] == 10  # 300 // 40, 400 // 40
    assert scores[("r5.large", "us-east-2a")] == 7


def _request(cloud, offerings, token="launch-1", count=1):
    source = cloud.describe_instance(REGION, SPOT_ID)
    subnets = {s.zone: s.subnet_id for s in cloud.subnets(REGION, source.vpc_id)}
    return LaunchRequest(source=source, image_id=source.image_id, offerings=tuple(offerings),
                         subnet_by_zone=tuple(subnets.items()), client_token=token, count=count,
                         extra_tags=(("responder:replaces", SPOT_ID),))


def test_launch_clones_the_source_into_the_first_offering_with_stock(cloud, ec2):
    spot = [Offering("m5.large", z, Market.SPOT) for z in ("us-east-2a", "us-east-2b")]
    result = cloud.launch(REGION, _request(cloud, spot))
    assert result.offering == Offering("m5.large", "us-east-2b", Market.SPOT)
    # capacity-optimized-prioritized goes to capacity first: the sold-out pool is not tried, so not refused.
    assert result.refused == ()
    inst = ec2.describe_instances(InstanceIds=list(result.instance_ids))["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["responder:replaces"] == SPOT_ID and tags["app"] == "batch"
    assert inst["KeyName"] == "my-kp" and inst["IamInstanceProfile"]["Arn"].endswith("/worker-profile")
    assert inst["InstanceLifecycle"] == "spot"
    assert cloud.instance_states(REGION, list(result.instance_ids)) == {result.instance_ids[0]: "running"}
    again = cloud.launch(REGION, _request(cloud, spot))  # same ClientToken: same instances
    assert again.instance_ids == result.instance_ids


def test_launch_with_no_stock_anywhere_raises_no_capacity(cloud):
    with pytest.raises(NoCapacity) as err:
        cloud.launch(REGION, _request(cloud, [Offering("m5.large", "us-east-2a", Market.SPOT)], token="launch-2"))
    assert "subnet-0a1b2c3d4e5f60001" in str(err.value)


def test_spot_prices_and_elastic_ip_move(cloud, ec2):
    prices = cloud.spot_prices(REGION, ["m5.large"])
    assert prices and all(t == "m5.large" and p > 0 for (t, _), p in prices.items())
    allocation = cloud.clone_details(REGION, cloud.describe_instance(REGION, SPOT_ID)).elastic_ip_allocation
    target = "i-0b662ef9931388ba0"
    assert cloud.associate_address(REGION, allocation, target).startswith("eipassoc-")
    assert ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["InstanceId"] == target


def test_a_raw_client_sees_the_same_emulator(emulator):
    assert client_for(emulator).describe_availability_zones()["AvailabilityZones"]
