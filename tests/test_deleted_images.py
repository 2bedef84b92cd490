"""A launch image that goes away (`deleted_images:`, DeregisterImage): EC2 refuses RunInstances and
CreateFleet from a deregistered AMI with InvalidAMIID.NotFound and no longer lists it; ECS refuses
RunInstances with InvalidImageId.NotFound and no longer lists it. Through boto3 and the ECS SDK on a
ManualClock."""

from __future__ import annotations

import copy

import boto3
import pytest
import yaml
from aliyun_fixtures import SMALL, VSW_J, ecs_call, no_proxy_env, sdk_client  # noqa: F401
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aws_fixtures import REGION, aws_env  # noqa: F401
from botocore.config import Config
from botocore.exceptions import ClientError

from responder.sandbox.aliyun_ecs import AliyunEcsEmulator
from responder.sandbox.aws_ec2 import AwsEc2Emulator
from responder.sandbox.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from responder.sandbox.stock import ManualClock

SOURCE_AMI = "ami-0a1b2c3d4e5f60777"
SOURCE_IMAGE = "m-bp1sourceimage000001"


@pytest.fixture
def ec2_at(aws_env):  # noqa: F811
    started = []

    def start(deleted):
        data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
        data.pop("world", None)
        data["regions"] = [r for r in data["regions"] if r["cloud"] == "aws"]
        data["regions"][0]["instances"][0]["image"] = SOURCE_AMI  # the spot sample's launch image
        data["deleted_images"] = deleted
        clock = ManualClock()
        emu = AwsEc2Emulator(load_scenario(data), clock=clock).start()
        started.append(emu)
        client = boto3.client("ec2", region_name=REGION, endpoint_url=emu.endpoint_url, aws_access_key_id="testing",
                              aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))
        return clock, client

    yield start
    for emu in started:
        emu.stop()


def _launch(ec2, image: str):
    return ec2.run_instances(ImageId=image, InstanceType="m6i.large", MinCount=1, MaxCount=1,
                             SubnetId="subnet-0a1b2c3d4e5f60002")


def _refused(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response


def test_ec2_refuses_a_launch_from_an_ami_deregistered_at_its_time(ec2_at):
    clock, ec2 = ec2_at([{"id": SOURCE_AMI, "at": 30}])
    assert [i["ImageId"] for i in ec2.describe_images(ImageIds=[SOURCE_AMI])["Images"]] == [SOURCE_AMI]
    _launch(ec2, SOURCE_AMI)  # still registered
    clock.advance(30)
    refused = _refused(lambda: _launch(ec2, SOURCE_AMI))
    assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidAMIID.NotFound", 400)
    assert SOURCE_AMI in refused["Error"]["Message"]
    assert ec2.describe_images(ImageIds=[SOURCE_AMI])["Images"] == []  # not listed, even by its id
    assert SOURCE_AMI not in [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]


def test_ec2_refuses_a_fleet_from_a_deregistered_ami_through_its_template(ec2_at):
    _, ec2 = ec2_at([{"id": SOURCE_AMI}])  # gone from the start
    template = ec2.create_launch_template(LaunchTemplateName="lt-gone", LaunchTemplateData={
        "ImageId": SOURCE_AMI, "InstanceType": "m6i.large"})["LaunchTemplate"]["LaunchTemplateId"]
    refused = _refused(lambda: ec2.create_fleet(
        Type="instant", TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        LaunchTemplateConfigs=[{"LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"},
                                "Overrides": [{"SubnetId": "subnet-0a1b2c3d4e5f60002"}]}]))
    assert refused["Error"]["Code"] == "InvalidAMIID.NotFound"
    refused = _refused(lambda: ec2.run_instances(LaunchTemplate={"LaunchTemplateId": template}, MinCount=1, MaxCount=1,
                                                 SubnetId="subnet-0a1b2c3d4e5f60002"))
    assert refused["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_ec2_refuses_a_launch_after_deregister_image(ec2_at):
    _, ec2 = ec2_at([])
    own = ec2.create_image(InstanceId="i-1234567890abcdef0", Name="mine")["ImageId"]
    owner = boto3.client("ec2", region_name=REGION, endpoint_url=ec2.meta.endpoint_url,
                         aws_access_key_id="sandbox-admin", aws_secret_access_key="x")
    owner.deregister_image(ImageId=own)  # the account's owner deletes it (the responder may not)
    assert _refused(lambda: _launch(ec2, own))["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_ecs_refuses_a_launch_from_an_image_deleted_at_its_time(no_proxy_env):  # noqa: F811
    data = copy.deepcopy(SMALL)
    data["regions"][0]["images"] = [SOURCE_IMAGE]
    data["deleted_images"] = [{"id": SOURCE_IMAGE, "at": 60}]
    clock = ManualClock(0.0)
    emu = AliyunEcsEmulator(load_scenario(data), clock=clock).start()
    try:
        client = sdk_client(emu)

        def launch():
            return ecs_call(client, "RunInstances", ImageId=SOURCE_IMAGE, InstanceType="ecs.g6.large",
                            VSwitchId=VSW_J, SecurityGroupId="sg-bp16q7p8yafqaure63n4", DryRun="true")

        def listed():
            return [i["ImageId"] for i in ecs_call(client, "DescribeImages", ImageId=SOURCE_IMAGE)["Images"]["Image"]]

        with pytest.raises(ServerException) as before:
            launch()
        assert before.value.get_error_code() == "DryRunOperation"  # the image passed every check
        assert listed() == [SOURCE_IMAGE]
        clock.advance(60)
        with pytest.raises(ServerException) as after:
            launch()
        assert (after.value.get_error_code(), after.value.get_http_status()) == ("InvalidImageId.NotFound", 404)
        assert listed() == []
    finally:
        emu.stop()


@pytest.mark.parametrize("value, message", [
    ({"id": "ami-1"}, "deleted_images: must be a list"),
    ([{"at": 5}], r"deleted_images\[0\]: missing 'id'"),
    ([{"id": "ami-1", "at": -1}], r"deleted_images\[0\].at: must be a number"),
])
def test_a_bad_deleted_images_value_is_named(value, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario(dict(copy.deepcopy(SMALL), deleted_images=value))
