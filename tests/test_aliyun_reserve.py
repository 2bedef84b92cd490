"""RESPONDER_ALIYUN_ACTION=reserve|both on the Aliyun sandbox (real SDK): an interruption buys a
capacity reservation (private pool) through the same engine and money caps as AWS's ODCRs."""

from __future__ import annotations

from responder.capacity.tokens import token_for
from responder.model import Market, Offering
from tests.conftest import event_bytes
from tests.scenarios import scenario
from tests.test_aliyun_flow import EVENT, deliver, run

REGION = "cn-hangzhou"


def _creates(box) -> list[dict]:
    return [c for c in box.emulators["aliyun"].calls if c["action"] == "CreateCapacityReservation"]


def test_reserve_makes_a_capacity_reservation_instead_of_a_replacement(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"aliyun_action": "reserve"})
    task = run(client, runner)
    assert task.status == "done", task.reason
    assert "RESPONDER_ALIYUN_ACTION=reserve" in task.reason
    reserved = task.record.reservation.reserved
    assert reserved.reservation_id.startswith("crp-") and reserved.count == 1
    assert "RunInstances" not in box.calls("aliyun")
    described = box.clouds["aliyun"].describe_reservation(REGION, reserved.reservation_id)
    assert (described.instance_type, described.zone, described.total) == (
        reserved.instance_type, reserved.zone, 1)
    # the token comes from the claim key: a redelivery, a retry or a restart sends the same one
    creates = _creates(box)
    assert len(creates) == 1
    assert creates[0]["params"]["ClientToken"].startswith(token_for(task.key, "reserve")[:20])
    # the same event delivered again buys nothing
    status, body = deliver(client)
    assert status in (200, 202) and body["task"]["id"] == task.id
    runner.run_to_end(task.id, timeout=30)
    assert len(_creates(box)) == 1


def test_a_reservation_call_sent_again_returns_the_same_pool(responder_factory):
    """What a lost answer leaves: the engine re-sends its saved token, ECS answers with the pool it made."""
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"aliyun_action": "reserve"})
    task = run(client, runner)
    sent = _creates(box)[0]["params"]
    reserved = task.record.reservation.reserved
    again = box.clouds["aliyun"].create_reservation(
        REGION, Offering(reserved.instance_type, reserved.zone, Market.ONDEMAND), 1, sent["ClientToken"],
        tags=(("responder:replaces", task.instance_id), ("responder:claim", task.key)))
    assert again.reservation_id == reserved.reservation_id
    assert len(box.clouds["aliyun"].list_reservations(REGION)) == 1


def test_both_launches_and_reserves_where_the_replacement_runs(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"), settings={"aliyun_action": "both"})
    task = run(client, runner)
    assert task.status == "done", task.reason
    launched, reserved = task.record.launch.replacement, task.record.reservation.reserved
    assert task.record.launch.replacement_ids and reserved is not None
    assert (reserved.instance_type, reserved.zone) == (launched.instance_type, launched.zone)
    calls = box.calls("aliyun")
    assert calls.count("RunInstances") == 1 and calls.count("CreateCapacityReservation") == 1


def test_the_hourly_cap_counts_aliyun_reservations(responder_factory):
    """Two interruptions under a cap of one spend an hour: one reservation, the other task says why."""
    client, runner, box = responder_factory(
        scenario(cloud="aliyun", instances={"i-bp1healthy0000000000": {"locks": ["Recycling"]}}),
        settings={"aliyun_action": "reserve", "max_launches_per_hour": 1})
    first = client.post("/events", data=event_bytes(EVENT)).get_json()
    second = client.post("/events", data=event_bytes("aliyun/forged-not-recycling.json")).get_json()
    tasks = [runner.run_to_end(b["task"]["id"], timeout=30) for b in (first, second)]
    assert sorted(t.status for t in tasks) == ["done", "failed"]
    assert "RESPONDER_MAX_LAUNCHES_PER_HOUR" in next(t.reason for t in tasks if t.status == "failed")
    assert len(_creates(box)) == 1


def test_both_under_a_per_event_cap_of_one_buys_the_replacement_only(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"),
                                            settings={"aliyun_action": "both", "max_spend_per_event": 1})
    task = run(client, runner)
    assert task.status == "done" and task.record.launch.replacement_ids
    assert "no reservation" in task.reason and "RESPONDER_MAX_SPEND_PER_EVENT" in task.reason
    assert _creates(box) == []
