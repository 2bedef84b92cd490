"""Capacity first, state second, on the Aliyun sandbox through the real SDK: a replacement launched
from the source image gets the fresh image's system disk (StopInstance KeepCharging,
ReplaceSystemDisk, StartInstance) as soon as that image is Available; `keep` leaves it; a refusal
falls back to keep; a crash at every step swaps once; a deleted source image is never launched from:
a public stand-in holds the capacity until the swap (with `keep`, the fresh image is waited for)."""

from __future__ import annotations

import pytest

from race_fixtures import Race, shape
from responder.sandbox.aliyun_ecs_swap import write_root
from responder.settings import Settings

DB = "i-bp1db0000000000000a"  # 40 GiB ESSD system disk + 200 GiB data disk: the image takes ~20 minutes
SOURCE = "m-bp1base00000000000000"
STAND_IN = "aliyun_3_x64_20G_alibase_20261101.vhd"  # the sandbox's newest public Linux x86_64 image
WRITTEN = "files written before the notice"


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, faults=(), **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape("aliyun", *apps, faults=list(faults)), settings, tmp_path)
        started.append(one)
        write_root(one.emulator.world, DB, WRITTEN)
        return one

    yield start
    for one in started:
        one.stop()


def system_disk(r: Race, instance_id: str) -> dict:
    world = r.emulator.world
    return next(d for d in world.disks.values() if d["instance"] == instance_id and d["type"] == "system")


def swapped_disks(r: Race, image_id: str) -> list[dict]:
    return [d for d in r.emulator.world.disks.values() if d["type"] == "system" and d.get("image") == image_id]


def test_the_replacement_launched_from_the_source_image_gets_the_notice_time_system_disk(race):
    r = race("db", launch_from="source-image")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    replacement, fresh = task.record.launch.replacement_ids[0], task.record.image.image_id
    assert task.record.timings["running"] < r.gone_at(DB)  # capacity first
    assert system_disk(r, replacement)["content"] == WRITTEN  # state second: the original's files are on it
    state = task.record.race
    assert state.root_state == "swapped" and state.root_state_since >= task.record.timings["image_available"]
    stop = r.emulator.calls_of("StopInstance")[0]["params"]
    assert stop["InstanceId"] == replacement and stop["StoppedMode"] == "KeepCharging"
    replace = [c["params"] for c in r.emulator.calls_of("ReplaceSystemDisk")]
    assert [(p["InstanceId"], p["ImageId"]) for p in replace] == [(replacement, fresh)] and replace[0]["ClientToken"]
    assert len(r.emulator.calls_of("RunInstances")) == 1  # the same instance: no second purchase
    assert r.emulator.world.instance_status(r.emulator.world.instances[replacement]) == "Running"
    data = next(d for d in state.disks if d.kind == "data")
    assert r.emulator.world.disks[data.disk_id]["instance"] == replacement  # its data disk stayed on
    assert f"root disk swapped to the fresh image {fresh}" in task.reason


def test_keep_leaves_the_source_image_root_disk_and_says_so(race):
    r = race("db", launch_from="source-image", state_swap="keep")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    assert system_disk(r, replacement)["content"] == f"image:{SOURCE}"
    assert not r.emulator.calls_of("StopInstance") and not r.emulator.calls_of("ReplaceSystemDisk")
    assert task.record.race.root_state == "stale" and task.record.race.swap == "kept"
    assert task.record.image.available  # the fresh image is left for the owner
    assert "RESPONDER_STATE_SWAP=keep" in task.reason and task.record.image.image_id in task.reason


def test_a_refused_swap_falls_back_to_keep_with_the_replacement_running(race):
    refused = [{"action": "ReplaceSystemDisk", "kind": "error", "code": "InvalidOperation.NotSupported",
                "status": 403, "times": 5}]
    r = race("db", launch_from="source-image", faults=refused)
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    world = r.emulator.world
    assert world.instance_status(world.instances[replacement]) == "Running"  # started again on its own disk
    assert system_disk(r, replacement)["content"] == f"image:{SOURCE}"
    assert task.record.race.root_state == "stale" and task.record.race.swap == "refused"
    assert len(r.emulator.calls_of("ReplaceSystemDisk")) == 1  # a refusal is not retried
    assert any("state swap refused" in d for d in task.record.degraded)
    assert "the swap was refused" in task.reason


def test_a_crash_at_every_step_of_the_swap_stops_replaces_and_starts_once(race):
    lost = [{"action": a, "kind": "lost", "times": 1} for a in ("StopInstance", "ReplaceSystemDisk", "StartInstance")]
    r = race("db", launch_from="source-image", faults=lost)
    (task,) = r.run_crashing([DB])
    assert task.status == "done", task.reason
    assert {c["action"] for c in r.emulator.calls if c.get("fault") == "lost"} == {f["action"] for f in lost}
    replacement, fresh = task.record.launch.replacement_ids[0], task.record.image.image_id
    assert len(r.emulator.calls_of("RunInstances")) == 1
    assert len(swapped_disks(r, fresh)) == 1  # one swap: a repeated ReplaceSystemDisk returned the first disk
    done = [c for c in r.emulator.calls_of("StopInstance") if c["status"] == 200]
    assert len(done) == 1  # never stopped a second time
    assert system_disk(r, replacement)["content"] == WRITTEN and task.record.race.root_state == "swapped"


def test_a_deleted_source_image_launches_from_a_stand_in_then_gets_the_notice_time_system_disk(race):
    r = race("db", launch_from="source-image")
    del r.emulator.world.images[SOURCE]  # deleted by its owner, and no image of ours exists
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    state, fresh = task.record.race, task.record.image.image_id
    replacement = task.record.launch.replacement_ids[0]
    assert state.gone_images == [SOURCE] and state.policy == "stand-in"
    assert state.stand_in_image == STAND_IN == state.launch_image_id  # the newest public image of its OS and arch
    assert [c["params"]["ImageId"] for c in r.emulator.calls_of("RunInstances")] == [STAND_IN]
    assert task.record.timings["running"] < r.gone_at(DB)  # capacity held before the release
    replace = [c["params"] for c in r.emulator.calls_of("ReplaceSystemDisk")]
    assert [(p["InstanceId"], p["ImageId"]) for p in replace] == [(replacement, fresh)]
    assert system_disk(r, replacement)["content"] == WRITTEN  # then the original's files
    assert state.root_state == "swapped" and state.root_state_since > task.record.timings["running"]
    assert f"stand-in public image {STAND_IN}" in state.why and f"not launched from {SOURCE}: gone" in task.reason


def test_with_keep_a_deleted_source_image_waits_for_the_fresh_image(race):
    r = race("db", launch_from="source-image", state_swap="keep")
    del r.emulator.world.images[SOURCE]
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    launched = [c["params"]["ImageId"] for c in r.emulator.calls_of("RunInstances")]
    assert set(launched) == {task.record.image.image_id}  # a stand-in would never get the state
    assert task.record.race.policy == "fresh-image" and task.record.race.gone_images == [SOURCE]
    assert task.record.race.root_state == "fresh" and not task.record.race.stand_in_image
    assert "RESPONDER_STATE_SWAP=keep" in task.record.race.why
