"""What a replacement cost, end to end on the sandbox (real SDKs on the wire, the shipped policies
enforced): the scenario's prices flow into the task record (the original's and what was bought:
spot, and an on-demand fallback), into the daily report and /metrics; a throttled or refused
price read leaves the task done with the price unknown."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from responder.notify.daily import daily_report
from tests.conftest import event_bytes
from tests.scenarios import ALIYUN_TYPES, ALIYUN_ZONES, scenario, sold_out

ALIYUN_EVENT = "aliyun/cloudmonitor-interruption.json"
AWS_EVENT = "aws/spot-interruption-warning.json"
AWS_ZONES = ["us-east-2a", "us-east-2b", "us-east-2c"]
AWS_TYPES = ["m5.large", "m6i.large", "m7i.large", "c5.xlarge", "r5.large", "m6g.large"]


def run(client, runner, name):
    response = client.post("/events", data=event_bytes(name), content_type="application/octet-stream")
    assert response.status_code in (200, 202), response.get_json()
    task = runner.run_to_end(response.get_json()["task"]["id"], timeout=60)
    assert task.status == "done", task.reason
    return task


def test_aliyun_spot_replacement_records_both_spot_prices_from_describe_price(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))  # g7 spot gone in zone i: bought in j
    costs = run(client, runner, ALIYUN_EVENT).record.costs
    o, b = costs.original, costs.bought
    assert (o.instance_type, o.zone, o.market, o.hourly, o.currency) == ("ecs.g7.large", "cn-hangzhou-i", "spot",
                                                                         0.12, "CNY")
    assert (b.instance_type, b.zone, b.market, b.hourly, b.currency) == ("ecs.g7.large", "cn-hangzhou-j", "spot",
                                                                         0.14, "CNY")
    assert o.source == b.source == "DescribePrice" and b.read_at is not None
    assert costs.since is not None and costs.count == 1 and costs.instance_ids
    prices = [c for c in box.emulators["aliyun"].calls if c["action"] == "DescribePrice"]
    assert {c["params"]["SpotStrategy"] for c in prices} == {"SpotAsPriceGo"}
    assert all(c["status"] == 200 for c in prices)


def test_aliyun_on_demand_fallback_is_priced_and_reported_as_a_fallback(responder_factory):
    client, runner, box = responder_factory(scenario(offers=sold_out(ALIYUN_TYPES, ALIYUN_ZONES), cloud="aliyun"))
    costs = run(client, runner, ALIYUN_EVENT).record.costs
    assert (costs.original.market, costs.original.hourly) == ("spot", 0.12)
    assert (costs.bought.market, costs.bought.hourly, costs.bought.currency) == ("ondemand", 0.79, "CNY")

    end = datetime.fromtimestamp(time.time() + 3600, timezone.utc)  # the report's day ends an hour after the buy
    fields = daily_report(runner.store, end).fields
    assert fields["fallback_cost"].startswith("1 priced: 0.79 CNY in 24 h; 0.79 CNY per hour")
    assert fields["replacement_cost"].startswith("1 priced: 0.79 CNY in 24 h")
    assert "prices_unknown" not in fields and "revert_cost" not in fields

    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'responder_purchase_hourly_cost\{currency="CNY",kind="fallback"\} 0\.79', text), text
    assert re.search(r'responder_purchase_hourly_cost\{currency="CNY",kind="replacement"\} 0\.79', text)
    assert re.search(r"responder_purchase_prices_unknown 0\.0", text)


def test_aws_spot_replacement_reads_the_spot_price_history_and_no_price_list(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aws"))
    costs = run(client, runner, AWS_EVENT).record.costs
    assert (costs.original.instance_type, costs.original.market, costs.original.hourly) == ("m5.large", "spot", 0.036)
    assert costs.bought.market == "spot" and costs.bought.hourly == 0.036 and costs.bought.currency == "USD"
    assert costs.bought.source == "DescribeSpotPriceHistory"
    assert "GetProducts" not in box.calls("aws")


def test_aws_on_demand_fallback_reads_the_price_list_under_the_shipped_policy(responder_factory):
    client, runner, box = responder_factory(scenario(offers=sold_out(AWS_TYPES, AWS_ZONES), cloud="aws"))
    task = run(client, runner, AWS_EVENT)
    costs = task.record.costs
    assert costs.bought.market == "ondemand" and costs.bought.source == "GetProducts"
    assert costs.bought.hourly == 0.12 and costs.original.hourly == 0.036
    answered = [c for c in box.emulators["aws"].calls if c["action"] == "GetProducts"]
    assert answered and all(c["status"] == 200 for c in answered)
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'responder_purchase_hourly_cost\{currency="USD",kind="fallback"\} 0\.12', text), text


def test_a_throttled_price_read_leaves_the_task_done_with_the_price_unknown(responder_factory):
    throttled = [{"action": "DescribePrice", "code": "Throttling", "times": 100}]
    client, runner, box = responder_factory(scenario(cloud="aliyun", faults=throttled))
    task = run(client, runner, ALIYUN_EVENT)
    assert task.record.launch.replacement_ids  # the replacement runs whatever the price read said
    costs = task.record.costs
    assert costs.bought.hourly is None and costs.bought.unknown == "Throttling"
    assert costs.original.hourly is None and costs.original.unknown == "Throttling"
    fields = daily_report(runner.store, datetime.fromtimestamp(time.time() + 60, timezone.utc)).fields
    assert fields["prices_unknown"] == 1 and "replacement_cost" not in fields
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"responder_purchase_prices_unknown 1\.0", text), text


def test_a_failed_price_list_read_leaves_the_on_demand_price_unknown(responder_factory):
    failing = [{"action": "GetProducts", "code": "ThrottlingException", "times": 100}]
    client, runner, box = responder_factory(scenario(offers=sold_out(AWS_TYPES, AWS_ZONES), cloud="aws",
                                                     faults=failing))
    costs = run(client, runner, AWS_EVENT).record.costs
    assert costs.bought.hourly is None and costs.bought.unknown == "ThrottlingException"
    assert costs.original.hourly == 0.036  # the spot price history still answered
