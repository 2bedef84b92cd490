"""Notifications and metrics from whole flows on the sandbox clouds (real SDKs on the wire):
what a replacement, a forged event and a sold-out hunt send, and what /metrics and /healthz show.

Parts: a notifying responder (the sandbox plus a receiver channel), and the tests.
"""

from __future__ import annotations

import re

import pytest

from notify_receiver import receiver  # noqa: F401 - the fixture
from tests.conftest import event_bytes
from tests.scenarios import scenario
from tests.test_aws_flow import lambda_env  # noqa: F401 - the fixture

EVENT = "aliyun/cloudmonitor-interruption.json"


@pytest.fixture
def notifying(responder_factory, receiver):
    def build(**scenario_args):
        client, runner, box = responder_factory(scenario(**scenario_args),
                                                # The daily report is its own test (a fixed clock): here it would depend on the hour.
                                                settings={"notify_urls": (f"{receiver.base}/hook",), "notify_daily_at": "off"})
        return client, runner, box, client.application.extensions["responder"]["notifier"]
    return build


def test_a_replacement_sends_started_interruption_and_replaced_with_old_and_new_offerings(notifying, receiver):
    client, runner, box, notifier = notifying(offers=[], cloud="aliyun")
    answer = client.post("/events", data=event_bytes(EVENT))
    task = runner.run_to_end(answer.get_json()["task"]["id"], timeout=60)
    assert task.status == "done", task.reason
    notifier.tick()
    kinds = [r.json()["kind"] for r in receiver.requests]
    assert kinds == ["started", "interruption", "replaced"]
    replaced = receiver.requests[-1].json()["fields"]
    assert (replaced["old_type"], replaced["new_type"], replaced["new_market"]) == ("ecs.g7.large",) * 2 + ("spot",)
    assert replaced["data_kept"] is True and replaced["gap_seconds"] is not None
    assert replaced["replacement_ids"] == task.record.launch.replacement_ids
    assert "ecs.g7.large cn-hangzhou-i spot → ecs.g7.large" in receiver.requests[-1].json()["text"]


def test_a_forged_event_sends_one_rejected_notice_and_no_interruption(notifying, receiver):
    client, runner, box, notifier = notifying(cloud="aliyun")
    answer = client.post("/events", data=event_bytes("aliyun/forged-not-recycling.json"))
    assert answer.get_json()["outcome"] == "rejected"
    notifier.tick()
    sent = [r.json() for r in receiver.requests if r.json()["kind"] != "started"]
    assert [s["kind"] for s in sent] == ["rejected"]
    assert "security signal" in sent[0]["text"] and sent[0]["fields"]["reason"]


def test_metrics_count_calls_milestones_and_tasks_and_healthz_shows_channels(notifying, receiver):
    client, runner, box, notifier = notifying(offers=[], cloud="aliyun")
    answer = client.post("/events", data=event_bytes(EVENT))
    runner.run_to_end(answer.get_json()["task"]["id"], timeout=60)
    notifier.tick()
    text = client.get("/metrics").get_data(as_text=True)

    def value(series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        assert match, f"{series} not in /metrics"
        return float(match.group(1))

    assert value('responder_cloud_api_calls_total{action="create_image",cloud="aliyun",result="ok"}') == 1
    assert value('responder_cloud_api_calls_total{action="launch",cloud="aliyun",result="ok"}') == 1
    for histogram in ("receipt_to_image_requested", "receipt_to_launch_issued", "receipt_to_running",
                      "replacement_gap"):
        assert value(f'responder_{histogram}_seconds_count{{cloud="aliyun"}}') == 1
    assert value('responder_tasks{status="done"}') == 1
    channel = notifier.channels[0].name
    assert value(f'responder_notifications_sent_total{{channel="{channel}"}}') == 3
    assert value(f'responder_notification_channel_failing{{channel="{channel}"}}') == 0
    health = client.get("/healthz").get_json()
    assert health["notifications"][channel]["status"] == "ok"
    assert receiver.base not in client.get("/healthz").get_data(as_text=True)


def test_a_no_capacity_answer_is_counted_by_the_offering_asked_for_and_passed_on_unchanged():
    from responder.errors import NoCapacity
    from responder.metrics import CountingCloud, Metrics
    from responder.model import Market, Offering

    class SoldOut:  # a port whose every reservation is sold out (no SDK involved)
        capabilities = ("reserve",)

        def create_reservation(self, region, offering, count, client_token, **kwargs):
            raise NoCapacity("InsufficientInstanceCapacity", "sold out")

    metrics = Metrics()
    cloud = CountingCloud(SoldOut(), "aws", metrics)
    with pytest.raises(NoCapacity):
        cloud.create_reservation("us-east-2", Offering("m5.large", "us-east-2a", Market.ONDEMAND), 2, "tok")
    assert cloud.capabilities == ("reserve",)
    text = metrics.render().decode()
    assert 'responder_capacity_errors_total{instance_type="m5.large",market="ondemand",zone="us-east-2a"} 1.0' in text
    assert 'responder_cloud_api_calls_total{action="create_reservation",cloud="aws",result="no_capacity"} 1.0' in text


def test_a_lambda_invocation_delivers_its_own_notifications_before_it_returns(lambda_env, monkeypatch, receiver):
    from handlers import lambda_function
    from tests.conftest import event_json
    from tests.test_aws_flow import WARNING, FakeLambdaContext

    monkeypatch.setenv("RESPONDER_NOTIFY_URLS", f"{{kinds=interruption+replaced}}{receiver.base}/hook")
    lambda_function.reset()
    result = lambda_function.lambda_handler(event_json(WARNING), FakeLambdaContext(seconds=60 + 15))
    assert result["statusCode"] == 202
    assert [r.json()["kind"] for r in receiver.requests] == ["interruption", "replaced"]


def test_forged_events_repeated_within_an_hour_send_one_rejected_notice(notifying, receiver):
    client, runner, box, notifier = notifying(cloud="aliyun")
    for _ in range(3):
        assert client.post("/events", data=event_bytes("aliyun/forged-not-recycling.json")).get_json()["outcome"] \
            == "rejected"
    notifier.tick()
    assert [r.json()["kind"] for r in receiver.requests].count("rejected") == 1
