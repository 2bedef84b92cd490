"""A Spot Instance whose interruption behaviour is hibernate stops as its notice is given (no two-minute
warning, EC2 user guide "Spot Instance interruption notices"); stop and terminate keep their two
minutes. Through boto3 on a ManualClock."""

from __future__ import annotations

import boto3
import pytest
import yaml
from botocore.config import Config

from aws_fixtures import REGION, SPOT_ID, aws_env  # noqa: F401  (aws_env: a fixture, used by name)
from responder.sandbox.aws_ec2 import AwsEc2Emulator
from responder.sandbox.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from responder.sandbox.stock import ManualClock


@pytest.fixture
def spot_box(aws_env):  # noqa: F811  (the imported fixture)
    started = []

    def start(**instance):
        data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
        data.pop("world", None)
        data["regions"] = [r for r in data["regions"] if r["cloud"] == "aws"]
        data["regions"][0]["instances"][0].update(instance, notice_at=10)
        clock = ManualClock()
        emu = AwsEc2Emulator(load_scenario(data), clock=clock).start()
        started.append(emu)
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emu.endpoint_url, aws_access_key_id="testing",
                           aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))

        def state() -> str:
            found = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]
            return found["State"]["Name"]

        return clock, state

    yield start
    for emu in started:
        emu.stop()


@pytest.mark.parametrize("instance", [
    {"spot_request_state": "marked-for-hibernation"},
    {"spot_request_state": "marked-for-termination", "interruption_behavior": "hibernate"},
])
def test_a_hibernating_spot_instance_stops_as_its_notice_is_given(spot_box, instance):
    clock, state = spot_box(**instance)
    clock.advance(9.5)
    assert state() == "running"  # before its notice
    clock.advance(0.5)
    assert state() == "stopped"  # at the notice: no two minutes


@pytest.mark.parametrize("instance, after", [
    ({"spot_request_state": "marked-for-stop"}, "stopped"),
    ({"spot_request_state": "marked-for-termination"}, "terminated"),
    ({"spot_request_state": "marked-for-termination", "interruption_behavior": "stop"}, "stopped"),
])
def test_stop_and_terminate_keep_their_two_minutes(spot_box, instance, after):
    clock, state = spot_box(**instance)
    clock.advance(10 + 119)
    assert state() == "running"
    clock.advance(1)
    assert state() == after


def test_an_unknown_interruption_behavior_is_named():
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    aws = next(i for i, r in enumerate(data["regions"]) if r["cloud"] == "aws")
    data["regions"][aws]["instances"][0]["interruption_behavior"] = "sleep"
    with pytest.raises(ScenarioError, match=rf"regions\[{aws}\].instances\[0\].interruption_behavior: must be"):
        load_scenario(data)
