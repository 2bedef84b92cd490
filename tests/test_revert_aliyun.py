"""Back to spot on the Aliyun sandbox through the real SDK: a preemptible instance that fell back
to pay-as-you-go moves back to a preemptible one of its type once stock returns, with the root
state written on the on-demand one, its data disk and its EIP, buying exactly one more instance;
a crash at every step of the move resumes without a second purchase; RESPONDER_REVERT=off and the
window hold it; the dry-run writes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from revert_fixtures import ON_DEMAND, RETURN, WRITES, Back
from responder.notify.messages import task_notices
from responder.replace.caps import spend_slots
from responder.replace.revert_steps import STOCK_RECHECK
from responder.revert.plan import plan
from responder.sandbox.faults import FaultPlan
from responder.settings import Settings


@pytest.fixture
def back(tmp_path):
    started = []

    def start(**settings_changes):
        settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                            keep_public_ip=True, **settings_changes)
        one = Back("aliyun", settings, tmp_path / str(len(started)))
        started.append(one)
        return one

    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    yield start
    for one in started:
        one.stop()


def after_revert_delay(b: Back, task) -> None:
    b.clock.advance_to(task.record.timings["running"] + b.settings.revert_after_seconds)


def test_a_fallback_to_on_demand_moves_back_to_spot_with_its_state_disk_and_address(back):
    b = back()
    fell = b.fall_back()
    on_demand = fell.record.launch.replacement_ids[0]
    data = next(d.disk_id for d in fell.record.race.disks if d.kind == "data")
    after_revert_delay(b, fell)
    move = b.move()
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    revert = move.record.revert
    spot = revert.bought_instance_id
    assert b.instances()[spot] == ("ecs.g7.xlarge", True, "Running")  # the original's type, preemptible
    assert b.running() == [spot] and on_demand not in b.emulator.world.instances  # on-demand one released
    assert b.root_of(spot) == ON_DEMAND  # the root state written on the on-demand one came along
    assert b.data_disk_on(data) == spot  # the data disk itself moved (same zone: reattached)
    assert b.address_on() == spot  # the EIP followed
    assert b.purchases() == 2  # the on-demand fallback, then exactly one spot instance
    assert revert.started_at >= RETURN and revert.retired_at >= revert.bought_running_at
    assert (revert.retired_instance_id, revert.retired_market, revert.bought_market) == (on_demand, "ondemand", "spot")
    assert [n.kind for n in task_notices(move)] == ["revert_started", "reverted"]
    assert f"moved back to spot: {spot}" in move.reason


def test_a_crash_at_every_step_of_the_move_resumes_without_a_second_purchase(back):
    b = back()
    fell = b.fall_back()
    data = next(d.disk_id for d in fell.record.race.disks if d.kind == "data")
    after_revert_delay(b, fell)
    b.lose_answers(WRITES["aliyun"])
    move = b.move(crash=True)
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    lost = {c["action"] for c in b.emulator.calls if c.get("fault") == "lost"}
    assert {"RunInstances", "CreateImage", "ReplaceSystemDisk", "DeleteInstance", "AttachDisk"} <= lost
    spot = move.record.revert.bought_instance_id
    assert b.purchases() == 2 and b.running() == [spot]
    images = [c["params"] for c in b.emulator.calls_of("CreateImage") if c["t"] >= RETURN]
    assert len(images) >= 2 and len({p["ClientToken"] for p in images}) == 1  # a lost answer, retried: one image
    assert b.root_of(spot) == ON_DEMAND and b.data_disk_on(data) == spot and b.address_on() == spot
    assert len(b.moves()) == 1


def test_no_stock_means_no_write_and_the_move_waits(back):
    b = back()
    fell = b.fall_back()
    after_revert_delay(b, fell)
    assert fell.record.timings["running"] + b.settings.revert_after_seconds < RETURN - STOCK_RECHECK
    b.move(until=RETURN - 1)
    (move,) = b.moves()
    assert not move.finished and "no spot stock" in move.record.revert.why
    assert b.writes_since_fall_back() == [] and b.purchases() == 1


def test_the_dry_run_shows_the_plan_and_writes_nothing(back):
    b = back()
    fell = b.fall_back()
    on_demand = fell.record.launch.replacement_ids[0]
    early = plan(b.runner)
    assert [(line["instance_id"], line["move"]) for line in early] == [(on_demand, False)]
    assert "RESPONDER_REVERT_AFTER" in early[0]["why"]
    b.clock.advance_to(RETURN + 1)
    (line,) = plan(b.runner)
    assert line["move"] is True and line["to"].startswith("ecs.g7.xlarge in cn-hangzhou-j (spot")
    assert line["from"] == "ecs.g7.xlarge (ondemand)"
    assert b.writes_since_fall_back() == [] and b.moves() == []


def test_revert_off_does_nothing(back):
    b = back(revert=False)
    fell = b.fall_back()
    b.clock.advance_to(RETURN + 1)
    assert b.move(until=RETURN + 600) is None
    assert b.writes_since_fall_back() == [] and b.purchases() == 1
    assert "RESPONDER_REVERT=off" in plan(b.runner)[0]["why"]
    assert fell.record.launch.replacement_ids[0] in b.running()


def test_no_move_starts_inside_the_window(back):
    # The scenario clock starts at 00:00 UTC: the stock is back at 01:06, the window ends at 03:00.
    b = back(revert_window=(0, 180))
    fell = b.fall_back()
    after_revert_delay(b, fell)
    move = b.move(until=3 * 3600 + 6000)
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    assert move.record.revert.started_at >= 3 * 3600
    bought = [c["t"] for c in b.emulator.calls_of("RunInstances")]
    assert len(bought) == 2 and bought[1] >= 3 * 3600


def test_a_move_leaves_half_the_hours_launch_cap_to_interruptions(back):
    b = back(max_launches_per_hour=2)  # the on-demand fallback took one of the two
    fell = b.fall_back()
    b.clock.advance_to(fell.record.timings["launch_issued"] + 3000)
    (line,) = plan(b.runner)
    assert line["move"] is False and "kept for interruptions" in line["why"]
    assert b.move(until=fell.record.timings["launch_issued"] + 3500) is None and b.purchases() == 1
    move = b.move()  # an hour after that spend, the move starts
    assert move.record.revert.outcome == "moved" and b.purchases() == 2
    with b.store.engine.connect() as conn:  # counted in the caps as a move, under the move's own claim key
        taken = conn.execute(sa.select(spend_slots.c.kind, spend_slots.c.claim_key)
                             .where(spend_slots.c.token.is_not(None))).all()
    assert ("revert", move.key) in {tuple(t) for t in taken}


def test_a_refused_swap_gives_the_move_up_before_the_retire_and_it_is_not_tried_again(back):
    b = back()
    fell = b.fall_back()
    on_demand = fell.record.launch.replacement_ids[0]
    after_revert_delay(b, fell)
    b.emulator.faults = FaultPlan([{"action": "ReplaceSystemDisk", "kind": "error", "status": 403, "times": 5,
                                    "code": "InvalidOperation.NotSupported"}])
    move = b.move()
    assert move.status == "done" and move.record.revert.outcome == "given-up", move.reason
    spot = move.record.revert.bought_instance_id
    assert sorted(b.running()) == sorted([on_demand, spot])  # the state stays where it is: nothing retired
    assert b.root_of(on_demand) == ON_DEMAND and any(spot in d for d in move.record.degraded)
    assert [n.kind for n in task_notices(move)] == ["revert_started", "revert_given_up"]
    b.clock.advance_to(b.clock() + 2 * b.settings.revert_after_seconds)
    (line,) = plan(b.runner)
    assert line["move"] is False and f"left {spot} running beside it" in line["why"]
    assert b.move(until=b.clock() + 600).id == move.id and b.purchases() == 2
