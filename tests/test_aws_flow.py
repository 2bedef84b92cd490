"""End to end on the AWS sandbox: boto3 signs and sends every call to moto (extended with what it
lacks) over HTTP. Spot warning → verify → CreateImage → rank by placement score → one CreateFleet
with the ranked overrides → Running → Elastic IP moved."""

from __future__ import annotations

import json
import threading

import pytest

from handlers import lambda_function
from responder.store import Store
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from tests.conftest import event_bytes, event_json
from tests.scenarios import scenario, sold_out

WARNING = "aws/spot-interruption-warning.json"
REBALANCE = "aws/rebalance-recommendation.json"
AWS_ZONES = ["us-east-2a", "us-east-2b", "us-east-2c"]
WRITES = {"CreateImage", "CreateFleet", "RunInstances", "CreateCapacityReservation", "AssociateAddress"}


def deliver(client, name=WARNING, path="/events"):
    response = client.post(path, data=event_bytes(name), content_type="application/json")
    return response.status_code, response.get_json()


def run(client, runner, name=WARNING):
    status, body = deliver(client, name)
    assert status in (200, 202), body
    return runner.run_to_end(body["task"]["id"], timeout=60)


def aws(**kw):
    return scenario(cloud="aws", **kw)


def test_same_type_is_replaced_with_one_fleet_call_and_the_elastic_ip_moves(responder_factory):
    client, runner, box = responder_factory(aws(offers=[]))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.instance_type == "m5.large"
    calls = box.calls("aws")
    assert calls.index("CreateImage") < calls.index("CreateFleet")
    assert calls.count("CreateImage") == 1 and calls.count("CreateFleet") == 1
    assert task.record.launch.elastic_ip_moved is True and "AssociateAddress" in calls


def test_spot_sold_out_in_the_zone_is_refused_by_the_fleet_and_another_zone_wins(responder_factory):
    client, runner, box = responder_factory(aws())  # default: m5.large spot gone in us-east-2a
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.zone != "us-east-2a"
    assert box.calls("aws").count("CreateFleet") == 1


def test_same_type_sold_out_everywhere_goes_to_another_family(responder_factory):
    client, runner, box = responder_factory(aws(offers=sold_out(["m5.large"], AWS_ZONES)))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.instance_type in ("m6i.large", "m7i.large")
    assert task.record.launch.replacement.market == "spot"


def test_spot_gone_everywhere_falls_back_to_on_demand(responder_factory):
    types = ["m5.large", "m6i.large", "m7i.large", "c5.xlarge", "r5.large", "m6g.large"]
    client, runner, box = responder_factory(aws(offers=sold_out(types, AWS_ZONES)))
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement.market == "ondemand"


def test_rebalance_replace_acts_before_the_warning_and_retires_the_original(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"rebalance_policy": "replace",
                                                             "rebalance_retire_delay_seconds": 0.0})
    task = run(client, runner, REBALANCE)
    assert task.status == "done", task.reason
    assert task.kind == "rebalance" and task.record.launch.replacement_ids and task.record.launch.retired
    calls = box.calls("aws")
    assert calls.index("CreateFleet") < calls.index("TerminateInstances")
    original = event_json(REBALANCE)["detail"]["instance-id"]
    assert box.clouds["aws"].instance_states("us-east-2", [original])[original] in ("shutting-down", "terminated")


def test_rebalance_replace_without_retiring_keeps_the_original(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"rebalance_policy": "replace", "rebalance_retire": False})
    task = run(client, runner, REBALANCE)
    assert task.status == "done" and not task.record.launch.retired
    assert "TerminateInstances" not in box.calls("aws")


def test_rebalance_by_default_takes_an_image_and_the_real_warning_launches_from_it(responder_factory):
    client, runner, box = responder_factory(aws())
    rebalance = event_json(REBALANCE)
    rebalance["detail"]["instance-id"] = event_json(WARNING)["detail"]["instance-id"]  # the doomed instance
    response = client.post("/events", data=json.dumps(rebalance), content_type="application/json")
    task = runner.run_to_end(response.get_json()["task"]["id"], timeout=60)
    assert task.status == "done" and "image-only" in task.reason and not task.record.launch.replacement_ids
    image_id = task.record.image.image_id
    assert "CreateFleet" not in box.calls("aws")
    task = run(client, runner, "aws/spot-interruption-warning.json")
    assert task.status == "done", task.reason
    assert task.record.image.image_id == image_id and task.record.launch.replacement_ids
    calls = box.calls("aws")
    assert calls.count("CreateImage") == 1 and calls.count("CreateFleet") == 1


def test_rebalance_image_only_takes_an_image_and_launches_nothing(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"rebalance_policy": "image-only"})
    task = run(client, runner, REBALANCE)
    assert task.status == "done" and "image-only" in task.reason
    assert "CreateImage" in box.calls("aws") and "CreateFleet" not in box.calls("aws")


