"""The race against the release on the Aliyun sandbox, through the real SDK, on a ManualClock:
the instance goes 300 s after its notice with every DeleteWithInstance disk, an image is as slow
as its disks, a launch takes 40 s to run."""

from __future__ import annotations

import pytest

from race_fixtures import Race, interruption, shape
from responder.sandbox.race_drive import drive
from responder.settings import Settings

DB = "i-bp1db0000000000000a"  # 40 GiB ESSD system disk + 200 GiB ESSD data disk: ~20 minutes of snapshot
WEB = "i-bp1web000000000000a"  # 40 GiB ESSD system disk only
API = "i-bp1api000000000000a"  # 20 GiB ESSD, a public IP
BATCH = "i-bp1batch00000000000a"  # basic disks and a persistent (DeleteWithInstance=false) data disk


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, faults=(), **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape("aliyun", *apps, faults=list(faults)), settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def ours_still_billing(r: Race) -> list[str]:
    """Detached disks the responder kept (every scenario disk is DeleteWithInstance=true unless it
    says otherwise) and EIPs bound to nothing."""
    world = r.emulator.world
    disks = [d["id"] for d in world.disks.values() if not d["instance"] and d["id"] != "d-" + BATCH[2:] + "02"]
    return disks + [e["id"] for e in world.eips.values() if not e["instance"]]


def test_an_image_that_would_finish_after_the_release_fails_without_protection(race):
    r = race("db", launch_from="fresh-image", protect_on_receipt=False)
    (task,) = r.run([DB])
    assert task.status == "failed" and "CreateFailed" in task.reason
    assert "RunInstances" not in r.actions() and r.gone_at(DB) == 300.0


def test_the_same_image_survives_the_release_when_the_disks_are_protected_on_receipt(race):
    r = race("db", launch_from="fresh-image")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    actions = r.actions()
    assert actions[:2] == ["DescribeInstances", "CreateImage"]
    assert actions.index("ModifyDiskAttribute") < actions.index("RunInstances")
    assert task.record.race.protected and task.record.timings["protected"] < 1.0
    assert task.record.image.available and task.record.timings["image_available"] > r.gone_at(DB)
    assert ours_still_billing(r) == []  # the kept disks were deleted once the image was made


def test_source_image_launches_at_once_and_the_replacement_runs_before_the_release(race):
    r = race("db", launch_from="source-image")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    run = next(c for c in r.emulator.calls_of("RunInstances"))
    assert run["params"]["ImageId"] == "m-bp1base00000000000000"
    assert run["params"]["UserData"] == "IyEvYmluL3NoCmRiLXN0YXJ0Cg=="  # the original's, read by clone_details
    assert task.record.timings["running"] < r.gone_at(DB)
    assert "launched from source-image m-bp1base00000000000000" in task.reason


def test_data_disks_are_reattached_to_a_replacement_in_the_same_zone(race):
    r = race("db", launch_from="source-image")
    (task,) = r.run([DB])
    replacement = task.record.launch.replacement_ids[0]
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert data.settled == "reattached"
    assert r.emulator.world.disks[data.disk_id]["instance"] == replacement
    attach = r.emulator.calls_of("AttachDisk")[0]
    assert attach["t"] >= r.gone_at(DB)  # after the original is gone, not before
    assert ours_still_billing(r) == []  # the system disk went once the fresh image was Available


def test_a_persistent_data_disk_of_the_owner_is_reattached_but_never_deleted(race):
    r = race("batch", launch_from="source-image")
    (task,) = r.run([BATCH])
    assert task.status == "done", task.reason
    owned = "d-" + BATCH[2:] + "02"
    disk = next(d for d in task.record.race.disks if d.disk_id == owned)
    assert not disk.was_deleted_with_instance and disk.settled == "reattached"
    assert owned not in [c["params"].get("DiskId") for c in r.emulator.calls_of("DeleteDisk")]
    kept = next(c for c in r.emulator.calls_of("ModifyDiskAttribute"))
    assert owned not in kept["params"].values()  # it was never ours to keep


def test_auto_waits_for_a_small_fresh_image_and_launches_from_the_source_for_a_large_one(race):
    r = race("api", "db")
    small, large = r.run([API, DB])
    assert small.record.race.policy == "fresh-image" and large.record.race.policy == "source-image"
    for task, instance in ((small, API), (large, DB)):
        assert task.status == "done", task.reason
        assert task.record.timings["running"] <= r.gone_at(instance)
        assert task.record.image.available
    assert ours_still_billing(r) == []


def test_the_public_ip_becomes_an_eip_that_follows_the_replacement(race):
    r = race("api", launch_from="source-image", keep_public_ip=True)
    (task,) = r.run([API])
    assert task.status == "done", task.reason
    eip = r.emulator.world.eips[task.record.race.eip_allocation]
    assert eip["ip"] == "47.96.10.21" and eip["instance"] == task.record.launch.replacement_ids[0]
    run = r.emulator.calls_of("RunInstances")[0]
    assert "InternetMaxBandwidthOut" not in run["params"]  # no second public address to pay for
    assert r.emulator.calls_of("AssociateEipAddress")[0]["t"] >= r.gone_at(API)


def test_latest_image_launches_from_the_newest_image_the_responder_made(race):
    r = race("web", launch_from="latest-image")
    world = r.emulator.world
    world.images["m-bp1earlier000000000000"] = {
        "id": "m-bp1earlier000000000000", "name": "responder-protect", "region": "cn-hangzhou", "instance": WEB,
        "created": -600.0, "fails": False, "tags": {"responder:source-instance": WEB}}
    (task,) = r.run([WEB])
    assert task.status == "done", task.reason
    assert r.emulator.calls_of("RunInstances")[0]["params"]["ImageId"] == "m-bp1earlier000000000000"


def test_a_crash_after_every_call_resumes_without_a_second_purchase(race):
    # Lost answers on the race's writes: each was done, the caller never heard.
    lost = [{"action": a, "kind": "lost", "times": 1}
            for a in ("ModifyDiskAttribute", "ConvertNatPublicIpToEip", "AttachDisk", "RunInstances", "DeleteDisk")]
    r = race("db", "api", launch_from="source-image", keep_public_ip=True, faults=lost)
    results = []

    queue = [(0.0, interruption("aliyun", "cn-hangzhou", i, r.account)) for i in (DB, API)]
    while r.clock() < 3000:
        results += [r.runner.submit(e) for t, e in queue]
        queue = []
        drive(r.runner, r.clock, [], r.clock() + 0.1)
        r.restart()  # a new process after every step
        if all(r.store.get(x.task.id).status in ("done", "failed") for x in results):
            break
        r.clock.advance_to(max(r.store.next_due_at() or r.clock(), r.clock() + 0.05))
    rows = [r.store.get(x.task.id) for x in results]
    assert [row.status for row in rows] == ["done", "done"], [row.reason for row in rows]
    assert len(r.emulator.calls_of("RunInstances")) == 2
    assert len([i for i in r.emulator.world.instances.values() if i.get("tags", {}).get("responder:claim")]) == 2
    assert ours_still_billing(r) == []
