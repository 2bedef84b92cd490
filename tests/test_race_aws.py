"""The race on the EC2 sandbox, through boto3, on a ManualClock: the Spot Instance is stopped or
terminated 120 s after its warning, an AMI stays pending until its volumes' snapshots complete
(also after the volumes are gone), a launch takes 45 s to run."""

from __future__ import annotations

import boto3
import pytest

from race_fixtures import Race, shape, sold_out, with_data_disk
from responder.settings import Settings

WEB = "i-0aaa00000000000a1"  # 8 GiB gp3 root
API = "i-0aaa00000000000a2"  # 30 GiB gp3 root
DB = "i-0aaa00000000000a3"  # marked-for-stop; 50 GiB root + 200 GiB data volume


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, scenario=None, **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(scenario or shape("aws", *apps), settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def ec2(r: Race):
    return boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                        aws_access_key_id="sandbox-key", aws_secret_access_key="sandbox-secret")


def test_the_fresh_ami_completes_after_the_instance_is_terminated(race):
    r = race("api", launch_from="fresh-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    assert r.gone_at(API) == 120.0
    state = ec2(r).describe_instances(InstanceIds=[API])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    assert task.record.timings["image_available"] >= 200.0  # 20 s + 30 GiB x 6 s: a first, full snapshot
    assert task.record.timings["running"] > r.gone_at(API)  # today's flow loses the race on AWS


def test_a_small_root_volume_lets_the_fresh_ami_win_the_race(race):
    r = race("web", launch_from="fresh-image")
    (task,) = r.run([WEB])
    assert task.status == "done", task.reason
    assert task.record.timings["running"] <= r.gone_at(WEB) == 120.0


def test_source_image_runs_the_replacement_before_the_two_minutes_are_up(race):
    r = race("api", launch_from="source-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    assert task.record.timings["running"] <= r.gone_at(API)
    assert task.record.image.available  # the fresh AMI is still made, for the data


def test_auto_launches_at_once_when_the_ami_cannot_beat_the_warning(race):
    r = race("db")
    (task,) = r.run([DB])
    assert task.record.race.policy == "source-image" and "would end after the release" in task.record.race.why
    # Nothing observed here yet: the harsh prior, and the 200 GiB data volume decides.
    assert task.record.race.image_estimate_s == pytest.approx(60 + 200 * 1024 / 30, abs=0.1)
    assert task.record.race.image_belief.source == "prior"
    assert task.status == "done" and task.record.timings["running"] <= r.gone_at(DB)


def billing_volumes(r: Race) -> list[str]:
    """Volumes left `available` (detached, billing): none of the scenario's own were detached."""
    return sorted(v["VolumeId"] for v in ec2(r).describe_volumes()["Volumes"] if v["State"] == "available")


def test_instance_action_stop_keeps_the_volumes_and_the_data_volume_follows(race):
    r = race("db", launch_from="source-image")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    client = ec2(r)
    state = client.describe_instances(InstanceIds=[DB])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "stopped"
    kept = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [DB]}])["Volumes"]
    assert [v["Size"] for v in kept] == [50]  # the root stays with the stopped original
    replacement = task.record.launch.replacement_ids[0]
    moved = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [replacement]}])["Volumes"]
    data = next(v for v in moved if v["Size"] == 200)
    assert data["Attachments"][0]["Device"] == "/dev/sdf"
    assert [d.moved for d in task.record.race.disks if d.kind == "data"] == ["reattached"]
    calls = r.actions()
    assert calls.index("DetachVolume") < calls.index("AttachVolume")  # a stopped instance still held it
    assert r.emulator.calls_of("DetachVolume")[0]["t"] >= r.gone_at(DB)
    assert billing_volumes(r) == []


def test_a_stopped_original_in_another_zone_keeps_its_volume_and_the_data_is_restored(race):
    r = race(scenario=sold_out(shape("aws", "db"), "us-east-2b"), launch_from="source-image")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.zone == "us-east-2a"
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert data.moved == "restored" and data.settled == "follows-instance"
    held = volumes_of_instance(r, DB)
    assert held["/dev/sdf"]["VolumeId"] == data.disk_id  # the stopped original keeps it, as it had it
    assert held["/dev/sdf"]["Attachments"][0]["DeleteOnTermination"] is True
    assert not r.emulator.calls_of("DetachVolume") and billing_volumes(r) == []


def volumes_of_instance(r: Race, instance_id: str) -> dict:
    found = ec2(r).describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    return {v["Attachments"][0]["Device"]: v for v in found}


def terminated_with_data():
    return with_data_disk(shape("aws", "api"), "api", {"category": "gp3", "size": 20})