def test_rebalance_ignore_is_acknowledged_without_a_call(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"rebalance_policy": "ignore"})
    status, body = deliver(client, REBALANCE)
    assert status == 200 and body["outcome"] == "ignored"
    assert box.calls("aws") == []


def test_a_warning_for_an_instance_whose_spot_request_is_not_marked_is_rejected(responder_factory):
    client, runner, box = responder_factory(aws(instances={"i-1234567890abcdef0": {"spot_request_state": "fulfilled"}}))
    status, body = deliver(client)
    assert body["outcome"] == "rejected" and "not marked" in body["task"]["reason"]
    assert not WRITES & set(box.calls("aws"))


def test_a_warning_for_an_unknown_instance_or_account_is_rejected(responder_factory):
    client, runner, box = responder_factory(aws())
    forged = event_json(WARNING)
    forged["detail"]["instance-id"] = "i-0fffffffffffffff0"
    body = client.post("/events", json=forged).get_json()
    assert body["outcome"] == "rejected" and "not found" in body["task"]["reason"]
    other = event_json(WARNING)
    other["account"] = "999999999999"
    body = client.post("/events", json=other).get_json()
    assert body["outcome"] == "rejected" and "belongs to account" in body["task"]["reason"]
    assert not WRITES & set(box.calls("aws"))


def test_state_change_and_health_events_are_acknowledged_and_noted(responder_factory):
    client, runner, box = responder_factory(aws())
    status, body = deliver(client, "aws/state-change-terminated.json")
    assert status == 200 and body["outcome"] == "ignored" and body["reason"] == "no task for this instance"
    _, first = deliver(client)
    writes_before = [c for c in box.calls("aws") if c in WRITES]
    status, noted = deliver(client, "aws/state-change-terminated.json")
    assert status == 200 and noted["outcome"] == "noted" and noted["task"]["id"] == first["task"]["id"]
    assert Task(runner.store.get(first["task"]["id"])).record.original_terminated_at > 0
    status, health = deliver(client, "aws/health-scheduled-change.json")
    assert status == 200 and health["outcome"] == "noted"
    assert [c for c in box.calls("aws") if c in WRITES] == writes_before  # acknowledging buys nothing


def test_twenty_concurrent_duplicates_make_one_image_and_one_fleet(responder_factory):
    client, runner, box = responder_factory(aws())
    app, answers, barrier = client.application, [], threading.Barrier(20)

    def send():
        barrier.wait()
        with app.test_client() as c:
            answers.append(deliver(c))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = {body["task"]["id"] for _, body in answers}
    assert len(ids) == 1 and sum(body["duplicate"] for _, body in answers) == 19
    assert runner.run_to_end(ids.pop(), timeout=60).status == "done"
    calls = box.calls("aws")
    assert calls.count("CreateImage") == 1 and calls.count("CreateFleet") == 1


def test_restart_mid_task_resumes_without_a_second_image_or_fleet(responder_factory, test_settings):
    client, runner, box = responder_factory(aws(image_build_seconds=40))
    status, body = deliver(client)
    assert status == 202 and body["task"]["status"] == "imaging"
    successor = TaskRunner(Store(test_settings.database_url), box.clouds, test_settings)
    task = successor.run_to_end(body["task"]["id"], timeout=60)
    assert task.status == "done", task.reason
    calls = box.calls("aws")
    assert calls.count("CreateImage") == 1 and calls.count("CreateFleet") == 1


@pytest.mark.parametrize("body,words", [
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us-east-2"}',
     "missing detail"),
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us-east-2", '
     b'"detail": {"instance-id": 5}}', "must be a string"),
    (b'{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning", "region": "us east", '
     b'"detail": {"instance-id": "i-1234567890abcdef0"}}', "not a valid region id"),
    (b'{"source": 3, "detail-type": "x"}', "source must be a string"),
])
def test_bad_aws_bodies_are_400_and_cost_nothing(responder_factory, body, words):
    client, runner, box = responder_factory(aws())
    response = client.post("/events", data=body)
    assert response.status_code == 400 and words in response.get_json()["error"]
    assert box.calls("aws") == []


class FakeLambdaContext:
    """Lambda's context object: only the fields the handler reads."""

    aws_request_id = "lambda-req-1"

    def __init__(self, seconds: float):
        import time

        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        import time

        return int((self._deadline - time.monotonic()) * 1000)


@pytest.fixture
def lambda_env(monkeypatch, sandbox_factory, tmp_path):
    box = sandbox_factory(aws())
    monkeypatch.setenv("RESPONDER_AWS_ENDPOINT_URL", box.emulators["aws"].endpoint_url)
    monkeypatch.setenv("RESPONDER_DATABASE_URL", f"sqlite:///{tmp_path}/lambda.db")
    monkeypatch.setenv("RESPONDER_ALLOW_LOCAL_SQLITE", "true")  # one test process is one container
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sandbox-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    lambda_function.reset()
    yield box
    lambda_function.reset()


