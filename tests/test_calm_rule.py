"""The planned moves' rule, pure: the settings, which pools are stressed and where a planned move
may go, the move back kept out of stressed pools, which instances a planned move is for and when,
and a planned move that never finds a calmer pool giving up without a write."""

from __future__ import annotations

import pytest

from responder.clouds.base import InstanceInfo
from responder.replace.calm_rule import CALM, stressed, targets, unstressed
from responder.replace.planner import Candidate
from responder.replace.record import RevertFacts, Task, TaskRecord
from responder.replace.revert_steps import before_writes, usable
from responder.revert.calm import Placed, judge_calm, placed_of
from responder.settings import Settings, SettingsError
from responder.store import TaskRow

H = 3600.0
TOP, CALM_BAND = 4, 0
J, I, K = "cn-hangzhou-j", "cn-hangzhou-i", "cn-hangzhou-k"
RANKED = [Candidate("ecs.g7.large", I, "spot", "s-i", "same-type-other-zone"),
          Candidate("ecs.g7.large", K, "spot", "s-k", "same-type-other-zone"),
          Candidate("ecs.g7.large", J, "spot", "s-j", "same-type-same-zone"),
          Candidate("ecs.g6.large", I, "spot", "s-i", "same-vcpu-memory-other-family")]
BANDS = {"ecs.g7.large cn-hangzhou-j": TOP, "ecs.g7.large cn-hangzhou-i": 3, "ecs.g6.large cn-hangzhou-i": CALM_BAND}


def test_the_settings_default_to_on_the_top_band_and_a_week_and_refuse_what_they_cannot_use():
    default = Settings.from_env({})
    assert (default.calm_moves, default.calm_band, default.calm_window_hours) == (True, ">20%", 168.0)
    assert Settings.from_env({"RESPONDER_CALM_MOVES": "off"}).calm_moves is False
    assert Settings.from_env({"RESPONDER_CALM_BAND": "15-20%"}).calm_band == "15-20%"
    for name, raw in (("RESPONDER_CALM_BAND", "20%"), ("RESPONDER_CALM_BAND", "<5%"),
                      ("RESPONDER_CALM_WINDOW_HOURS", "0"), ("RESPONDER_CALM_MOVES", "maybe")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: raw})


def test_a_planned_move_goes_to_a_calmer_zone_of_the_same_type_with_a_published_band_only():
    settings = Settings()
    assert stressed(TOP, settings) and not stressed(3, settings) and not stressed(None, settings)
    assert [c.zone for c in targets(RANKED, BANDS, "ecs.g7.large", J, settings)] == [I]  # K: no band published
    lower = Settings(calm_band="15-20%")  # i (15-20 %) is stressed too: nowhere to go
    assert targets(RANKED, BANDS, "ecs.g7.large", J, lower) == []


def test_the_move_back_leaves_stressed_pools_out_only_while_planned_moves_are_on():
    assert [(c.instance_type, c.zone) for c in unstressed(RANKED, BANDS, Settings())] == [
        ("ecs.g7.large", I), ("ecs.g7.large", K), ("ecs.g6.large", I)]
    assert unstressed(RANKED, BANDS, Settings(calm_moves=False)) == RANKED
    assert unstressed(RANKED, BANDS, Settings(spot_bands=False)) == RANKED
    back = _task(RevertFacts(original_type="ecs.g7.large", retired_type="ecs.g7.large", retired_market="ondemand"))
    back.record.plan.bands = BANDS
    assert J not in [c.zone for c in usable(back, RANKED, Settings())]


def _task(revert: RevertFacts, kind: str = "revert", status: str = "received", **record) -> Task:
    return Task(TaskRow(id="t", key="k", cloud="aliyun", region="cn-hangzhou", instance_id="i-r", kind=kind,
                        status=status), TaskRecord(revert=revert, **record))


def _replaced(band: int | None, market: str = "spot", instance_type: str = "ecs.g7.large") -> Task:
    task = _task(None, kind="interruption", status="done", timings={"running": 0.0})
    task.record.source = InstanceInfo("i-o", "cn-hangzhou", J, "ecs.g7.large", "Running", True, True, 2, 8192, "x86_64")
    task.record.launch.replacement_ids = ["i-r"]
    task.record.launch.replacement = Candidate(instance_type, J, market, "s-j", "same-type-same-zone")
    task.record.launch.band = band
    return task


def test_a_planned_move_is_for_a_spot_replacement_on_its_type_and_the_move_back_keeps_the_others():
    placed = placed_of(_replaced(TOP))
    assert (placed.instance_id, placed.zone, placed.band) == ("i-r", J, TOP)
    assert placed_of(_replaced(TOP, market="ondemand")) is None  # the move back's
    assert placed_of(_replaced(TOP, instance_type="ecs.g6.large")) is None  # the move back's too


def test_a_planned_move_waits_revert_after_and_an_instance_a_planned_move_bought_waits_the_window():
    settings, task = Settings(), _replaced(TOP)
    placed = placed_of(task)
    early = judge_calm(task, placed, [], settings, 10 * 60.0)
    assert not early.move and "RESPONDER_REVERT_AFTER" in early.why
    due = judge_calm(task, placed, [], settings, H)
    assert due.move and due.key == "aliyun:cn-hangzhou:i-r:calm-1" and ">20%" in due.why
    bought = Placed("i-b", "ecs.g7.large", I, TOP, since=H, planned_move_at=H)
    held = judge_calm(task, bought, [], settings, 100 * H)
    assert not held.move and "RESPONDER_CALM_WINDOW_HOURS" in held.why
    assert judge_calm(task, bought, [], settings, 170 * H).move
    off = judge_calm(task, placed, [], Settings(calm_moves=False), H)
    assert not off.move and off.why == "RESPONDER_CALM_MOVES=off"


def test_a_planned_move_that_finds_no_calmer_stock_for_a_window_gives_up_having_written_nothing():
    settings = Settings()
    task = _task(RevertFacts(purpose=CALM, original_type="ecs.g7.large", retired_type="ecs.g7.large",
                             retired_market="spot"), timings={"received": 0.0})
    task.record.plan.candidates = []
    waiting = before_writes(task, settings, 10 * H)
    assert waiting.finish is None and waiting.wait_until == 10 * H + 300.0
    task.record.plan.candidates = []
    ended = before_writes(task, settings, 168 * H)
    status, reason = ended.finish
    assert status == "done" and "no calmer pool had stock" in reason and task.record.revert.outcome == "given-up"


def test_a_planned_move_gives_up_unwritten_when_its_pool_is_no_longer_published_as_stressed():
    """The scan judged by the band at the launch; the look for stock reads the bands again: a pool
    published calmer since is left alone (a move reboots the instance for nothing)."""
    settings = Settings()
    source = InstanceInfo(instance_id="i-r", region="cn-hangzhou", zone=J, instance_type="ecs.g7.large",
                          status="Running", spot=True, reclaiming=False)
    task = _task(RevertFacts(purpose=CALM, original_type="ecs.g7.large", retired_type="ecs.g7.large",
                             retired_market="spot"), timings={"received": 0.0}, source=source)
    task.record.plan.candidates, task.record.plan.bands = RANKED, dict(BANDS)
    assert before_writes(task, settings, H) is None  # still >20 %: the move goes on
    task.record.plan.bands["ecs.g7.large cn-hangzhou-j"] = 2
    status, reason = before_writes(task, settings, H).finish
    assert status == "done" and task.record.revert.outcome == "given-up"
    assert reason.startswith("planned move to a calmer pool given up: its pool is no longer published as stressed")
