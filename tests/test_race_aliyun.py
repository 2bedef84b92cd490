"""The race against the release on the Aliyun sandbox, through the real SDK, on a ManualClock:
the instance goes 300 s after its notice with every DeleteWithInstance disk, an image is as slow
as its disks, a launch takes 40 s to run."""

from __future__ import annotations

import pytest

from race_fixtures import Race, shape, sold_out
from responder.replace import build_times
from responder.replace.build_times import BuildTimes
from responder.replace.record import KeptDisk
from responder.settings import Settings

DB = "i-bp1db0000000000000a"  # 40 GiB ESSD system disk + 200 GiB ESSD data disk: ~20 minutes of snapshot
WEB = "i-bp1web000000000000a"  # 40 GiB ESSD system disk only
API = "i-bp1api000000000000a"  # 20 GiB ESSD, a public IP
BATCH = "i-bp1batch00000000000a"  # basic disks and a persistent (DeleteWithInstance=false) data disk


@pytest.fixture
def race(tmp_path):
    started = []

    def start(*apps, faults=(), sold_out_in="", **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        scenario = shape("aliyun", *apps, faults=list(faults))
        one = Race(sold_out(scenario, sold_out_in) if sold_out_in else scenario, settings, tmp_path)
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
    learned(r, [KeptDisk("d", "system", "cloud_essd", 20, "")], image_s=140.0, boot_s=40.0)
    small, large = r.run([API, DB])
    assert small.record.race.policy == "fresh-image" and large.record.race.policy == "source-image"
    for task, instance in ((small, API), (large, DB)):
        assert task.status == "done", task.reason
        assert task.record.timings["running"] <= r.gone_at(instance)
        assert task.record.image.available
    assert ours_still_billing(r) == []


def learned(r, disks, image_s: float, boot_s: float) -> None:
    """What earlier tasks here observed: images of these disks in image_s, launches in boot_s."""
    times = BuildTimes(r.store.engine, r.clock)
    for k in range(build_times.MIN_SAMPLES):
        for disk in disks:
            times.observe_image(f"earlier-{disk.size_gib}-{k}", "aliyun", r.region, disk, False, image_s)
        for family in ("ecs.g7", "ecs.g6", "ecs.c7", "ecs.r7"):
            times.observe_boot(f"earlier-{family}-{k}", "aliyun", r.region, f"{family}.large", boot_s)


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
            for a in ("ModifyDiskAttribute", "ConvertNatPublicIpToEip", "AttachDisk", "RunInstances", "DeleteDisk",
                      "AssignPrivateIpAddresses")]
    r = race("db", "api", launch_from="source-image", keep_public_ip=True, keep_private_ip=True, faults=lost)
    addresses = {i: r.emulator.world.instances[i]["private_ip"] for i in (DB, API)}
    rows = r.run_crashing([DB, API])
    assert [row.status for row in rows] == ["done", "done"], [row.reason for row in rows]
    assert {c["action"] for c in r.emulator.calls if c.get("fault") == "lost"} == {f["action"] for f in lost}
    assert len(r.emulator.calls_of("RunInstances")) == 2
    replacements = [i for i in r.emulator.world.instances.values() if i.get("tags", {}).get("responder:claim")]
    assert len(replacements) == 2
    assert sorted(ip for i in replacements for ip in i["secondary_ips"]) == sorted(addresses.values())
    assert ours_still_billing(r) == []


def test_a_replacement_in_another_zone_gets_the_data_disk_restored_from_the_instant_access_snapshot(race):
    r = race("db", launch_from="source-image", sold_out_in="cn-hangzhou-j")
    (task,) = r.run([DB])
    assert task.status == "done", task.reason
    replacement = task.record.launch.replacement_ids[0]
    assert task.record.launch.replacement.zone == "cn-hangzhou-i"
    data = next(d for d in task.record.race.disks if d.kind == "data")
    assert data.moved == "restored"
    world = r.emulator.world
    restored = world.disks[data.restored_id]
    assert restored["zone"] == "cn-hangzhou-i" and restored["instance"] == replacement
    assert restored["source_snapshot"] == data.snapshot_id and restored["size"] == 200
    assert restored["delete_with_instance"]  # as the original's data disk was: it goes with the replacement
    create = r.emulator.calls_of("CreateDisk")
    assert [c["params"]["SnapshotId"] for c in create] == [data.snapshot_id] and create[0]["params"]["ClientToken"]
    # ESSD instant access: the 200 GiB snapshot (20 min) made a disk long before the image was done
    assert create[0]["t"] < r.gone_at(DB) < task.record.timings["image_available"]
    assert data.disk_id not in world.disks  # the kept original was given back
    assert ours_still_billing(r) == []
    assert f"restored {data.disk_id} as {data.restored_id} in cn-hangzhou-i" in task.reason


def test_the_owners_persistent_disk_is_restored_elsewhere_and_left_alone(race):
    r = race("batch", launch_from="source-image", sold_out_in="cn-hangzhou-j")
    (task,) = r.run([BATCH])
    assert task.status == "done", task.reason
    owned = "d-" + BATCH[2:] + "02"
    disks = {d.disk_id: d for d in task.record.race.disks}
    assert [disks[d].moved for d in sorted(disks) if disks[d].kind == "data"] == ["restored", "restored"]
    assert owned in r.emulator.world.disks and not disks[owned].settled  # never ours to delete
    assert not r.emulator.world.disks[disks[owned].restored_id]["delete_with_instance"]  # persistent, as it was
    assert owned not in [c["params"].get("DiskId") for c in r.emulator.calls_of("DeleteDisk")]


def test_a_crash_at_every_step_of_a_restore_resumes_without_a_second_disk(race):
    lost = [{"action": a, "kind": "lost", "times": 1}
            for a in ("ModifyDiskAttribute", "CreateDisk", "AttachDisk", "DeleteDisk", "RunInstances")]
    r = race("db", launch_from="source-image", sold_out_in="cn-hangzhou-j", faults=lost)
    (task,) = r.run_crashing([DB])
    assert task.status == "done", task.reason
    assert {c["action"] for c in r.emulator.calls if c.get("fault") == "lost"} == {f["action"] for f in lost}
    world = r.emulator.world
    assert len([d for d in world.disks.values() if d.get("source_snapshot")]) == 1
    assert len([i for i in world.instances.values() if i.get("tags", {}).get("responder:claim")]) == 1
    assert ours_still_billing(r) == []
