"""Hostile faults at the wire: each kind arrives through the real SDK as that SDK's own exception.

aliyunsdkcore turns any transport failure (reset, dropped connection, read timeout) into
ClientException SDK.HttpError; botocore raises ConnectionClosedError for a dropped or reset
connection, ReadTimeoutError for a read timeout and EndpointConnectionError when nothing listens.
`lost` really does the work: what it created is visible afterwards.
"""

from __future__ import annotations

import json

import boto3
import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from aws_fixtures import *  # noqa: F401,F403
from aws_fixtures import SPOT_ID
from aliyun_fixtures import DOOMED, REGION, aliyun_emulator, ecs_call, no_proxy_env, sdk_client, small_scenario  # noqa: F401,E402
from responder.sandbox.scenario import ScenarioError, load_scenario

AWS_REGION = "us-east-2"


aliyun_call = ecs_call


def aliyun_images(client) -> list[dict]:
    # Ours only: without ImageOwnerAlias ECS also lists the public images.
    return aliyun_call(client, "DescribeImages", Status="Creating,Available,CreateFailed",
                       ImageOwnerAlias="self")["Images"]["Image"]


def ec2_for(emu, read_timeout: float = 10):
    return boto3.client("ec2", region_name=AWS_REGION, endpoint_url=emu.endpoint_url,
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=2))


def with_faults(scenario: dict, *rules: dict, **top) -> dict:
    scenario["faults"] = list(rules)
    scenario.update(top)
    return scenario


# -- Aliyun ------------------------------------------------------------------------------------

def test_an_aliyun_reset_is_an_sdk_http_error_and_creates_nothing(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(with_faults(small_scenario, {"action": "CreateImage", "kind": "reset"}))
    client = sdk_client(emu)
    with pytest.raises(ClientException) as err:
        aliyun_call(client, "CreateImage", InstanceId=DOOMED, ClientToken="reset-1")
    assert err.value.get_error_code() == "SDK.HttpError"
    assert aliyun_images(client) == []
    assert [(c["status"], c.get("fault")) for c in emu.calls_of("CreateImage")] == [(0, "reset")]


def test_an_aliyun_timeout_holds_the_call_past_the_sdk_read_timeout(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(with_faults(small_scenario, {"action": "DescribeInstances", "kind": "timeout", "seconds": 3}))
    client = AcsClient("sandbox-key", "sandbox-secret", REGION, auto_retry=False, timeout=1, connect_timeout=2)
    client.add_endpoint(REGION, "Ecs", emu.endpoint)  # read timeout 1 s, shorter than the 3 s hold
    with pytest.raises(ClientException) as err:
        aliyun_call(client, "DescribeInstances")
    assert err.value.get_error_code() == "SDK.HttpError" and "timed out" in err.value.get_error_msg().lower()


def test_an_aliyun_lost_answer_still_created_the_image(aliyun_emulator, small_scenario):
    emu = aliyun_emulator(with_faults(small_scenario, {"action": "CreateImage", "kind": "lost"}))
    client = sdk_client(emu)
    with pytest.raises(ClientException) as err:
        aliyun_call(client, "CreateImage", InstanceId=DOOMED, ImageName="rescue-1", ClientToken="lost-1")
    assert err.value.get_error_code() == "SDK.HttpError"
    images = aliyun_images(client)
    assert [i["ImageName"] for i in images] == ["rescue-1"]
    # The retry with the same token learns the id it never got, and creates nothing more.
    again = aliyun_call(client, "CreateImage", InstanceId=DOOMED, ImageName="rescue-1", ClientToken="lost-1")
    assert again["ImageId"] == images[0]["ImageId"] and len(aliyun_images(client)) == 1


@pytest.mark.parametrize("rule,status,code", [
    ({"action": "DescribeInstances"}, 500, "InternalError"),
    ({"action": "DescribeInstances", "code": "ServiceUnavailable"}, 503, "ServiceUnavailable"),
    ({"action": "DescribeInstances", "code": "InternalError", "kind": "error"}, 500, "InternalError"),
])
def test_aliyun_error_faults_default_to_the_status_ecs_uses(aliyun_emulator, small_scenario, rule, status, code):
    client = sdk_client(aliyun_emulator(with_faults(small_scenario, rule)))
    with pytest.raises(ServerException) as err:
        aliyun_call(client, "DescribeInstances")
    assert (err.value.get_http_status(), err.value.get_error_code()) == (status, code)


def _aliyun_pattern(aliyun_emulator, scenario: dict, seed: int, calls: int = 30) -> list[bool]:
    client = sdk_client(aliyun_emulator(with_faults(scenario, {"action": "DescribeInstances", "rate": 0.3}, seed=seed)))
    failed = []
    for _ in range(calls):
        try:
            aliyun_call(client, "DescribeInstances")
            failed.append(False)
        except ServerException:
            failed.append(True)
    return failed


def test_a_rate_fault_fails_some_calls_and_the_same_seed_fails_the_same_ones(aliyun_emulator, small_scenario):
    import copy

    first = _aliyun_pattern(aliyun_emulator, copy.deepcopy(small_scenario), seed=7)
    second = _aliyun_pattern(aliyun_emulator, copy.deepcopy(small_scenario), seed=7)
    other = _aliyun_pattern(aliyun_emulator, copy.deepcopy(small_scenario), seed=8)
    assert first == second
    assert 0 < sum(first) < len(first)
    assert first != other


@pytest.mark.parametrize("rule,problem", [
    ({"action": "CreateImage", "kind": "explode"}, "kind must be one of"),
    ({"action": "CreateImage", "rate": 2}, "rate must be between 0 and 1"),
    ({"kind": "reset"}, "missing 'action'"),
])
def test_a_malformed_fault_rule_is_refused_with_its_field_named(small_scenario, rule, problem):
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(with_faults(small_scenario, rule))


# -- AWS ---------------------------------------------------------------------------------------

def test_an_aws_reset_is_connection_closed_and_launches_nothing(scenario_dict, make_emulator):
    emu = make_emulator(with_faults(scenario_dict, {"action": "CreateImage", "kind": "reset"}))
    ec2 = ec2_for(emu)
    with pytest.raises(ConnectionClosedError):
        ec2.create_image(InstanceId=SPOT_ID, Name="rescue-reset")
    assert ec2.describe_images(Owners=["self"])["Images"] == []


def test_an_aws_timeout_is_a_read_timeout(scenario_dict, make_emulator):
    emu = make_emulator(with_faults(scenario_dict, {"action": "DescribeInstances", "kind": "timeout", "seconds": 3}))
    with pytest.raises(ReadTimeoutError):
        ec2_for(emu, read_timeout=1).describe_instances(InstanceIds=[SPOT_ID])


def test_an_aws_lost_answer_still_launched_the_instance_and_the_token_replays_it(scenario_dict, make_emulator):
    emu = make_emulator(with_faults(scenario_dict, {"action": "RunInstances", "kind": "lost"}))
    ec2 = ec2_for(emu)
    image = ec2.describe_instances(InstanceIds=[SPOT_ID])["Reservations"][0]["Instances"][0]["ImageId"]
    launch = dict(ImageId=image, InstanceType="m5.large", MinCount=1, MaxCount=1,
                  SubnetId="subnet-0a1b2c3d4e5f60002", ClientToken="lost-launch-1")
    with pytest.raises(ConnectionClosedError):
        ec2.run_instances(**launch)
    running = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": ["subnet-0a1b2c3d4e5f60002"]},
                                              {"Name": "image-id", "Values": [image]}])
    ids = {i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]} - {"i-0b662ef9931388ba0"}
    assert len(ids) == 1
    again = ec2.run_instances(**launch)["Instances"]
    assert [i["InstanceId"] for i in again] == list(ids)


