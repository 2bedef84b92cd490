"""Throttling delays, never fails; a server fault costs little time; when calls must wait, the
earliest release goes first — through the real SDKs on the emulators (the race's ManualClock where
time must jump, the scaled sandbox where it need not)."""

from __future__ import annotations

import pytest

from race_fixtures import Race, interruption, shape
from responder.notify.messages import render, task_notices
from responder.protect.orphans import find_orphans
from responder.replace.record import Task
from responder.sandbox.race_drive import drive
from responder.settings import Settings
from tests.conftest import event_bytes
from tests.scenarios import scenario

WEB = {"aliyun": "i-bp1web000000000000a", "aws": "i-0aaa00000000000a2"}  # aws: the api shape, 30 GiB
THROTTLE = {"aliyun": {"code": "Throttling.User", "status": 400},
            "aws": {"code": "RequestLimitExceeded", "status": 503}}


@pytest.fixture
def race(tmp_path):
    started = []

    def start(cloud, *apps, faults=(), **settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            **settings_changes)
        one = Race(shape(cloud, *apps, faults=list(faults)), settings, tmp_path)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


@pytest.mark.parametrize("cloud", ["aliyun", "aws"])
def test_a_throttled_read_after_the_old_deadline_does_not_fail_a_task_that_holds_a_replacement(race, cloud):
    """The replacement runs from the source image; the fresh image's polls are throttled well past
    RESPONDER_RETRY_DEADLINE_SECONDS (the only deadline there was): the task waits them out."""
    # after latest_image and the read of the source image before the launch
    throttled = {"action": "DescribeImages", "after": 2, "times": 4, **THROTTLE[cloud]}
    r = race(cloud, "web" if cloud == "aliyun" else "api", faults=[throttled], launch_from="source-image",
             retry_deadline_seconds=0.5)
    (task,) = r.run([WEB[cloud]], until=4000.0)
    assert task.status == "done" and "degraded" not in task.reason, task.reason
    assert task.record.launch.replacement_ids and task.record.image.available
    refused = [c for c in r.emulator.calls_of("DescribeImages") if c.get("code") == THROTTLE[cloud]["code"]]
    assert len(refused) == 4 and all(c["t"] > 0.5 for c in refused)


def test_remaining_steps_that_never_succeed_end_the_task_done_and_degraded_with_its_leftovers_listed(race):
    """The kept system disk can never be given back (ModifyDiskAttribute faults forever once it
    kept the disk on receipt): past the task's own deadline (its release, plus its 40 GiB at the
    slow end, plus a margin), it ends `done` naming what did not happen; the disk, billing once the
    original is gone, is in the reason, the notification and `responder orphans`."""
    failing = {"action": "ModifyDiskAttribute", "code": "InternalError", "status": 500, "after": 1, "times": -1}
    # keep: a swap would take the replacement past the release, and the kept disk would be deleted detached
    r = race("aliyun", "web", faults=[failing], launch_from="source-image", state_swap="keep")
    (task,) = r.run([WEB["aliyun"]], until=4000.0)
    system = "d-" + WEB["aliyun"][2:]
    assert task.status == "done" and task.record.launch.replacement_ids
    assert "degraded: follow_instance did not succeed before the deadline (InternalError" in task.reason
    assert system in task.reason and "responder orphans" in task.reason
    assert task.record.degraded[0].startswith("follow_instance") and any(system in d for d in task.record.degraded)
    tries = [c["t"] for c in r.emulator.calls_of("ModifyDiskAttribute")[1:]]
    assert len(tries) > 12 and tries[-1] > 300 + 30 * 40  # no attempt cap: retried to the deadline
    assert [(o["kind"], o["id"]) for o in find_orphans(r.store, r.box.clouds)] == [("disk", system)]
    (notice,) = [n for n in task_notices(task) if n.kind == "degraded"]
    assert notice.level == "warning" and system in render(notice)[1]


def test_when_calls_must_wait_the_earliest_release_goes_first_in_the_call_log(race):
    """One CreateImage a minute: four notices land at once, and their tasks wait for the budget;
    told (by the notice times) that they are released in another order than they arrived, the
    tasks' CreateImage calls reach the cloud in release order — and none was sent early."""
    r = race("aliyun", "web", "api", "db", "batch", launch_from="fresh-image",
             api_rates=(("aliyun", "CreateImage", 1.0, 60.0, True),))
    ids = [i["id"] for i in r.box.scenario.regions[0].instances]
    r.clock.advance(1.0)  # past the edge of the first minute, where no call of a shared window goes
    submitted = [r.runner.submit(interruption("aliyun", r.region, i, r.account)) for i in ids]
    first_image = r.emulator.calls_of("CreateImage")
    assert len(first_image) == 1  # the others were held back, not sent and refused
    waiting = [Task(r.store.get(s.task.id)) for s in submitted if s.task.instance_id != ids[0]]
    assert all(t.record.retry.failures == 0 and t.next_at >= 60 for t in waiting)
    for n, task in enumerate(reversed(waiting)):  # late deliveries: the last to arrive was noticed first
        task.record.event.notice_at = -30.0 + n
        r.store.save(task.synced_row())
    drive(r.runner, r.clock, [], until=400.0)
    order = [c["params"]["InstanceId"] for c in r.emulator.calls_of("CreateImage")]
    assert order == [ids[0]] + [t.instance_id for t in reversed(waiting)]
    times = [c["t"] for c in r.emulator.calls_of("CreateImage")]
    assert all(later - earlier >= 60 for earlier, later in zip(times, times[1:]))


def test_a_server_fault_is_retried_at_once_within_the_same_request(responder_factory):
    faults = [{"action": "CreateImage", "code": "InternalError", "status": 500, "times": 1}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults))
    response = client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"),
                           content_type="application/json")
    task = Task(runner.store.get(response.get_json()["task"]["id"]))
    assert task.record.image.image_id and task.record.retry.failures == 0  # made in the same request
    tries = box.emulators["aliyun"].calls_of("CreateImage")
    assert [c["code"] for c in tries] == ["InternalError", ""] and tries[1]["wall"] - tries[0]["wall"] < 0.5


def test_metrics_show_throttled_calls_by_action_and_the_budget_s_rate(responder_factory):
    faults = [{"action": "DescribeInstances", "code": "Throttling", "status": 400, "times": 1}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults))
    client.post("/events", data=event_bytes("aliyun/cloudmonitor-interruption.json"), content_type="application/json")
    scraped = client.get("/metrics").get_data(as_text=True)
    assert ('responder_api_throttled_total{action="DescribeInstances",cloud="aliyun",region="cn-hangzhou"} 1.0'
            in scraped)
    rate = next(line for line in scraped.splitlines()
                if line.startswith('responder_api_budget_rate{bucket="DescribeInstances",cloud="aliyun"'))
    assert 0 < float(rate.rsplit(" ", 1)[1]) < 200 / 3  # cut below the window's 200 calls per 3 s