def test_a_data_volume_kept_on_receipt_is_reattached_after_termination(race):
    r = race(scenario=terminated_with_data(), launch_from="source-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    data = next(d for d in task.record.race.disks if d.kind == "data")
    modify = r.emulator.calls_of("ModifyInstanceAttribute")[0]
    assert modify["params"]["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] == "false"
    assert modify["t"] < 1.0  # on receipt, long before the two minutes are up
    assert data.was_deleted_with_instance and data.moved == data.settled == "reattached"
    volume = ec2(r).describe_volumes(VolumeIds=[data.disk_id])["Volumes"][0]
    assert volume["Attachments"][0]["InstanceId"] == task.record.launch.replacement_ids[0]
    assert volume["Attachments"][0]["DeleteOnTermination"] is True  # as it was on the original
    assert r.emulator.calls_of("AttachVolume")[0]["t"] >= r.gone_at(API)
    assert billing_volumes(r) == []


def test_without_protection_the_data_volume_goes_with_the_instance_and_is_restored(race):
    # Harsh control: DeleteOnTermination stays true, EC2 deletes the volume at termination; the
    # data still reaches the replacement, from the fresh AMI's snapshot.
    r = race(scenario=terminated_with_data(), launch_from="auto", protect_on_receipt=False)
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    assert task.record.race.policy == "source-image"  # 200 s of snapshot do not fit in 120
    data = next(d for d in task.record.race.disks if d.kind == "data")
    # nothing kept on the original; the restored volume goes with the replacement as the original's did
    modified = r.emulator.calls_of("ModifyInstanceAttribute")
    assert [c["params"]["InstanceId"] for c in modified] == [task.record.launch.replacement_ids[0]]
    assert modified[0]["params"]["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] == "true"
    assert ec2(r).describe_volumes(Filters=[{"Name": "volume-id", "Values": [data.disk_id]}])["Volumes"] == []
    assert data.moved == "restored" and data.restored_id


def test_a_replacement_in_another_zone_gets_the_data_restored_from_the_fresh_snapshot(race):
    scenario = sold_out(terminated_with_data(), "us-east-2a")
    r = race(scenario=scenario, launch_from="source-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.zone == "us-east-2b"
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert data.moved == "restored" and data.snapshot_id
    create = r.emulator.calls_of("CreateVolume")
    assert {c["params"]["SnapshotId"] for c in create} == {data.snapshot_id}
    assert create[-1]["params"]["AvailabilityZone"] == "us-east-2b" and create[-1]["params"]["ClientToken"]
    # EBS makes volumes only from completed snapshots: never before the AMI was available
    assert min(c["t"] for c in create if c["status"] == 200) >= r.emulator.images.ready_at(task.record.image.image_id)
    restored = ec2(r).describe_volumes(VolumeIds=[data.restored_id])["Volumes"][0]
    assert restored["AvailabilityZone"] == "us-east-2b" and restored["Size"] == 20
    assert restored["Attachments"][0]["InstanceId"] == task.record.launch.replacement_ids[0]
    # it goes with the replacement as the original's went with the original: never billing unseen
    assert restored["Attachments"][0]["DeleteOnTermination"] is True
    assert data.settled == "deleted"  # the kept original, in the old zone, is given back
    assert billing_volumes(r) == []
    assert f"restored {data.disk_id} as {data.restored_id} in us-east-2b" in task.reason


def test_orphans_lists_a_kept_volume_that_could_not_follow(race):
    from responder.protect.orphans import find_orphans

    scenario = terminated_with_data()
    scenario["faults"] = [{"action": "AttachVolume", "kind": "error", "code": "IncorrectState", "status": 400,
                           "times": 99}]
    r = race(scenario=scenario, launch_from="source-image")
    (task,) = r.run([API])
    # The attach was refused: the kept volume waits, detached, billing; the task that holds a
    # replacement ends done and names it.
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert task.status == "done" and "IncorrectState" in task.record.degraded[0] and data.disk_id in task.reason
    assert [(o["kind"], o["id"]) for o in find_orphans(r.store, r.box.clouds)] == [("disk", data.disk_id)]
    assert billing_volumes(r) == [data.disk_id]


def test_a_kept_volume_is_deleted_when_the_fresh_ami_carries_the_data(race):
    r = race(scenario=terminated_with_data(), launch_from="fresh-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert data.was_deleted_with_instance and data.settled == "deleted" and not data.moved
    assert billing_volumes(r) == []


def test_a_crash_at_every_step_moves_the_volumes_without_a_second_purchase(race):
    lost = [{"action": a, "kind": "lost", "times": 1}
            for a in ("ModifyInstanceAttribute", "DetachVolume", "AttachVolume", "CreateVolume", "DeleteVolume",
                      "CreateFleet")]
    scenario = sold_out(terminated_with_data(), "us-east-2a")
    scenario["regions"][0]["instances"].append(next(i for i in shape("aws", "db")["regions"][0]["instances"]))
    scenario["faults"] = lost
    r = race(scenario=scenario, launch_from="source-image")
    tasks = r.run_crashing([API, DB])
    assert [t.status for t in tasks] == ["done", "done"], [t.reason for t in tasks]
    assert {c["action"] for c in r.emulator.calls if c.get("fault") == "lost"} == {f["action"] for f in lost}
    # API (us-east-2a) restored in us-east-2b; DB, stopped in us-east-2b, hands its volume over
    assert [d.moved for t in tasks for d in t.record.race.disks if d.kind == "data"] == ["restored", "reattached"]
    snapshots = {d.snapshot_id for t in tasks for d in t.record.race.disks if d.snapshot_id}
    assert len([v for v in ec2(r).describe_volumes()["Volumes"] if v.get("SnapshotId") in snapshots]) == 1
    ours = [i for res in ec2(r).describe_instances(Filters=[{"Name": "tag-key", "Values": ["responder:claim"]}])["Reservations"]
            for i in res["Instances"]]
    assert len(ours) == 2
    assert billing_volumes(r) == []


def test_latest_image_takes_the_newest_available_ami_the_responder_made_of_the_instance(race):
    r = race("api", launch_from="latest-image")
    backend = r.emulator.backends[r.region]
    tags = [{"ResourceType": "image", "Tags": [{"Key": "responder:source-instance", "Value": API}]}]
    ours = backend.create_image(API, "protect-api", "responder protect", tags).id
    backend.create_image(API, "someone-elses", "not ours", [])  # untagged: never taken
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    assert task.record.race.launch_image_id == ours and task.record.race.policy == "latest-image"
    assert task.record.timings["running"] <= r.gone_at(API)
