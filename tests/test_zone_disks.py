"""The disks of a wave's originals from one listing of their zone: ECS DescribeDisks by `ZoneId`
with NextToken / MaxResults paging, through the real Aliyun SDK on the ECS emulator. The emulator
pages as the token promises — a listing never skips a disk that exists throughout it while other
disks are created and deleted between its pages (PageNumber paging would) — and the adapter's
answer per instance is what the one-instance read gives, for a page or a few instead of a call each.
"""

from __future__ import annotations

import random

import pytest

from responder.errors import CloudError
from responder.sandbox.runtime import start_sandbox
from responder.sandbox.scenario import ManualClock
from responder.sandbox.wave_drive import wave_scenario

N = 30


@pytest.fixture
def zone_box():
    scenario, clones = wave_scenario("aliyun", N, rate_limits="off")
    box = start_sandbox(scenario, only=("aliyun",), clock=ManualClock(20.0))
    region = scenario["regions"][0]
    yield box, box.clouds["aliyun"], region["region"], region["zones"][0], [i for i, _ in clones]
    box.stop()


def _churn(world, zone: str, rng: random.Random, listed: set[str]) -> set[str]:
    """Between two pages: delete two disks already listed, add two new ones; the ids touched."""
    with world.lock:
        gone = rng.sample(sorted(d for d in listed if d in world.disks), 2)
        for disk_id in gone:
            world.disks.pop(disk_id)
        made = set()
        for _ in range(2):
            disk_id = "d-bp" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(18))
            template = next(iter(world.disks.values()))
            world.disks[disk_id] = dict(template, id=disk_id, instance="", tags={})
            made.add(disk_id)
    return set(gone) | made


def _list(cloud, region: str, zone: str, world, paging: str, rng: random.Random) -> tuple[list[str], set[str]]:
    """Page through the zone's disks, churning between pages: (ids listed in order, ids touched)."""
    params = {"ZoneId": zone, **({"MaxResults": 10} if paging == "token" else {"PageSize": 10, "PageNumber": 1})}
    listed, touched = [], set()
    while True:
        body = cloud._call(region, "DescribeDisks", "listing for the test", dict(params))
        rows = body["Disks"]["Disk"]
        listed += [r["DiskId"] for r in rows]
        if paging == "token":
            if not body.get("NextToken"):
                return listed, touched
            params["NextToken"] = body["NextToken"]
        else:
            if not rows:
                return listed, touched
            params["PageNumber"] += 1
        touched |= _churn(world, zone, rng, set(listed))


def test_a_token_listing_never_skips_a_disk_while_the_wave_creates_and_deletes_disks(zone_box):
    box, cloud, region, zone, ids = zone_box
    world = box.emulators["aliyun"].world
    cloud.disks_of(region, tuple(ids[:1]))  # the emulator makes an instance's disks on first use
    before = {d.disk_id for d in cloud.zone_disks(region, zone)[0]} | {
        d for d, disk in world.disks.items() if disk["zone"] == zone}
    listed, touched = _list(cloud, region, zone, world, "token", random.Random(3))
    steady = before - touched
    assert steady and steady <= set(listed)
    assert len(listed) == len(set(listed))  # and none twice


def test_page_number_paging_skips_disks_under_the_same_churn(zone_box):
    """Why the listing takes tokens: by offset, a row deleted on an earlier page shifts the rest."""
    box, cloud, region, zone, _ = zone_box
    world = box.emulators["aliyun"].world
    cloud.zone_disks(region, zone)
    before = {d for d, disk in world.disks.items() if disk["zone"] == zone}
    listed, touched = _list(cloud, region, zone, world, "number", random.Random(3))
    assert (before - touched) - set(listed), "offset paging lost nothing: the churn did not test the token"


def test_a_token_is_bound_to_its_listing(zone_box):
    _, cloud, region, zone, _ = zone_box
    cloud.zone_disks(region, zone)
    body = cloud._call(region, "DescribeDisks", "first page", {"ZoneId": zone, "MaxResults": 5})
    assert body["NextToken"] and "TotalCount" not in body
    with pytest.raises(CloudError) as refused:
        cloud._call(region, "DescribeDisks", "other filter", {"ZoneId": zone, "DiskType": "data", "MaxResults": 5,
                                                               "NextToken": body["NextToken"]})
    assert refused.value.code == "InvalidParameter.NextToken"


