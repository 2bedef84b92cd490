"""Capacity first, state second, on the EC2 sandbox through boto3: a replacement launched from the
source AMI gets the fresh AMI's root volume (CreateReplaceRootVolumeTask) as soon as that AMI is
available; a crash at every step makes one task; `keep` leaves it; a deregistered source AMI is
never launched from: an Amazon stand-in holds the capacity until the swap; a swap EC2's AMI rule refuses
falls back to keep."""

from __future__ import annotations

import boto3
import pytest

from race_fixtures import Race, shape
from responder.sandbox.authz import SANDBOX_ADMIN_KEY
from responder.settings import Settings

API = "i-0aaa00000000000a2"  # 30 GiB gp3 root: its first snapshot takes ~200 s, past the two minutes
WRITTEN = "files written before the notice"
LAUNCHES = ("RunInstances", "CreateFleet", "CreateLaunchTemplate")


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, faults=(), top=None, **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape("aws", *apps, faults=list(faults), **(top or {})), settings, tmp_path)
        started.append(one)
        one.emulator.swaps.write_root(API, WRITTEN)
        return one

    yield start
    for one in started:
        one.stop()


def ec2(r: Race, key: str = "sandbox-key"):
    return boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                        aws_access_key_id=key, aws_secret_access_key="sandbox-secret")


def source_ami(r: Race) -> str:
    return ec2(r).describe_instances(InstanceIds=[API])["Reservations"][0]["Instances"][0]["ImageId"]


def launch_params(r: Race) -> list[dict]:
    return [c["params"] for c in r.emulator.calls if c["action"] in LAUNCHES]


def test_the_replacement_launched_from_the_source_ami_gets_the_notice_time_root_volume(race):
    r = race("api", launch_from="source-image")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    replacement, fresh = task.record.launch.replacement_ids[0], task.record.image.image_id
    assert task.record.timings["running"] <= r.gone_at(API)  # capacity first
    assert r.emulator.swaps.root_of(replacement) == WRITTEN  # state second
    created = [c["params"] for c in r.emulator.calls_of("CreateReplaceRootVolumeTask")]
    assert [(p["InstanceId"], p["ImageId"]) for p in created] == [(replacement, fresh)]
    assert created[0]["ClientToken"] and created[0]["DeleteReplacedRootVolume"] == "true"
    state = task.record.race
    assert state.root_state == "swapped" and state.root_state_since >= task.record.timings["image_available"]
    assert len([c for c in r.emulator.calls_of("CreateFleet") if c["status"] == 200]) == 1
    running = ec2(r).describe_instances(InstanceIds=[replacement])["Reservations"][0]["Instances"][0]
    assert running["State"]["Name"] == "running"  # the same instance, its id kept
    assert f"root disk swapped to the fresh image {fresh}" in task.reason


def test_a_crash_at_every_step_of_the_swap_makes_one_task(race):
    lost = [{"action": a, "kind": "lost", "times": 1}
            for a in ("CreateReplaceRootVolumeTask", "DescribeReplaceRootVolumeTasks", "CreateFleet")]
    r = race("api", launch_from="source-image", faults=lost)
    (task,) = r.run_crashing([API])
    assert task.status == "done", task.reason
    assert {c["action"] for c in r.emulator.calls if c.get("fault") == "lost"} == {f["action"] for f in lost}
    replacement = task.record.launch.replacement_ids[0]
    assert [t["instance"] for t in r.emulator.swaps.tasks.values()] == [replacement]  # one swap
    tagged = ec2(r).describe_instances(Filters=[{"Name": "tag-key", "Values": ["responder:claim"]}])
    assert sum(len(res["Instances"]) for res in tagged["Reservations"]) == 1  # one purchase
    assert r.emulator.swaps.root_of(replacement) == WRITTEN and task.record.race.root_state == "swapped"


def test_keep_leaves_the_source_root_volume_and_the_fresh_ami(race):
    r = race("api", launch_from="source-image", state_swap="keep")
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    assert not r.emulator.calls_of("CreateReplaceRootVolumeTask")
    assert r.emulator.swaps.root_of(replacement) == f"image:{task.record.race.launch_image_id}"
    assert task.record.race.root_state == "stale" and task.record.image.available
    assert "RESPONDER_STATE_SWAP=keep" in task.reason


def test_a_deregistered_source_ami_launches_from_a_stand_in_then_gets_the_notice_time_root(race):
    r = race("api", launch_from="source-image")
    gone = source_ami(r)
    original = ec2(r).describe_images(ImageIds=[gone])["Images"][0]
    ec2(r, SANDBOX_ADMIN_KEY).deregister_image(ImageId=gone)  # retired by its owner, no AMI of ours
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    state, fresh = task.record.race, task.record.image.image_id
    replacement = task.record.launch.replacement_ids[0]
    assert state.gone_images == [gone] and state.policy == "stand-in" and state.stand_in_image
    stand_in = ec2(r).describe_images(ImageIds=[state.stand_in_image])["Images"][0]
    assert stand_in["ImageOwnerAlias"] == "amazon" and stand_in["Architecture"] == original["Architecture"]
    assert stand_in["VirtualizationType"] == original["VirtualizationType"]
    assert (stand_in.get("Platform") == "windows") == (original.get("Platform") == "windows")
    assert launch_params(r) and not any(gone in p.values() for p in launch_params(r))
    assert task.record.timings["running"] <= r.gone_at(API)  # capacity held before the release
    created = [c["params"] for c in r.emulator.calls_of("CreateReplaceRootVolumeTask")]
    assert [(p["InstanceId"], p["ImageId"]) for p in created] == [(replacement, fresh)]
    assert r.emulator.swaps.root_of(replacement) == WRITTEN  # then the original's files
    assert state.root_state == "swapped" and state.root_state_since > task.record.timings["running"]
    assert f"not launched from {gone}: gone" in task.reason


def test_a_swap_breaking_the_ami_rule_is_refused_and_the_replacement_keeps_its_root(race):
    r = race("api", launch_from="source-image")
    # The source AMI now says arm64 (a test device): the replacement launched from it is arm64,
    # the fresh AMI made from the x86_64 original is not — EC2 refuses the swap.
    r.emulator.backends[r.region].amis[source_ami(r)].architecture = "arm64"
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    refused = [c for c in r.emulator.calls_of("CreateReplaceRootVolumeTask")]
    assert len(refused) == 1 and refused[0]["status"] == 400
    replacement = task.record.launch.replacement_ids[0]
    assert r.emulator.swaps.root_of(replacement) != WRITTEN
    assert task.record.race.swap == "refused" and task.record.race.root_state == "stale"
    assert "InvalidParameterValue" in task.record.race.swap_refused and "architecture" in task.record.race.swap_refused
    assert any("state swap refused" in d for d in task.record.degraded) and "the swap was refused" in task.reason


def test_a_swap_that_never_finishes_is_given_up_and_the_task_still_ends(race):
    r = race("api", launch_from="source-image", top={"root_swap_seconds": 100000})
    (task,) = r.run([API], until=6000.0)
    assert task.status == "done", task.reason
    assert len(r.emulator.calls_of("CreateReplaceRootVolumeTask")) == 1
    assert task.record.race.swap == "refused" and task.record.race.root_state == "stale"
    assert any("state swap given up after 1800 s" in d for d in task.record.degraded)
