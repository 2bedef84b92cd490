"""Planned moves out of a published-stressed pool on the Aliyun sandbox through the real SDK: the
database is interrupted in cn-hangzhou-j, whose DescribeSpotAdvice band is >20 % a month, and the
only spot stock is there, so its replacement lands in the stressed pool again. Once the calm zone
cn-hangzhou-i has stock the ticker moves it there once, with its root state, its data disk and
its EIP, buying exactly one more instance; the move back to spot never undoes it; no calmer stock,
RESPONDER_CALM_MOVES=off or no bands: no move; a crash at every step resumes."""

from __future__ import annotations

import pytest
from revert_fixtures import RETURN, WRITES, Back, backs, fallback_scenario

from responder.notify.messages import render, task_notices
from responder.replace.calm_rule import CALM
from responder.replace.costs import kind_of, summarize
from responder.revert.plan import plan
from responder.revert.tick import tick_revert

STRESSED, CALM_ZONE = "cn-hangzhou-j", "cn-hangzhou-i"
ON_REPLACEMENT = "files written on the replacement in the stressed pool"


def stressed_scenario(calm_stock_returns: bool = True) -> dict:
    """The database's own pool (g7.xlarge in j) is published >20 % and keeps spot stock; the same
    type in i is <5 % and sold out until RETURN (never, with calm_stock_returns False)."""
    data = fallback_scenario("aliyun")
    region = data["regions"][0]
    region["spot_advice"] = {"default": "<5%", "pools": [{"type": "ecs.g7.xlarge", "zone": STRESSED, "band": ">20%"}]}
    for offer in data["stock"]["offers"]:
        if offer["type"] == "ecs.g7.xlarge" and offer["zone"] == STRESSED:
            offer.pop("schedule", None)
            offer["available"] = 5
        elif offer["type"] == "ecs.g7.xlarge" and calm_stock_returns:
            offer["schedule"] = [{"at": RETURN, "available": 5}]
    return data


@pytest.fixture
def calm(tmp_path):
    yield from backs(tmp_path, stressed_scenario)


def replaced_in_the_stressed_pool(b: Back):
    (task,) = b.run([b.original])
    chosen = task.record.launch.replacement
    assert task.status == "done" and (chosen.market, chosen.zone) == ("spot", STRESSED), task.reason
    b.write_root(task.record.launch.replacement_ids[0], ON_REPLACEMENT)
    b.calls_before_move = len(b.emulator.calls)
    return task


def test_a_replacement_in_a_stressed_pool_moves_once_to_the_calm_zone_with_its_state_disk_and_address(calm):
    b = calm()
    replaced = replaced_in_the_stressed_pool(b)
    assert replaced.record.launch.band == 4  # >20 %, kept in the record at the launch
    replacement = replaced.record.launch.replacement_ids[0]
    data_size = next(d["size"] for d in b.emulator.world.disks.values()
                     if d["instance"] == replacement and d["type"] == "data")
    move = b.move()
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    revert = move.record.revert
    assert (revert.purpose, move.key) == (CALM, f"aliyun:cn-hangzhou:{replacement}:calm-1")
    bought = revert.bought_instance_id
    assert (revert.bought_type, revert.bought_zone, revert.bought_market) == ("ecs.g7.xlarge", CALM_ZONE, "spot")
    assert revert.started_at >= RETURN and move.reason.startswith(f"moved to a calmer pool: {bought}")
    assert b.running() == [bought] and b.purchases() == 2  # the replacement, then exactly one planned move
    assert b.root_of(bought) == ON_REPLACEMENT  # the root state written in the stressed pool came along
    moved_data = [d for d in b.emulator.world.disks.values() if d["instance"] == bought and d["type"] == "data"]
    assert [d["size"] for d in moved_data] == [data_size]  # another zone: restored from the fresh image
    assert b.address_on() == bought  # the EIP followed
    tokens = [c["params"]["ClientToken"] for c in b.emulator.calls_of("RunInstances") if c["t"] >= RETURN]
    assert tokens and len(set(tokens)) == 1
    # Its notifications say what it did: it was on spot already, nothing moved "back to spot".
    rendered = [render(n) for n in task_notices(move)]
    assert [title for title, _ in rendered] == ["[responder] Moving to a calmer spot pool",
                                                "[responder] Moved to a calmer spot pool"]
    assert all("back to spot" not in body and "a calmer pool" in body.splitlines()[0] for _, body in rendered)
    # Its spend is its own kind in the cost report: spot bought for spot saves nothing as a revert would.
    assert (kind_of(replaced), kind_of(move)) == ("replacement", "planned_move")
    day = summarize([replaced, move], 0.0, revert.retired_at + 3600.0)
    assert day.counts.get("planned_move") == 1 and "revert" not in day.counts and not day.saved


