"""The race on the EC2 sandbox, through boto3, on a ManualClock: the Spot Instance is stopped or
terminated 120 s after its warning, an AMI stays pending until its volumes' snapshots complete
(also after the volumes are gone), a launch takes 45 s to run."""

from __future__ import annotations

import boto3
import pytest

from race_fixtures import Race, shape
from responder.settings import Settings

WEB = "i-0aaa00000000000a1"  # 8 GiB gp3 root
API = "i-0aaa00000000000a2"  # 30 GiB gp3 root
DB = "i-0aaa00000000000a3"  # marked-for-stop; 50 GiB root + 200 GiB data volume


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape("aws", *apps), settings, tmp_path)
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
    assert task.record.race.image_estimate_s == pytest.approx(20 + 6 * 200)  # the 200 GiB data volume decides
    assert task.status == "done" and task.record.timings["running"] <= r.gone_at(DB)


def test_instance_action_stop_keeps_the_volumes(race):
    r = race("db", launch_from="source-image")
    (task,) = r.run([DB])
    client = ec2(r)
    state = client.describe_instances(InstanceIds=[DB])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "stopped"
    volumes = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [DB]}])["Volumes"]
    assert sorted(v["Size"] for v in volumes) == [50, 200]


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
