"""The emulators enforce the documented rules of the swap, through the real SDKs: ECS StopInstance /
StartInstance / ReplaceSystemDisk (aliyun_ecs_swap.py) and EC2 CreateReplaceRootVolumeTask
(aws_swap.py)."""

from __future__ import annotations

import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from race_fixtures import Race, shape, sold_out
from responder.errors import CloudError
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.settings import Settings

WEB = "i-bp1web000000000000a"  # ecs.g7.large spot in cn-hangzhou-i
API_AWS = "i-0aaa00000000000a2"


@pytest.fixture
def box(tmp_path):
    started = []

    def start(cloud: str, app: str, scenario=None):
        settings = Settings(database_url="sqlite://", background_ticker=False)
        one = Race(scenario or shape(cloud, app), settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def ecs(r: Race, action: str, **params):
    return r.box.clouds["aliyun"]._call(r.region, action, "a test", params)


def status(r: Race, instance_id: str) -> str:
    return r.box.clouds["aliyun"].instance_states(r.region, [instance_id])[instance_id]


def test_a_spot_instance_stopped_without_keep_charging_may_not_start_again(box):
    r = box("aliyun", "web", scenario=sold_out(shape("aliyun", "web"), "cn-hangzhou-i"))
    inst = r.emulator.world.instances[WEB]
    ecs(r, "StopInstance", InstanceId=WEB)  # no StoppedMode: the economical mode gives the capacity back
    r.clock.advance(6)
    assert status(r, WEB) == "Stopped"
    assert r.emulator.world.stock.take(inst["type"], "cn-hangzhou-i", "spot", 1)  # someone else buys it
    with pytest.raises(CloudError) as refused:
        ecs(r, "StartInstance", InstanceId=WEB)
    assert refused.value.code == "OperationDenied.NoStock"


def test_keep_charging_keeps_the_capacity_through_a_stop(box):
    r = box("aliyun", "web", scenario=sold_out(shape("aliyun", "web"), "cn-hangzhou-i"))
    ecs(r, "StopInstance", InstanceId=WEB, StoppedMode="KeepCharging")
    assert status(r, WEB) == "Stopping"
    r.clock.advance(6)
    ecs(r, "StartInstance", InstanceId=WEB)
    r.clock.advance(60)
    assert status(r, WEB) == "Running"


def test_replace_system_disk_needs_a_stopped_instance_and_answers_a_repeat_with_the_first_disk(box):
    r = box("aliyun", "web")
    with pytest.raises(CloudError) as refused:
        ecs(r, "ReplaceSystemDisk", InstanceId=WEB, ImageId="m-bp1base00000000000000", ClientToken="swap-1")
    assert refused.value.code == "IncorrectInstanceStatus"
    ecs(r, "StopInstance", InstanceId=WEB, StoppedMode="KeepCharging")
    r.clock.advance(6)
    first = ecs(r, "ReplaceSystemDisk", InstanceId=WEB, ImageId="m-bp1base00000000000000", ClientToken="swap-1")
    again = ecs(r, "ReplaceSystemDisk", InstanceId=WEB, ImageId="m-bp1base00000000000000", ClientToken="swap-1")
    assert first["DiskId"] == again["DiskId"]
    system = ecs(r, "DescribeDisks", InstanceId=WEB, DiskType="system")["Disks"]["Disk"]
    assert [d["DiskId"] for d in system] == [first["DiskId"]] and system[0]["ImageId"] == "m-bp1base00000000000000"
    assert "d-" + WEB[2:] not in r.emulator.world.disks  # the old system disk was released


def ec2(r: Race, key: str = "sandbox-key"):
    return boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                        aws_access_key_id=key, aws_secret_access_key="sandbox-secret")