def test_the_disks_of_many_instances_of_a_zone_come_from_one_listing(zone_box):
    box, cloud, region, zone, ids = zone_box
    alone = {i: sorted(d.disk_id for d in cloud.describe_disks(region, instance_id=i)) for i in ids}
    emulator = box.emulators["aliyun"]
    start = len(emulator.calls)
    shared = cloud.disks_of(region, tuple(ids), zone=zone)
    made = [c for c in emulator.calls[start:] if c["action"] == "DescribeDisks"]
    assert {i: sorted(d.disk_id for d in disks) for i, disks in shared.items()} == alone
    assert all("ZoneId" in c["params"] and "InstanceId" not in c["params"] for c in made)
    assert 1 <= len(made) < len(ids) / 5, len(made)
    # Two instances: the listing took one page last time, cheaper than two reads; one: its own read.
    start = len(emulator.calls)
    cloud.disks_of(region, tuple(ids[:2]), zone=zone)
    cloud.disks_of(region, tuple(ids[:1]), zone=zone)
    assert [c["params"].get("InstanceId", "zone") for c in emulator.calls[start:]] == ["zone", ids[0]]


def _task(cloud, region: str, instance_id: str, verified_at: float):
    """A task of the wave whose original was verified at `verified_at` (its source read as verification reads it)."""
    from responder.replace.record import Task
    from responder.store import TaskRow
    task = Task(TaskRow(id=f"t-{instance_id}", key=f"aliyun:{region}:{instance_id}", cloud="aliyun", region=region,
                        instance_id=instance_id, kind="interruption", status="imaging"))
    task.record.source = cloud.describe_instance(region, instance_id)
    task.record.stamp("verified", verified_at)
    return task


def test_a_zone_listing_serves_the_next_rounds_of_originals_verified_before_it(zone_box):
    """At 500 the CreateImage window lets tasks through a few at a time: each round reads its disks
    from the listing made for the first (counting the tasks expected to ask), not one call per task;
    a task verified after the listing was read, or a listing older than ZONE_LISTING_FRESH_S, reads again."""
    from responder.replace import batching
    from responder.replace.calls import Call
    from responder.replace.wave_reads import WaveReads
    box, cloud, region, _, ids = zone_box
    clock = box.clock
    alone = {i: sorted(d.disk_id for d in cloud.describe_disks(region, instance_id=i)) for i in ids}
    tasks = [_task(cloud, region, i, clock()) for i in ids]
    wave, read = WaveReads(clock), batching.BATCHED["describe_disks"].read
    for task in tasks:  # every task asked for its CreateImage: each will want its disks soon
        batching.expect_ahead(cloud, wave, task)
    emulator = box.emulators["aliyun"]
    start = len(emulator.calls)
    answers = []
    for task in tasks:  # rounds of one task each, a second apart
        clock.advance(1.0)
        pairs = [(task, Call("describe_disks", {"instance_id": task.instance_id}))]
        answers += [sorted(d.disk_id for d in disks) for disks in read(cloud, region, pairs, wave)]
    made = [c for c in emulator.calls[start:] if c["action"] == "DescribeDisks"]
    assert answers == [alone[i] for i in ids]  # the listing answers each exactly as its own read
    assert made and all("ZoneId" in c["params"] for c in made)
    listing_pages = len(made)  # one listing, served to every later round (N rounds within 30 s)
    assert listing_pages < 5, listing_pages
    late = _task(cloud, region, ids[0], clock() + 1.0)  # verified after the listing: reads again
    clock.advance(2.0)
    start = len(emulator.calls)
    read(cloud, region, [(late, Call("describe_disks", {"instance_id": ids[0]}))], wave)
    assert [c["action"] for c in emulator.calls[start:]] == ["DescribeDisks"]
    clock.advance(batching.ZONE_LISTING_FRESH_S + 1)
    start = len(emulator.calls)
    read(cloud, region, [(tasks[1], Call("describe_disks", {"instance_id": ids[1]}))], wave)
    assert [c["action"] for c in emulator.calls[start:]] == ["DescribeDisks"]  # stale: its own read