def test_an_aws_lost_create_image_is_visible_in_describe_images(scenario_dict, make_emulator):
    emu = make_emulator(with_faults(scenario_dict, {"action": "CreateImage", "kind": "lost"}))
    ec2 = ec2_for(emu)
    with pytest.raises(ConnectionClosedError):
        ec2.create_image(InstanceId=SPOT_ID, Name="rescue-lost")
    assert [i["Name"] for i in ec2.describe_images(Owners=["self"])["Images"]] == ["rescue-lost"]


def test_a_stopped_sandbox_is_an_endpoint_connection_error(scenario_dict, make_emulator):
    emu = make_emulator(scenario_dict)
    ec2 = ec2_for(emu)
    emu.stop()
    with pytest.raises(EndpointConnectionError):
        ec2.describe_instances()


@pytest.mark.parametrize("code,status", [
    (None, 500), ("InternalError", 500), ("Unavailable", 503), ("ServiceUnavailable", 503),
    ("RequestLimitExceeded", 503),
])
def test_aws_error_faults_default_to_the_status_ec2_uses(scenario_dict, make_emulator, code, status):
    rule = {"action": "DescribeInstances", **({"code": code} if code else {})}
    ec2 = ec2_for(make_emulator(with_faults(scenario_dict, rule)))
    with pytest.raises(ClientError) as err:
        ec2.describe_instances()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err.value.response["Error"]["Code"] == (code or "InternalError")


# -- the product facing them: a lost or reset answer is retried, and nothing is bought twice ------

def _flow(responder_factory, cloud: str, event: str, faults: list[dict]):
    from tests.conftest import event_bytes
    from tests.scenarios import scenario

    client, runner, box = responder_factory(scenario(cloud=cloud, faults=faults))
    answer = client.post("/events", data=event_bytes(event), content_type="application/octet-stream")
    assert answer.status_code in (200, 202), answer.get_json()
    return runner.run_to_end(answer.get_json()["task"]["id"], timeout=60), box


def test_aliyun_lost_create_image_and_run_instances_still_replace_exactly_once(responder_factory):
    task, box = _flow(responder_factory, "aliyun", "aliyun/cloudmonitor-interruption.json",
                      [{"action": "CreateImage", "kind": "lost"}, {"action": "RunInstances", "kind": "lost"},
                       {"action": "DescribeImages", "kind": "reset"}])
    assert task.status == "done", task.reason
    world = box.emulators["aliyun"].world
    images = [i for i in world.images.values() if i["instance"] == DOOMED]
    assert len(images) == 1
    assert [i["id"] for i in world.instances.values() if i.get("image") == images[0]["id"]] == task.record.launch.replacement_ids


@pytest.mark.parametrize("faults", [
    [{"action": "DescribeImages", "kind": "reset"}],
    [{"action": "CreateFleet", "kind": "lost"}, {"action": "RunInstances", "kind": "lost"}],
], ids=["reset-describe-images", "lost-launch"])
def test_aws_a_dropped_answer_is_retried_and_the_task_still_finishes_once(responder_factory, faults):
    task, box = _flow(responder_factory, "aws", "aws/spot-interruption-warning.json", faults)
    assert task.status == "done", task.reason
    assert len(task.record.launch.replacement_ids) == 1
