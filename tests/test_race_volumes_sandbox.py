"""The sandboxes' disk rules the race relies on, through the real SDKs: EC2 keeps a volume whose
DeleteOnTermination was set false and deletes the others at termination, refuses AttachVolume
across zones, on a volume in use or at a device in use, and makes no volume from a pending
snapshot; ECS detaches only a data disk from its own instance."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from race_fixtures import shape, with_data_disk
from responder.errors import CloudError
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock

API, DB = "i-0aaa00000000000a2", "i-0aaa00000000000a3"  # us-east-2a (terminated), us-east-2b (stopped)
BATCH = "i-bp1batch00000000000a"


@pytest.fixture
def ec2():
    clock = ManualClock()
    scenario = with_data_disk(shape("aws", "api", "db"), "api", {"category": "gp3", "size": 20})
    box = start_sandbox(scenario, only=("aws",), clock=clock)
    client = boto3.client("ec2", region_name="us-east-2", endpoint_url=box.emulators["aws"].endpoint_url,
                          aws_access_key_id="sandbox-admin", aws_secret_access_key="sandbox-secret")
    yield client, clock
    box.stop()


def volumes_of(client, instance_id):
    found = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    return {v["Attachments"][0]["Device"]: v for v in found}


def code_of(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


def test_termination_keeps_only_the_volumes_set_to_outlive_the_instance(ec2):
    client, clock = ec2
    before = volumes_of(client, API)
    assert before["/dev/sdf"]["Attachments"][0]["DeleteOnTermination"] is True
    client.modify_instance_attribute(InstanceId=API, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdf", "Ebs": {"DeleteOnTermination": False}}])
    assert volumes_of(client, API)["/dev/sdf"]["Attachments"][0]["DeleteOnTermination"] is False
    clock.advance(121)  # the two minutes are up: terminated
    left = {v["VolumeId"]: v["State"] for v in client.describe_volumes()["Volumes"]}
    assert left.get(before["/dev/sdf"]["VolumeId"]) == "available"
    assert before["/dev/sda1"]["VolumeId"] not in left  # the root went with the instance
    assert code_of(lambda: client.modify_instance_attribute(InstanceId=DB, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdz", "Ebs": {"DeleteOnTermination": False}}])) == "InvalidInstanceAttributeValue"


def test_attach_volume_needs_an_available_volume_in_the_zone_at_a_free_device(ec2):
    client, clock = ec2
    db_data = volumes_of(client, DB)["/dev/sdf"]["VolumeId"]
    assert code_of(lambda: client.attach_volume(VolumeId=db_data, InstanceId=API, Device="/dev/sdg")) == "VolumeInUse"
    clock.advance(121)  # DB stopped: it keeps its volumes attached
    assert set(volumes_of(client, DB)) == {"/dev/sda1", "/dev/sdf"}
    client.detach_volume(VolumeId=db_data, InstanceId=DB)
    elsewhere = client.create_volume(AvailabilityZone="us-east-2a", Size=5)["VolumeId"]
    assert code_of(lambda: client.attach_volume(VolumeId=elsewhere, InstanceId=DB, Device="/dev/sdg")) == \
        "InvalidVolume.ZoneMismatch"
    assert code_of(lambda: client.attach_volume(VolumeId=db_data, InstanceId=DB, Device="/dev/sda1")) == \
        "InvalidParameterValue"
    assert code_of(lambda: client.attach_volume(VolumeId=elsewhere, InstanceId=API, Device="/dev/sdg")) == \
        "IncorrectState"  # API was terminated
    client.attach_volume(VolumeId=db_data, InstanceId=DB, Device="/dev/sdf")


def test_an_ami_names_a_snapshot_per_volume_and_a_pending_one_makes_no_volume(ec2):
    client, clock = ec2
    image_id = client.create_image(InstanceId=API, Name="race-api", NoReboot=True)["ImageId"]
    mappings = {m["DeviceName"]: m["Ebs"] for m in client.describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"]}
    assert {d: m["VolumeSize"] for d, m in mappings.items()} == {"/dev/sda1": 30, "/dev/sdf": 20}
    snapshot = mappings["/dev/sdf"]["SnapshotId"]
    assert client.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "pending"
    assert code_of(lambda: client.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snapshot)) == "IncorrectState"
    clock.advance(200)  # 20 s + 30 GiB x 6 s: the AMI and its snapshots complete
    assert client.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"
    made = client.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snapshot, ClientToken="restore-1")
    again = client.create_volume(AvailabilityZone="us-east-2b", SnapshotId=snapshot, ClientToken="restore-1")
    assert made["VolumeId"] == again["VolumeId"] and made["Size"] == 20


def test_ecs_detaches_a_data_disk_from_its_own_instance_only():
    clock = ManualClock()
    box = start_sandbox(shape("aliyun", "batch"), only=("aliyun",), clock=clock)
    try:
        cloud, world = box.clouds["aliyun"], box.emulators["aliyun"].world
        disks = {d.kind + d.disk_id[-2:]: d for d in cloud.describe_disks("cn-hangzhou", instance_id=BATCH)}
        data = next(d for d in disks.values() if d.kind == "data")
        system = next(d for d in disks.values() if d.kind == "system")
        with pytest.raises(CloudError):
            cloud.detach_disk("cn-hangzhou", system.disk_id, BATCH)
        cloud.detach_disk("cn-hangzhou", data.disk_id, BATCH)
        assert world.disks[data.disk_id]["instance"] == ""
        (seen,) = cloud.describe_disks("cn-hangzhou", disk_ids=(data.disk_id,))
        assert seen.status == "available" and not seen.instance_id
        with pytest.raises(CloudError):
            cloud.detach_disk("cn-hangzhou", data.disk_id, BATCH)  # not attached any more
    finally:
        box.stop()