def test_a_root_volume_is_replaced_only_on_a_running_instance_once_per_token(box):
    r = box("aws", "api")
    client = ec2(r)
    image = client.describe_instances(InstanceIds=[API_AWS])["Reservations"][0]["Instances"][0]["ImageId"]
    first = client.create_replace_root_volume_task(InstanceId=API_AWS, ImageId=image, ClientToken="swap-1")
    again = client.create_replace_root_volume_task(InstanceId=API_AWS, ImageId=image, ClientToken="swap-1")
    task_id = first["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"]
    assert again["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"] == task_id
    with pytest.raises(ClientError) as busy:  # another token while one runs
        client.create_replace_root_volume_task(InstanceId=API_AWS, ImageId=image, ClientToken="swap-2")
    assert busy.value.response["Error"]["Code"] == "IncorrectState"
    seen = client.describe_replace_root_volume_tasks(Filters=[{"Name": "instance-id", "Values": [API_AWS]}])
    assert [t["TaskState"] for t in seen["ReplaceRootVolumeTasks"]] == ["pending"]
    r.clock.advance(31)
    done = client.describe_replace_root_volume_tasks(ReplaceRootVolumeTaskIds=[task_id])["ReplaceRootVolumeTasks"]
    assert done[0]["TaskState"] == "succeeded" and done[0]["CompleteTime"]
    ec2(r, SANDBOX_ADMIN_KEY).stop_instances(InstanceIds=[API_AWS])
    with pytest.raises(ClientError) as stopped:
        client.create_replace_root_volume_task(InstanceId=API_AWS, ImageId=image, ClientToken="swap-3")
    assert stopped.value.response["Error"]["Code"] == "IncorrectState"


def test_root_volume_tasks_asked_side_by_side_start_once_per_instance_and_always_answer(box):
    """A wave's swaps run side by side: concurrent creates for one instance with different tokens
    start exactly one task (the rest IncorrectState), and describes made meanwhile always answer."""
    r = box("aws", "api")
    image = ec2(r).describe_instances(InstanceIds=[API_AWS])["Reservations"][0]["Instances"][0]["ImageId"]
    start = threading.Barrier(16)
    outcomes: list[str] = []

    def create(n: int) -> None:
        client = ec2(r)
        start.wait()
        try:
            client.create_replace_root_volume_task(InstanceId=API_AWS, ImageId=image, ClientToken=f"side-{n}")
            outcomes.append("started")
        except ClientError as refused:
            outcomes.append(refused.response["Error"]["Code"])

    def describe(_: int) -> None:
        client = ec2(r)
        start.wait()
        for _ in range(5):
            client.describe_replace_root_volume_tasks(Filters=[{"Name": "instance-id", "Values": [API_AWS]}])
            outcomes.append("described")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    threads += [threading.Thread(target=describe, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(outcomes)) == ["IncorrectState", "described", "started"]
    assert outcomes.count("started") == 1 and outcomes.count("IncorrectState") == 7
    assert outcomes.count("described") == 40


def test_replace_system_disk_refuses_an_image_of_another_architecture_or_os(box):
    r = box("aliyun", "web")
    public = ecs(r, "DescribeImages", ImageOwnerAlias="system", Architecture="x86_64", OSType="linux")["Images"]["Image"]
    assert public and {i["ImageOwnerAlias"] for i in public} == {"system"}
    ecs(r, "StopInstance", InstanceId=WEB, StoppedMode="KeepCharging")
    r.clock.advance(6)
    for image, code in (("aliyun_3_arm64_20G_alibase_20261101.vhd", "ImageNotSupportInstanceType"),
                        ("win2022_21H2_x64_dtc_en-us_40G_alibase_20261101.vhd", "InvalidParameter.OSType")):
        with pytest.raises(CloudError) as refused:
            ecs(r, "ReplaceSystemDisk", InstanceId=WEB, ImageId=image, ClientToken=f"swap-{code}")
        assert refused.value.code == code
    ecs(r, "ReplaceSystemDisk", InstanceId=WEB, ImageId=public[0]["ImageId"], ClientToken="swap-ok")


def test_a_root_volume_is_not_replaced_from_an_ami_of_another_billing_or_platform(box):
    r = box("aws", "api")
    backend = r.emulator.backends[r.region]
    image = ec2(r).describe_instances(InstanceIds=[API_AWS])["Reservations"][0]["Instances"][0]["ImageId"]
    flipped = None if backend.amis[image].platform == "windows" else "windows"
    for change, word in (({"product_codes": {"marketplace0code"}}, "product code"), ({"platform": flipped}, "platform"),
                         ({"virtualization_type": "paravirtual"}, "virtualization type")):
        ami = backend.register_image(name=f"other-{word}")
        other = ami.id
        ami.architecture, ami.virtualization_type, ami.platform = (backend.amis[image].architecture, "hvm",
                                                                   backend.amis[image].platform)
        for key, value in change.items():
            setattr(ami, key, value)
        with pytest.raises(ClientError) as refused:
            ec2(r).create_replace_root_volume_task(InstanceId=API_AWS, ImageId=other, ClientToken=f"swap-{word}")
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert word in refused.value.response["Error"]["Message"]