def test_the_move_back_to_spot_never_undoes_a_planned_move_and_none_follows_within_the_window(calm):
    b = calm()
    replaced_in_the_stressed_pool(b)
    move = b.move()
    assert move.record.revert.outcome == "moved", move.reason
    replacement, bought = move.instance_id, move.record.revert.bought_instance_id
    for _ in range(6 * 60):  # six more hours of tickers, a pass a minute
        b.clock.advance(60.0)
        tick_revert(b.runner, force=True)
        b.runner.tick()
    assert len(b.moves()) == 1 and b.purchases() == 2 and b.running() == [bought]
    # Only the moved-off replacement is judged (and stays): the bought one is on spot, on its type, calm.
    (line,) = plan(b.runner)
    assert (line["instance_id"], line["move"]) == (replacement, False) and "moved already" in line["why"]


def test_no_calmer_stock_means_no_write_and_the_planned_move_waits(calm):
    b = calm(False)
    replaced_in_the_stressed_pool(b)
    b.move(until=RETURN + 4000.0)
    (move,) = b.moves()
    assert not move.finished and "calmer zone of ecs.g7.xlarge" in move.record.revert.why
    assert b.writes_since_fall_back() == [] and b.purchases() == 1
    (line,) = plan(b.runner)
    assert line["move"] is False and "a move is under way" in line["why"]


def test_the_dry_run_shows_the_planned_move_with_its_reason_and_writes_nothing(calm):
    b = calm()
    replaced_in_the_stressed_pool(b)
    early = plan(b.runner)
    assert [line["move"] for line in early] == [False] and "RESPONDER_REVERT_AFTER" in early[0]["why"]
    b.clock.advance_to(RETURN + 1)
    (line,) = plan(b.runner)
    assert line["move"] is True and line["to"].startswith(f"ecs.g7.xlarge in {CALM_ZONE} (spot")
    assert "published interruption band >20%" in line["why"] and "RESPONDER_CALM_BAND" in line["why"]
    assert b.writes_since_fall_back() == [] and b.moves() == []


@pytest.mark.parametrize("off", [{"calm_moves": False}, {"spot_bands": False}])
def test_planned_moves_off_or_no_bands_move_nothing(calm, off):
    b = calm(**off)
    replaced_in_the_stressed_pool(b)
    b.move(until=RETURN + 4000.0)
    assert b.moves() == [] and b.purchases() == 1 and b.writes_since_fall_back() == []


def test_a_crash_at_every_step_of_a_planned_move_resumes_without_a_second_purchase(calm):
    b = calm()
    replaced_in_the_stressed_pool(b)
    b.lose_answers(WRITES["aliyun"])
    move = b.move(crash=True)
    assert move.status == "done" and move.record.revert.outcome == "moved", move.reason
    lost = {c["action"] for c in b.emulator.calls if c.get("fault") == "lost"}
    assert {"RunInstances", "CreateImage", "ReplaceSystemDisk", "DeleteInstance"} <= lost
    bought = move.record.revert.bought_instance_id
    assert b.purchases() == 2 and b.running() == [bought] and len(b.moves()) == 1
    assert b.root_of(bought) == ON_REPLACEMENT and b.address_on() == bought


def test_planned_moves_are_their_own_setting_a_move_back_turned_off_leaves_them_on(calm):
    b = calm(revert=False)
    replaced_in_the_stressed_pool(b)
    move = b.move()
    assert move.record.revert.outcome == "moved" and b.purchases() == 2, move.reason
