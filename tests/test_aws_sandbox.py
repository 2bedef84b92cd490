"""The AWS emulator at the wire: boto3 over HTTP against moto + the scenario middleware."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import REGION, SPOT_ID, client_for


def _reserve(ec2, count, zone="us-east-2b", token=None, instance_type="m5.large"):
    kwargs = dict(InstanceType=instance_type, InstancePlatform="Linux/UNIX", AvailabilityZone=zone,
                  InstanceCount=count, EndDateType="unlimited", InstanceMatchCriteria="targeted",
                  TagSpecifications=[{"ResourceType": "capacity-reservation", "Tags": [{"Key": "team", "Value": "a"}]}])
    if token:
        kwargs["ClientToken"] = token
    return ec2.create_capacity_reservation(**kwargs)["CapacityReservation"]


def test_a_capacity_reservation_is_created_resized_described_and_cancelled(emulator, ec2):
    before = emulator.stock.available("m5.large", "us-east-2b", "ondemand")
    r = _reserve(ec2, 3)
    assert (r["State"], r["TotalInstanceCount"], r["AvailableInstanceCount"]) == ("active", 3, 3)
    assert r["InstanceMatchCriteria"] == "targeted" and r["Tags"] == [{"Key": "team", "Value": "a"}]
    assert r["AvailabilityZone"] == "us-east-2b" and r["AvailabilityZoneId"].startswith("use2-az")
    assert emulator.stock.available("m5.large", "us-east-2b", "ondemand") == before - 3

    assert ec2.modify_capacity_reservation(CapacityReservationId=r["CapacityReservationId"], InstanceCount=5)["Return"]
    got = ec2.describe_capacity_reservations(CapacityReservationIds=[r["CapacityReservationId"]])["CapacityReservations"][0]
    assert (got["TotalInstanceCount"], got["AvailableInstanceCount"]) == (5, 5)
    assert emulator.stock.available("m5.large", "us-east-2b", "ondemand") == before - 5

    assert ec2.cancel_capacity_reservation(CapacityReservationId=r["CapacityReservationId"])["Return"]
    got = ec2.describe_capacity_reservations(CapacityReservationIds=[r["CapacityReservationId"]])["CapacityReservations"][0]
    assert got["State"] == "cancelled"
    assert emulator.stock.available("m5.large", "us-east-2b", "ondemand") == before


def test_the_same_client_token_returns_the_same_reservation_and_takes_stock_once(emulator, ec2):
    before = emulator.stock.available("m5.large", "us-east-2c", "ondemand")
    first = _reserve(ec2, 2, zone="us-east-2c", token="task-1-reserve-0")
    again = _reserve(ec2, 2, zone="us-east-2c", token="task-1-reserve-0")
    assert first["CapacityReservationId"] == again["CapacityReservationId"]
    assert emulator.stock.available("m5.large", "us-east-2c", "ondemand") == before - 2
    with pytest.raises(ClientError) as err:
        _reserve(ec2, 7, zone="us-east-2c", token="task-1-reserve-0")
    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_no_capacity_is_http_500_insufficient_instance_capacity_xml(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "m5.large", "zone": "us-east-2a", "market": "ondemand", "available": 2})
    emu = make_emulator(scenario_dict)
    ec2 = client_for(emu)
    with pytest.raises(ClientError) as err:
        _reserve(ec2, 3, zone="us-east-2a")
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert emu.calls_of("CreateCapacityReservation")[-1]["status"] == 500
    assert _reserve(ec2, 2, zone="us-east-2a")["TotalInstanceCount"] == 2  # all-or-nothing left the 2


def test_bad_type_zone_and_id_get_the_real_error_codes(ec2):
    for kwargs in ({"instance_type": "m5.huge"}, {"zone": "us-east-2z"}):
        with pytest.raises(ClientError) as err:
            _reserve(ec2, 1, **kwargs)
        assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.describe_capacity_reservations(CapacityReservationIds=["cr-00000000000000000"])
    assert err.value.response["Error"]["Code"] == "InvalidCapacityReservationId.NotFound"


def test_stock_freed_later_in_scenario_time_can_be_reserved(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "r5.large", "zone": "us-east-2b", "market": "ondemand",
                                             "available": 0, "schedule": [{"at": 60, "add": 4}]})
    emu = make_emulator(scenario_dict)
    ec2 = client_for(emu)
    with pytest.raises(ClientError):
        _reserve(ec2, 4, instance_type="r5.large")
    emu.clock.advance(61)
    assert _reserve(ec2, 4, instance_type="r5.large")["TotalInstanceCount"] == 4


def test_throttling_fault_answers_503_request_limit_exceeded(scenario_dict, make_emulator):
    scenario_dict["faults"] = [{"action": "DescribeInstances", "code": "RequestLimitExceeded", "times": 1}]
    ec2 = client_for(make_emulator(scenario_dict))
    with pytest.raises(ClientError) as err:
        ec2.describe_instances(InstanceIds=[SPOT_ID])
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"]  # times: 1


def test_the_seeded_spot_instance_looks_like_ec2_shows_it(ec2):
    reservation = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]
    inst = reservation["Instances"][0]
    assert reservation["OwnerId"] == "123456789012"
    assert (inst["InstanceType"], inst["InstanceLifecycle"], inst["State"]["Name"]) == ("m5.large", "spot", "running")
    assert (inst["SubnetId"], inst["VpcId"]) == ("subnet-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60000")
    assert inst["Placement"]["AvailabilityZone"] == "us-east-2a"
    assert [g["GroupId"] for g in inst["SecurityGroups"]] == ["sg-0123456789abcdef0"]
    assert inst["IamInstanceProfile"]["Arn"].endswith("instance-profile/worker-profile")
    assert {"Key": "Name", "Value": "worker-1"} in inst["Tags"]
    request = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[inst["SpotInstanceRequestId"]])
    assert request["SpotInstanceRequests"][0]["Status"]["Code"] == "marked-for-termination"
    addresses = ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [SPOT_ID]}])["Addresses"]
    assert addresses and addresses[0]["AllocationId"].startswith("eipalloc-")
    assert addresses[0]["PublicIp"] == inst["PublicIpAddress"]



def test_the_images_are_the_public_amis_moto_ships_and_the_scenarios_key_pair_is_seeded(ec2, make_emulator):
    """The stand-in catalogue is moto's amis.json (a few dozen), not its per-region lists of over a
    thousand, and stays so when a second emulator re-seeds the region; the scenario's key pair is
    there with an RSA fingerprint whichever key material this process made."""
    from moto.ec2.models.amis import AMIS

    shipped = {a["ami_id"] for a in AMIS}
    public = {i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]}
    assert public == shipped and len(public) < 100
    again = client_for(make_emulator())
    assert {i["ImageId"] for i in again.describe_images(Owners=["amazon"])["Images"]} == shipped
    pair = again.describe_key_pairs(KeyNames=["my-kp"])["KeyPairs"][0]
    assert (pair["KeyName"], pair["KeyType"]) == ("my-kp", "rsa") and pair["KeyFingerprint"]

M_SHAPE = ["m5.large", "m6i.large", "m7i.large"]  # three different types: a set EC2 scores fairly


def test_placement_scores_follow_spot_stock_of_the_whole_set_per_zone(ec2):
    scores = ec2.get_spot_placement_scores(InstanceTypes=M_SHAPE, TargetCapacity=40, SingleAvailabilityZone=True,
                                           RegionNames=[REGION])["SpotPlacementScores"]
    zone_of = {z["ZoneId"]: z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    by_zone = {zone_of[s["AvailabilityZoneId"]]: s["Score"] for s in scores}
    # 100 free per type and zone, but m5.large is sold out on spot in 2a: 200 // 40 there, 300 // 40 elsewhere.
    assert by_zone == {"us-east-2a": 5, "us-east-2b": 7, "us-east-2c": 7}


def test_scenario_placement_scores_win(scenario_dict, make_emulator):
    aws = next(r for r in scenario_dict["regions"] if r["cloud"] == "aws")
    aws["placement_scores"] = [{"type": "m5.large", "zone": "us-east-2c", "score": 3}]
    ec2 = client_for(make_emulator(scenario_dict))
    scores = ec2.get_spot_placement_scores(InstanceTypes=M_SHAPE, TargetCapacity=1, SingleAvailabilityZone=True,
                                           RegionNames=[REGION])["SpotPlacementScores"]
    assert sorted(s["Score"] for s in scores) == [3, 10, 10]


def test_instant_fleet_skips_sold_out_overrides_and_reports_them_in_errors(emulator, ec2):
    template = ec2.create_launch_template(LaunchTemplateName="tmpl-1", LaunchTemplateData={
        "ImageId": ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]["ImageId"],
        "SecurityGroupIds": ["sg-0123456789abcdef0"], "KeyName": "my-kp"})["LaunchTemplate"]
    answer = ec2.create_fleet(
        Type="instant", TargetCapacitySpecification={"TotalTargetCapacity": 2, "DefaultTargetCapacityType": "spot"},
        # lowest-price tries the (equally priced) pools in turn, so the sold-out one is tried and refused.
        SpotOptions={"AllocationStrategy": "lowest-price"},
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": template["LaunchTemplateId"],
                                                                "Version": "$Latest"},
                                "Overrides": [{"InstanceType": "m5.large", "SubnetId": "subnet-0a1b2c3d4e5f60001"},
                                              {"InstanceType": "m5.large", "SubnetId": "subnet-0a1b2c3d4e5f60002"}]}])
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InsufficientInstanceCapacity"]
    assert answer["Errors"][0]["LaunchTemplateAndOverrides"]["Overrides"]["SubnetId"] == "subnet-0a1b2c3d4e5f60001"
    ids = answer["Instances"][0]["InstanceIds"]
    assert len(ids) == 2 and answer["Instances"][0]["Lifecycle"] == "spot"
    launched = ec2.describe_instances(InstanceIds=ids)["Reservations"][0]["Instances"]
    assert {i["Placement"]["AvailabilityZone"] for i in launched} == {"us-east-2b"}
    assert emulator.stock.available("m5.large", "us-east-2b", "spot") == 98


def test_a_fleet_with_no_stock_anywhere_launches_nothing_and_says_why(scenario_dict, make_emulator):
    scenario_dict["stock"]["default"] = 0
    ec2 = client_for(make_emulator(scenario_dict))
    template = ec2.create_launch_template(LaunchTemplateName="tmpl-2", LaunchTemplateData={"ImageId": "ami-03cf127a"})
    answer = ec2.create_fleet(
        Type="instant", TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateName": "tmpl-2", "Version": "1"},
                                "Overrides": [{"InstanceType": "m5.large", "SubnetId": "subnet-0a1b2c3d4e5f60002"}]}])
    assert template and answer.get("Instances", []) == []
    assert [e["ErrorCode"] for e in answer["Errors"]] == ["InsufficientInstanceCapacity"]


def test_an_image_is_pending_until_the_build_time_has_passed(emulator, ec2):
    image_id = ec2.create_image(InstanceId=SPOT_ID, Name="img-1", NoReboot=True)["ImageId"]
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "pending"
    emulator.clock.advance(emulator.scenario.image_build_seconds)
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"


def test_an_instance_marked_image_result_failed_yields_a_failed_image(scenario_dict, make_emulator):
    aws = next(r for r in scenario_dict["regions"] if r["cloud"] == "aws")
    aws["instances"][1]["image_result"] = "failed"
    emu = make_emulator(scenario_dict)
    ec2 = client_for(emu)
    image_id = ec2.create_image(InstanceId=aws["instances"][1]["id"], Name="img-2")["ImageId"]
    emu.clock.advance(60)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["State"] == "failed" and image["StateReason"]["Code"] == "Client.InternalError"


def test_run_instances_beyond_stock_is_refused_with_500(scenario_dict, make_emulator):
    ec2 = client_for(make_emulator(scenario_dict))
    with pytest.raises(ClientError) as err:
        ec2.run_instances(ImageId="ami-03cf127a", InstanceType="m5.large", MinCount=1, MaxCount=1,
                          SubnetId="subnet-0a1b2c3d4e5f60001", InstanceMarketOptions={"MarketType": "spot"})
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_offerings_come_from_the_scenario_catalog(ec2):
    offers = ec2.describe_instance_type_offerings(LocationType="availability-zone",
                                                  Filters=[{"Name": "instance-type", "Values": ["m6g.large", "t3.nano"]}])
    assert {(o["InstanceType"], o["Location"]) for o in offers["InstanceTypeOfferings"]} == {
        ("m6g.large", z) for z in ("us-east-2a", "us-east-2b", "us-east-2c")}


# -- EC2's ClientToken rule, one generic layer for every action that takes a token -----------------

def _template(ec2, name="tmpl-token", token="lt-token-1", key="my-kp"):
    image = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]["ImageId"]
    return ec2.create_launch_template(LaunchTemplateName=name, ClientToken=token,
                                      LaunchTemplateData={"ImageId": image, "KeyName": key})["LaunchTemplate"]


def _fleet(ec2, template_id, count, token):
    return ec2.create_fleet(
        Type="instant", ClientToken=token,
        TargetCapacitySpecification={"TotalTargetCapacity": count, "DefaultTargetCapacityType": "spot"},
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
                                "Overrides": [{"InstanceType": "m5.large", "SubnetId": "subnet-0a1b2c3d4e5f60002"}]}])


def _mismatch(call, *args, **kwargs):
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value


def test_a_repeated_create_fleet_token_replays_the_first_fleet_and_another_target_is_refused(emulator, ec2):
    template = _template(ec2)
    before = emulator.stock.available("m5.large", "us-east-2b", "spot")
    first = _fleet(ec2, template["LaunchTemplateId"], 2, "fleet-token-1")
    again = _fleet(ec2, template["LaunchTemplateId"], 2, "fleet-token-1")
    assert again["FleetId"] == first["FleetId"]
    assert again["Instances"][0]["InstanceIds"] == first["Instances"][0]["InstanceIds"]
    assert emulator.stock.available("m5.large", "us-east-2b", "spot") == before - 2
    _mismatch(_fleet, ec2, template["LaunchTemplateId"], 3, "fleet-token-1")
    assert emulator.stock.available("m5.large", "us-east-2b", "spot") == before - 2


def test_a_repeated_run_instances_token_launches_once_and_other_parameters_are_refused(emulator, ec2):
    launch = dict(ImageId="ami-03cf127a", InstanceType="m5.large", MinCount=1, MaxCount=1,
                  SubnetId="subnet-0a1b2c3d4e5f60003", ClientToken="run-token-1")
    first = ec2.run_instances(**launch)["Instances"][0]["InstanceId"]
    assert ec2.run_instances(**launch)["Instances"][0]["InstanceId"] == first
    in_subnet = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": ["subnet-0a1b2c3d4e5f60003"]}])
    assert [i["InstanceId"] for r in in_subnet["Reservations"] for i in r["Instances"]] == [first]
    _mismatch(ec2.run_instances, **dict(launch, InstanceType="m6i.large"))


def test_a_repeated_launch_template_token_returns_the_same_template_and_other_data_is_refused(emulator, ec2):
    first = _template(ec2)
    assert _template(ec2)["LaunchTemplateId"] == first["LaunchTemplateId"]
    assert len(ec2.describe_launch_templates()["LaunchTemplates"]) == 1
    _mismatch(_template, ec2, key="other-kp")


def test_a_capacity_reservation_token_reused_with_other_tags_is_refused_by_the_generic_layer(emulator, ec2):
    first = _reserve(ec2, 1, zone="us-east-2b", token="cr-token-9")
    assert _reserve(ec2, 1, zone="us-east-2b", token="cr-token-9")["CapacityReservationId"] == first["CapacityReservationId"]
    kwargs = dict(InstanceType="m5.large", InstancePlatform="Linux/UNIX", AvailabilityZone="us-east-2b",
                  InstanceCount=1, EndDateType="unlimited", InstanceMatchCriteria="open", ClientToken="cr-token-9")
    _mismatch(ec2.create_capacity_reservation, **kwargs)  # only the match criteria differ


def test_a_token_is_free_again_after_a_refused_create(scenario_dict, make_emulator):
    scenario_dict["stock"]["offers"].append({"type": "m5.large", "zone": "us-east-2c", "market": "ondemand",
                                             "available": 0, "schedule": [{"at": 30, "add": 1}]})
    emu = make_emulator(scenario_dict)
    ec2 = client_for(emu)
    launch = dict(ImageId="ami-03cf127a", InstanceType="m5.large", MinCount=1, MaxCount=1,
                  SubnetId="subnet-0a1b2c3d4e5f60003", ClientToken="retry-after-no-stock")
    with pytest.raises(ClientError) as err:
        ec2.run_instances(**launch)
    assert err.value.response["Error"]["Code"] == "InsufficientInstanceCapacity"
    emu.clock.advance(30)
    assert ec2.run_instances(**launch)["Instances"][0]["InstanceType"] == "m5.large"


# -- a region the account does not have --------------------------------------------------------

def test_a_region_outside_the_scenario_is_an_auth_failure_not_a_server_error(emulator):
    import boto3
    from botocore.config import Config

    # The default scenario holds every real region (world: true), so a name no cloud has.
    far = boto3.client("ec2", region_name="ap-nowhere-7", endpoint_url=emulator.endpoint_url,
                       config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as err:
        far.describe_instances()
    assert err.value.response["Error"]["Code"] == "AuthFailure"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert emulator.calls_of("DescribeInstances")[-1]["code"] == "AuthFailure"
