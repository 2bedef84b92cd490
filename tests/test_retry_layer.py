"""The one retry layer, through the real SDKs and the emulators: server faults and lost answers
are survived without a second purchase; nothing loops in the request thread; tokens come from the
claim key, so two stores working one event buy once; a forged event always gets the same answer."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.store import Store
from tests.conftest import event_bytes, event_json
from tests.scenarios import scenario

ALIYUN = "aliyun/cloudmonitor-interruption.json"
AWS = "aws/spot-interruption-warning.json"


def run(client, runner, name=ALIYUN):
    response = client.post("/events", data=event_bytes(name), content_type="application/json")
    assert response.status_code in (200, 202), response.get_json()
    return runner.run_to_end(response.get_json()["task"]["id"], timeout=60, sleep=lambda s: time.sleep(min(s, 0.05)))


@pytest.mark.parametrize("action,code,status", [
    ("RunInstances", "InternalError", 500), ("RunInstances", "ServiceUnavailable", 503),
    ("CreateImage", "InternalError", 500), ("DescribeImages", "ServiceUnavailable", 503),
    ("DescribeInstances", "InternalError", 500), ("DescribeAvailableResource", "InternalError", 500),
])
def test_an_aliyun_server_fault_is_retried_and_the_replacement_still_lands(responder_factory, action, code, status):
    faults = [{"action": action, "code": code, "status": status, "times": 2}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults))
    task = run(client, runner)
    assert task.status == "done", task.reason
    calls = box.calls("aliyun")
    assert calls.count("RunInstances") == (3 if action == "RunInstances" else 1)
    assert calls.count("CreateImage") == (3 if action == "CreateImage" else 1)
    assert task.record.retry.failures == 0  # the backoff was reset by the successes that followed


def test_the_aliyun_sdk_logs_the_faults_the_retry_layer_handles_as_warnings_not_errors(responder_factory, caplog):
    # A credentials error is not handled: it stays an ERROR (tests/test_secrets.py).
    faults = [{"action": "RunInstances", "code": "InternalError", "status": 500, "times": 1},
              {"action": "DescribeImages", "kind": "reset", "times": 1}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults))
    with caplog.at_level(logging.INFO):
        task = run(client, runner)
    assert task.status == "done", task.reason
    sdk = [r for r in caplog.records if r.name.startswith("aliyunsdkcore")]
    assert {r.getMessage().split(".")[0] for r in sdk} == {"ServerException occurred", "HttpError occurred"}
    assert {r.levelname for r in sdk} == {"WARNING"}


@pytest.mark.parametrize("action,code", [("CreateFleet", "InternalError"), ("CreateImage", "Unavailable"),
                                         ("DescribeImages", "InternalError")])
def test_an_aws_server_fault_is_retried_and_the_replacement_still_lands(responder_factory, action, code):
    faults = [{"action": action, "code": code, "times": 2}]
    client, runner, box = responder_factory(scenario(cloud="aws", faults=faults))
    task = run(client, runner, AWS)
    assert task.status == "done", task.reason
    assert len(task.record.launch.replacement_ids) == 1
    fleets = [c for c in box.emulators["aws"].calls if c["action"] == "CreateFleet"]
    tokens = {c["params"].get("ClientToken") for c in fleets}
    assert len(tokens) == 1  # every try of the launch re-sent the same token


def test_a_fault_that_never_ends_fails_a_task_holding_nothing_after_the_attempt_cap_with_the_reason(
        responder_factory):
    faults = [{"action": "CreateImage", "code": "InternalError", "status": 500, "times": -1}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults),
                                            settings={"max_transient_retries": 3})
    task = run(client, runner)
    assert task.status == "failed"
    assert "gave up after 3 transient errors" in task.reason and "InternalError" in task.reason
    assert box.calls("aliyun").count("CreateImage") == 3
    assert "RunInstances" not in box.calls("aliyun")


def test_a_network_failure_does_not_hold_the_request_thread(responder_factory, monkeypatch):
    """An unreachable endpoint in the middle of a flow: the advance returns at once with a time to
    come back, instead of looping inside the request (the lease would expire under it)."""
    client, runner, box = responder_factory(scenario(cloud="aliyun", image_build_seconds=4))
    response = client.post("/events", data=event_bytes(ALIYUN), content_type="application/json")
    task_id = response.get_json()["task"]["id"]
    box.emulators["aliyun"].stop()  # every later call is refused at the TCP level
    started = time.monotonic()
    time.sleep(0.3)
    asked_at = time.time()
    task = runner.advance(task_id)
    while task.record.retry.failures == 0 and time.monotonic() - started < 10:
        time.sleep(0.05)
        asked_at = time.time()
        task = runner.advance(task_id)
    assert time.monotonic() - started < 10
    # A time to come back, set by the advance that failed (a transient fault is retried after a
    # small jitter, so by now that time may already have passed on a loaded machine).
    assert task.status != "failed" and task.record.retry.failures >= 1 and task.next_at > asked_at
    assert "SDK.HttpError" in task.record.retry.last_error


def _in_two_stores(box, settings, tmp_path, event: str):
    """The same event delivered to two runners with a SQLite store each, both worked to the end."""
    from responder.intake import handle_body

    runners = [TaskRunner(Store(f"sqlite:///{tmp_path}/store{n}.db"), box.clouds, settings) for n in range(2)]
    ids = [handle_body(r, event_bytes(event))[1]["task"]["id"] for r in runners]
    return [r.run_to_end(i, timeout=60) for r, i in zip(runners, ids)]


def test_two_stores_working_one_event_make_one_image_and_one_replacement(sandbox_factory, test_settings, tmp_path):
    """One SQLite file per container: the claim cannot dedupe across them, the tokens must."""
    box = sandbox_factory(scenario(cloud="aliyun"))
    tasks = _in_two_stores(box, test_settings, tmp_path, ALIYUN)
    assert [t.status for t in tasks] == ["done", "done"]
    calls = box.calls("aliyun")
    images = {c["params"]["ClientToken"] for c in box.emulators["aliyun"].calls if c["action"] == "CreateImage"}
    assert len(images) == 1 and tasks[0].record.image.image_id == tasks[1].record.image.image_id
    assert tasks[0].record.launch.replacement_ids == tasks[1].record.launch.replacement_ids
    launched = [i for i in box.emulators["aliyun"].world.instances.values() if i["id"] not in
                {inst["id"] for r in box.scenario.regions for inst in r.instances}]
    assert len(launched) == 1, calls


def test_two_stores_working_one_aws_event_make_one_fleet(sandbox_factory, test_settings, tmp_path):
    box = sandbox_factory(scenario(cloud="aws"))
    tasks = _in_two_stores(box, test_settings, tmp_path, AWS)
    assert [t.status for t in tasks] == ["done", "done"]
    assert tasks[0].record.launch.replacement_ids == tasks[1].record.launch.replacement_ids
    assert tasks[0].record.image.image_id == tasks[1].record.image.image_id


def test_a_forged_event_gets_the_same_answer_however_busy_the_ticker_is(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    stop = threading.Event()

    def tick_forever():
        while not stop.is_set():
            runner.tick()

    ticker = threading.Thread(target=tick_forever, daemon=True)
    ticker.start()
    try:
        answers = []
        for _ in range(15):
            response = client.post("/events", data=event_bytes("aliyun/forged-not-recycling.json"),
                                   content_type="application/json")
            answers.append((response.status_code, response.get_json()["outcome"]))
    finally:
        stop.set()
        ticker.join(5)
    assert set(answers) == {(200, "rejected")}
    assert not {"CreateImage", "RunInstances"} & set(box.calls("aliyun"))


def test_dry_run_answers_with_the_intended_calls_as_data_and_writes_nothing(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"dry_run": True})
    task = run(client, runner)
    assert task.status == "done" and task.reason.startswith("dry-run")
    verbs = [c["verb"] for c in task.record.intended]
    assert verbs == ["create_image", "acquire_replacement"]
    assert all(c["token"] for c in task.record.intended)
    first = task.record.plan.candidates[0]
    assert task.record.intended[1]["args"]["offerings"][0] == [first.instance_type, first.zone, first.market]
    assert not {"CreateImage", "RunInstances"} & set(box.calls("aliyun"))
    body = client.get(f"/tasks/{task.id}").get_json()
    assert body["intended"] == task.record.intended  # the plan is in the answer, as JSON


def test_a_task_record_survives_the_round_trip_through_the_store(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aws"))
    task = run(client, runner, AWS)
    again = Task(runner.store.get(task.id))
    assert again.record == task.record
    assert json.loads(json.dumps(again.record.to_json())) == task.record.to_json()
    assert again.record.launch.ledger and again.record.launch.ledger[0].offering.instance_type == "m5.large"
    assert event_json(AWS)["detail"]["instance-id"] == again.instance_id