def test_lambda_handler_replaces_within_the_invocation(lambda_env):
    result = lambda_function.lambda_handler(event_json(WARNING), FakeLambdaContext(seconds=60 + 15))
    assert result["statusCode"] == 202 and result["outcome"] == "accepted"
    task = lambda_function._get_runner().store.get(result["task"]["id"])
    assert task.status == "done", task.reason
    assert lambda_env.calls("aws").count("CreateFleet") == 1


def test_lambda_handler_answers_bad_input_without_raising(lambda_env):
    result = lambda_function.lambda_handler({"hello": "world"}, FakeLambdaContext(seconds=20))
    assert result["statusCode"] == 400 and "unknown payload shape" in result["error"]
    assert lambda_env.calls("aws") == []


def test_lambda_handler_raises_when_the_store_is_down_so_lambda_retries(lambda_env, monkeypatch):
    monkeypatch.setenv("RESPONDER_DATABASE_URL", "mysql+pymysql://nobody@127.0.0.1:1/none")
    lambda_function.reset()
    with pytest.raises(Exception):
        lambda_function.lambda_handler(event_json(WARNING), FakeLambdaContext(seconds=20))
    assert lambda_env.calls("aws") == []


def test_reserve_policy_holds_an_odcr_instead_of_launching(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"aws_action": "reserve"})
    task = run(client, runner)
    assert task.status == "done", task.reason
    reservation = task.record.reservation.reserved
    assert reservation.reservation_id.startswith("cr-") and reservation.count == 1
    calls = box.calls("aws")
    assert "CreateFleet" not in calls and calls.count("CreateCapacityReservation") == 1
    described = box.clouds["aws"].describe_reservation("us-east-2", reservation.reservation_id)
    assert (described.instance_type, described.total) == (reservation.instance_type, 1)


def test_both_policy_launches_and_reserves_where_the_replacement_runs(responder_factory):
    client, runner, box = responder_factory(aws(), settings={"aws_action": "both"})
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert task.record.launch.replacement_ids
    assert (task.record.reservation.reserved.instance_type, task.record.reservation.reserved.zone) == (
        task.record.launch.replacement.instance_type, task.record.launch.replacement.zone)


TWO_DOOMED = {"i-0b662ef9931388ba0": {"spot_request_state": "marked-for-termination"}}


def _warning_for(instance_id: str) -> str:
    body = event_json(WARNING)
    body["detail"]["instance-id"] = instance_id
    return json.dumps(body)


def test_the_money_cap_holds_in_reserve_mode(responder_factory):
    """A cap of one spend per hour: two interruptions, one reservation, and the second task says why."""
    client, runner, box = responder_factory(aws(instances=TWO_DOOMED),
                                            settings={"aws_action": "reserve", "max_launches_per_hour": 1})
    ids = [client.post("/events", data=_warning_for(i), content_type="application/json").get_json()["task"]["id"]
           for i in ("i-1234567890abcdef0", "i-0b662ef9931388ba0")]
    tasks = [runner.run_to_end(i, timeout=60) for i in ids]
    assert sorted(t.status for t in tasks) == ["done", "failed"]
    assert "RESPONDER_MAX_LAUNCHES_PER_HOUR" in next(t.reason for t in tasks if t.status == "failed")
    assert box.calls("aws").count("CreateCapacityReservation") == 1


def test_launch_and_reservation_of_one_event_are_bounded_by_the_per_event_cap(responder_factory):
    """`both` under a per-event cap of one: the replacement is bought, the reservation is not, and
    the task says so (done: the capacity that matters runs)."""
    client, runner, box = responder_factory(aws(), settings={"aws_action": "both", "max_spend_per_event": 1})
    task = run(client, runner)
    assert task.status == "done" and task.record.launch.replacement_ids
    assert "no reservation" in task.reason and "RESPONDER_MAX_SPEND_PER_EVENT" in task.reason
    assert task.record.reservation.reserved is None
    assert "CreateCapacityReservation" not in box.calls("aws")


def test_the_on_demand_fallback_is_a_spend_the_hourly_cap_counts(responder_factory):
    spot_gone = sold_out(["m5.large", "m6i.large", "m7i.large", "c5.xlarge"], AWS_ZONES)
    client, runner, box = responder_factory(aws(offers=spot_gone, instances=TWO_DOOMED),
                                            settings={"max_launches_per_hour": 1})
    ids = [client.post("/events", data=_warning_for(i), content_type="application/json").get_json()["task"]["id"]
           for i in ("i-1234567890abcdef0", "i-0b662ef9931388ba0")]
    tasks = [runner.run_to_end(i, timeout=60) for i in ids]
    done = [t for t in tasks if t.status == "done"]
    assert len(done) == 1 and done[0].record.launch.replacement.market == "ondemand"
    assert "RESPONDER_MAX_LAUNCHES_PER_HOUR" in next(t.reason for t in tasks if t.status == "failed")
