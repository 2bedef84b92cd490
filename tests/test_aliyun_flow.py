"""End to end on the Aliyun sandbox: the real aliyun SDK signs and sends every call to the ECS
emulator over HTTP. Interruption → verify → CreateImage → probe → RunInstances → Running."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from responder.replace import verify
from responder.replace.runner import TaskRunner
from responder.store import Store, make_engine
from tests.conftest import event_bytes
from tests.scenarios import ALIYUN_TYPES, ALIYUN_ZONES, scenario, sold_out

EVENT = "aliyun/cloudmonitor-interruption.json"
WRITES = {"CreateImage", "RunInstances", "CreateCapacityReservation", "ModifyCapacityReservation"}


def deliver(client, name=EVENT, path="/events", body=None):
    response = client.post(path, data=body if body is not None else event_bytes(name),
                           content_type="application/octet-stream")
    return response.status_code, response.get_json()


def run(client, runner, name=EVENT):
    status, body = deliver(client, name)
    assert status in (200, 202), body
    return runner.run_to_end(body["task"]["id"], timeout=30)


def test_same_type_is_replaced_in_the_same_zone(responder_factory):
    client, runner, box = responder_factory(scenario(offers=[], cloud="aliyun"))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.instance_type == "ecs.g7.large"
    assert task.record.launch.replacement.zone == "cn-hangzhou-i"
    assert task.record.launch.replacement.market == "spot"
    calls = box.calls("aliyun")
    assert calls[:2] == ["DescribeInstances", "CreateImage"]
    assert calls.count("CreateImage") == 1 and calls.count("RunInstances") == 1


def test_sold_out_in_the_zone_goes_to_another_zone_of_the_same_vpc(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))  # the default: g7 spot gone in zone i
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert (task.record.launch.replacement.instance_type, task.record.launch.replacement.zone) == (
        "ecs.g7.large", "cn-hangzhou-j")


def test_same_type_sold_out_everywhere_falls_back_to_a_same_memory_type(responder_factory):
    client, runner, box = responder_factory(scenario(offers=sold_out(["ecs.g7.large"], ALIYUN_ZONES), cloud="aliyun"))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.instance_type == "ecs.g6.large"
    assert task.record.launch.replacement.market == "spot"


def test_spot_sold_out_falls_back_to_on_demand(responder_factory):
    client, runner, box = responder_factory(scenario(offers=sold_out(ALIYUN_TYPES, ALIYUN_ZONES), cloud="aliyun"))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.market == "ondemand"
    assert task.record.launch.replacement.instance_type == "ecs.g7.large"


def test_spot_only_policy_never_buys_on_demand(responder_factory):
    client, runner, box = responder_factory(scenario(offers=sold_out(ALIYUN_TYPES, ALIYUN_ZONES), cloud="aliyun"),
                                            settings={"market_policy": "spot-only"})
    task = run(client, runner)
    assert task.status == "failed" and "no stock" in task.reason
    assert "RunInstances" not in box.calls("aliyun")


def test_everything_sold_out_fails_with_a_clear_reason(responder_factory):
    offers = sold_out(ALIYUN_TYPES, ALIYUN_ZONES) + sold_out(ALIYUN_TYPES, ALIYUN_ZONES, "ondemand")
    client, runner, box = responder_factory(scenario(offers=offers, cloud="aliyun"))
    task = run(client, runner)
    assert task.status == "failed"
    assert "no stock for any candidate" in task.reason
    assert "RunInstances" not in box.calls("aliyun")


def test_stock_that_vanishes_between_probe_and_launch_moves_to_the_next_candidate(responder_factory):
    offers = [{"type": "ecs.g7.large", "zone": "cn-hangzhou-i", "market": "spot", "available": 5}]
    client, runner, box = responder_factory(scenario(offers=offers, cloud="aliyun", image_build_seconds=40))
    status, body = deliver(client)
    assert status == 202 and body["task"]["plan"]["candidates"][0]["zone"] == "cn-hangzhou-i"  # the probe saw stock
    # A competitor buys it all while the image builds.
    assert box.emulators["aliyun"].stock.take("ecs.g7.large", "cn-hangzhou-i", "spot", 5)
    task = runner.run_to_end(body["task"]["id"], timeout=30)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.zone == "cn-hangzhou-j"
    assert box.calls("aliyun").count("RunInstances") == 2
    assert any("cn-hangzhou-i" in r and "NoStock" in r for r in task.record.launch.refusals)


def test_image_create_failed_fails_the_task_with_the_reason(responder_factory):
    client, runner, box = responder_factory(scenario(
        cloud="aliyun", instances={"i-bp1ecr7pz2yq4v5go2go": {"image_result": "CreateFailed"}}))
    task = run(client, runner)
    assert task.status == "failed" and "CreateFailed" in task.reason
    assert "RunInstances" not in box.calls("aliyun")


def test_throttling_backs_off_and_still_replaces(responder_factory):
    faults = [{"action": "CreateImage", "code": "Throttling", "times": 1},
              {"action": "RunInstances", "code": "Throttling", "times": 2}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=faults))
    task = run(client, runner)
    assert task.status == "done", task.reason
    calls = box.calls("aliyun")
    assert calls.count("CreateImage") == 2 and calls.count("RunInstances") == 3
    assert len({i for i in task.record.launch.replacement_ids}) == 1


def test_twenty_concurrent_duplicate_deliveries_make_one_image_and_one_replacement(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    app = client.application
    answers, barrier = [], threading.Barrier(20)

    def send(i):
        barrier.wait()
        with app.test_client() as c:
            name = EVENT if i % 2 else "aliyun/eventbridge-interruption.json"
            answers.append(deliver(c, name))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(status in (200, 202) for status, _ in answers)
    task_ids = {body["task"]["id"] for _, body in answers}
    assert len(task_ids) == 1
    assert sum(body["duplicate"] for _, body in answers) == 19
    task = runner.run_to_end(task_ids.pop(), timeout=30)
    assert task.status == "done"
    calls = box.calls("aliyun")
    assert calls.count("CreateImage") == 1 and calls.count("RunInstances") == 1
    assert task.deliveries == 20


@pytest.mark.parametrize("name,words", [
    ("aliyun/forged-not-recycling.json", "not marked for reclamation"),
    ("aliyun/forged-not-preemptible.json", "not preemptible"),
    ("aliyun/forged-not-found.json", "not found"),
])
def test_forged_events_are_rejected_and_create_nothing(responder_factory, name, words):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    status, body = deliver(client, name)
    assert status == 200 and body["outcome"] == "rejected"
    assert words in body["task"]["reason"]
    assert not WRITES & set(box.calls("aliyun"))


def test_a_rejected_forgery_does_not_block_the_real_event_later(responder_factory, monkeypatch):
    monkeypatch.setattr(verify, "RECHECK_SECONDS", 0.5)  # "not marked yet" stands 30 s; the test waits less
    client, runner, box = responder_factory(scenario(cloud="aliyun", instances={
        "i-bp1ecr7pz2yq4v5go2go": {"locks": []}}))
    _, first = deliver(client)
    assert first["outcome"] == "rejected"
    emulator = box.emulators["aliyun"]
    emulator.world.instances["i-bp1ecr7pz2yq4v5go2go"]["locks"] = ["Recycling"]  # now the cloud reclaims it
    _, second = deliver(client)  # within the verdict's time: its answer, and no second read now...
    assert second["outcome"] == "rejected" and box.calls("aliyun").count("DescribeInstances") == 1
    time.sleep(0.6)
    assert runner.tick() == 1  # ...but once it lapses, the ticker reads the instance again
    task = runner.run_to_end(first["task"]["id"], timeout=30)
    assert task.status == "done" and task.deliveries == 2
    _, later = deliver(client)  # copies after that find the live task
    assert later["outcome"] == "duplicate"


def test_allow_lists_and_tag_selector_reject_without_writes(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"),
                                            settings={"allowed_accounts": ("999",)})
    _, body = deliver(client)
    assert body["outcome"] == "rejected" and "allowed accounts" in body["task"]["reason"]
    assert box.calls("aliyun") == []
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"tag_selector": (("team", "ml"),)})
    _, body = deliver(client)
    assert body["outcome"] == "rejected" and "team=ml" in body["task"]["reason"]
    assert not WRITES & set(box.calls("aliyun"))


def test_a_new_process_on_the_same_store_resumes_an_unfinished_task(responder_factory, test_settings):
    client, runner, box = responder_factory(scenario(cloud="aliyun", image_build_seconds=20))
    status, body = deliver(client)
    assert status == 202 and body["task"]["status"] == "imaging"
    # The first process dies here. A new one, with its own store connection, picks the task up.
    successor = TaskRunner(Store(test_settings.database_url), box.clouds, test_settings)
    task = successor.run_to_end(body["task"]["id"], timeout=30)
    assert task.status == "done", task.reason
    calls = box.calls("aliyun")
    assert calls.count("CreateImage") == 1 and calls.count("RunInstances") == 1


def test_both_shapes_and_arrays_over_invoke_and_events(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    status, body = deliver(client, "aliyun/eventbridge-batch.json", path="/invoke")
    assert status == 202
    assert [r["outcome"] for r in body["results"]] == ["accepted", "duplicate"]
    status, ignored = deliver(client, "aliyun/ignored-other-event.json", path="/invoke")
    assert status == 200 and ignored["outcome"] == "ignored"
    assert runner.run_to_end(body["results"][0]["task"]["id"], timeout=30).status == "done"
    assert client.get(f"/tasks/{body['results'][0]['task']['id']}").get_json()["status"] == "done"
    assert len(client.get("/tasks").get_json()["tasks"]) == 1


BAD_BODIES = [
    ("not JSON", b"{oops", 400),
    ("empty", b"", 400),
    ("array of numbers", b"[1,2,3]", 400),
    ("unknown shape", b'{"hello":"world"}', 400),
    ("missing instance id", event_bytes("invalid/missing-instance-id.json"), 400),
    ("wrong type", event_bytes("invalid/wrong-type-instance-id.json"), 400),
    ("region mismatch", event_bytes("invalid/region-mismatch.json"), 400),
    ("path-like instance id", event_bytes("invalid/bad-instance-id-format.json"), 400),
    ("too large", b'{"x":"' + b"a" * 300_000 + b'"}', 413),
]


@pytest.mark.parametrize("path", ["/events", "/invoke"])
@pytest.mark.parametrize("label,body,status", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_gets_a_4xx_naming_the_problem_and_costs_nothing(responder_factory, path, label, body, status):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    response = client.post(path, data=body, content_type="application/octet-stream")
    assert response.status_code == status
    assert response.get_json()["error"]
    assert "x-fc-status" not in response.headers  # never retried
    assert box.calls("aliyun") == []
    assert runner.store.list() == []


def test_invoke_logs_fc_start_and_end_lines(responder_factory, caplog):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    fc_logger = logging.getLogger("responder.fc")  # bare lines of its own; the WSGI entry stops propagation
    fc_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="responder.fc"):
            client.post("/invoke", data=event_bytes(EVENT), headers={"x-fc-request-id": "req-123"})
    finally:
        fc_logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records]
    assert "FC Invoke Start RequestId: req-123" in messages and "FC Invoke End RequestId: req-123" in messages


def test_store_down_is_503_with_x_fc_status_so_fc_retries(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    runner.store.engine.dispose()
    runner.store.engine = make_engine("mysql+pymysql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    response = client.post("/invoke", data=event_bytes(EVENT))
    assert response.status_code == 503
    assert response.headers["x-fc-status"] == "404"
    assert client.get("/healthz").status_code == 503


def test_token_is_required_on_events_when_configured(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"auth_token": "s3cret"})
    assert client.post("/events", data=event_bytes(EVENT)).status_code == 401
    assert box.calls("aliyun") == []
    ok = client.post("/events", data=event_bytes(EVENT), headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 202


def test_dry_run_plans_without_writing(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"dry_run": True})
    _, body = deliver(client)
    assert body["task"]["status"] == "done" and body["task"]["reason"].startswith("dry-run: would image")
    assert not WRITES & set(box.calls("aliyun"))


def test_launch_cap_stops_buying(responder_factory):
    # RESPONDER_IMAGE_WHEN_CAPPED=no: the cap is asked before the image (the default images first:
    # tests/test_image_when_capped.py).
    client, runner, box = responder_factory(scenario(cloud="aliyun"),
                                            settings={"max_launches_per_hour": 0, "image_when_capped": False})
    _, body = deliver(client)
    assert body["task"]["status"] == "failed" and "RESPONDER_MAX_LAUNCHES_PER_HOUR" in body["task"]["reason"]
    assert body["task"]["reason"].startswith("capped: no image, no launch")
    assert not WRITES & set(box.calls("aliyun"))


def test_the_launch_cap_is_checked_again_where_the_money_is_spent(responder_factory):
    # Two interruptions arrive together under a cap of one: both pass the early check while
    # nothing has launched yet; only one may buy.
    client, runner, box = responder_factory(scenario(cloud="aliyun", instances={
        "i-bp1healthy0000000000": {"locks": ["Recycling"]}}), settings={"max_launches_per_hour": 1})
    first = client.post("/events", data=event_bytes(EVENT)).get_json()
    second = client.post("/events", data=event_bytes("aliyun/forged-not-recycling.json")).get_json()
    assert first["task"]["status"] == second["task"]["status"] == "imaging"
    outcomes = [runner.run_to_end(b["task"]["id"], timeout=30) for b in (first, second)]
    assert [t.status for t in outcomes] == ["done", "failed"]
    assert "RESPONDER_MAX_LAUNCHES_PER_HOUR" in outcomes[1].reason
    assert box.calls("aliyun").count("RunInstances") == 1


def test_an_event_for_an_unconfigured_cloud_answers_unconfigured_and_stores_nothing(responder_factory):
    # A 503 would be redelivered forever: no retry adds a credential (tests/test_deploy_unconfigured.py).
    client, runner, box = responder_factory(scenario(cloud="aliyun"))  # no AWS cloud in this runtime
    response = client.post("/invoke", data=event_bytes("aws/spot-interruption-warning.json"))
    assert response.status_code == 200 and response.get_json()["outcome"] == "unconfigured"
    assert "x-fc-status" not in response.headers
    assert runner.store.list() == [] and box.calls("aliyun") == []
