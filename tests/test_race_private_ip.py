"""RESPONDER_KEEP_PRIVATE_IP on both sandboxes, through the real SDKs: the replacement runs before
the release, and once the original is gone its private IP becomes a secondary address of the
replacement's primary interface — only in the original's vswitch / subnet, never while another
instance holds the address."""

from __future__ import annotations

import boto3
import pytest

from race_fixtures import Race, shape, sold_out
from responder.errors import CloudError
from responder.settings import Settings

WEB = "i-bp1web000000000000a"  # cn-hangzhou-i
API = "i-0aaa00000000000a2"  # us-east-2a, terminated after two minutes
DB = "i-0aaa00000000000a3"  # us-east-2b, stopped after two minutes


@pytest.fixture
def race(tmp_path):
    started = []

    def start(scenario, **changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            launch_from="source-image", **changes)
        one = Race(scenario, settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def test_aliyun_the_private_ip_follows_as_a_secondary_address_after_the_release(race):
    r = race(shape("aliyun", "web"), keep_private_ip=True)
    world = r.emulator.world
    original_ip = world.instances[WEB]["private_ip"]
    (task,) = r.run([WEB])
    assert task.status == "done", task.reason
    replacement = world.instances[task.record.launch.replacement_ids[0]]
    assert replacement["subnet"] == "vsw-bp1xgvok3myac6ctry030" and replacement["private_ip"] != original_ip
    assert replacement["secondary_ips"] == [original_ip]
    (assign,) = r.emulator.calls_of("AssignPrivateIpAddresses")
    assert assign["t"] >= r.gone_at(WEB) > task.record.timings["running"]  # zero gap, the address after
    assert assign["params"]["ClientToken"] and f"private IP {original_ip} moved" in task.reason


def test_aliyun_an_address_still_in_use_is_refused(race):
    r = race(shape("aliyun", "web", "api"))
    world, cloud = r.emulator.world, r.box.clouds["aliyun"]
    with pytest.raises(CloudError) as refused:
        cloud.assign_private_ip("cn-hangzhou", "i-bp1api000000000000a", world.instances[WEB]["private_ip"], "t-1")
    assert refused.value.code == "InvalidPrivateIpAddress.Duplicated"
    assert "secondary_ips" not in world.instances["i-bp1api000000000000a"]


def test_aliyun_a_replacement_in_another_vswitch_keeps_only_its_own_address(race):
    r = race(sold_out(shape("aliyun", "web"), "cn-hangzhou-i"), keep_private_ip=True)
    (task,) = r.run([WEB])
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.zone == "cn-hangzhou-j"
    assert not r.emulator.calls_of("AssignPrivateIpAddresses") and not task.record.race.private_ip_moved


def test_aliyun_the_setting_is_off_by_default(race):
    r = race(shape("aliyun", "web"))
    (task,) = r.run([WEB])
    assert task.status == "done" and not r.emulator.calls_of("AssignPrivateIpAddresses")


def primary_addresses(r: Race, instance_id: str) -> list[str]:
    client = boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                          aws_access_key_id="sandbox-key", aws_secret_access_key="sandbox-secret")
    raw = client.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    eni = next(n for n in raw["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 0)
    return [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"]]


def test_aws_the_private_ip_of_a_terminated_original_follows(race):
    r = race(shape("aws", "api", "web"), keep_private_ip=True)
    original_ip = primary_addresses(r, API)[0]
    with pytest.raises(CloudError) as refused:  # while the original holds it, EC2 refuses
        r.box.clouds["aws"].assign_private_ip(r.region, "i-0aaa00000000000a1", original_ip)
    assert refused.value.code == "InvalidIPAddress.InUse"
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    assert original_ip in primary_addresses(r, replacement)[1:]  # a secondary address
    assert r.emulator.calls_of("AssignPrivateIpAddresses")[-1]["t"] >= r.gone_at(API)
    assert task.record.timings["running"] <= r.gone_at(API)


def test_aws_a_stopped_original_keeps_its_private_ip(race):
    r = race(shape("aws", "db"), keep_private_ip=True)
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.subnet_id == task.record.source.subnet_id
    assert not r.emulator.calls_of("AssignPrivateIpAddresses") and not task.record.race.private_ip_moved
