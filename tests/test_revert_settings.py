"""Back to spot's settings and pure decisions: RESPONDER_REVERT_AFTER and _WINDOW in the forms
docs/revert.md gives, bad values refused with the variable named; the window's end, also across
midnight; which replacements qualify and which candidates a move may take."""

from __future__ import annotations

import json
import os

import pytest

from responder.replace.planner import Candidate
from responder.replace.record import RevertFacts, Task, TaskRecord
from responder.replace.revert_steps import usable, window_end
from responder.revert.eligible import judge, qualifies
from responder.settings import Settings, SettingsError
from responder.store import TaskRow

H = 3600.0


@pytest.mark.parametrize("raw, seconds", [("", 1800.0), ("900", 900.0), ("90s", 90.0), ("30m", 1800.0),
                                          ("2h", 7200.0), ("1.5h", 5400.0)])
def test_revert_after_takes_seconds_minutes_and_hours(raw, seconds):
    assert Settings.from_env({"RESPONDER_REVERT_AFTER": raw}).revert_after_seconds == seconds


@pytest.mark.parametrize("name, raw", [("RESPONDER_REVERT_AFTER", "soon"), ("RESPONDER_REVERT_AFTER", "-5m"),
                                       ("RESPONDER_REVERT_WINDOW", "8-20"), ("RESPONDER_REVERT_WINDOW", "08:00-08:00"),
                                       ("RESPONDER_REVERT_WINDOW", "24:00-06:00"), ("RESPONDER_REVERT", "sometimes")])
def test_a_bad_value_is_refused_naming_the_variable(name, raw):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_revert_is_on_by_default_and_off_turns_it_off():
    assert Settings.from_env({}).revert is True and Settings.from_env({}).revert_window == ()
    assert Settings.from_env({"RESPONDER_REVERT": "off"}).revert is False


@pytest.mark.parametrize("window, at, end", [
    ("08:00-20:00", 7.99 * H, None), ("08:00-20:00", 8 * H, 20 * H), ("08:00-20:00", 19.9 * H, 20 * H),
    ("08:00-20:00", 20 * H, None),
    ("22:00-06:00", 23 * H, 30 * H), ("22:00-06:00", 1 * H, 6 * H), ("22:00-06:00", 12 * H, None),
])
def test_the_window_ends_where_it_says_also_across_midnight(window, at, end):
    parsed = Settings.from_env({"RESPONDER_REVERT_WINDOW": window}).revert_window
    day = 20000 * 86400.0  # any UTC midnight
    assert window_end(day + at, parsed) == (None if end is None else day + end)
    assert window_end(day + at, ()) is None


def _move(retired_type: str, retired_market: str) -> Task:
    record = TaskRecord(revert=RevertFacts(original_type="ecs.g7.large", retired_type=retired_type,
                                           retired_market=retired_market))
    return Task(TaskRow(id="t", key="k", cloud="aliyun", region="r", instance_id="i", kind="revert",
                        status="received"), record)


RANKED = [Candidate("ecs.g7.large", "z1", "spot", "s1", "same-type-same-zone"),
          Candidate("ecs.g6.large", "z1", "spot", "s1", "same-vcpu-memory-other-family"),
          Candidate("ecs.g7.large", "z1", "ondemand", "s1", "same-type-same-zone")]


def test_from_on_demand_any_spot_candidate_in_the_planners_order():
    assert [c.instance_type for c in usable(_move("ecs.g7.large", "ondemand"), RANKED, Settings())] == ["ecs.g7.large",
                                                                                             "ecs.g6.large"]


def test_from_spot_on_another_type_only_the_original_type():
    assert [c.instance_type for c in usable(_move("ecs.g6.large", "spot"), RANKED, Settings())] == ["ecs.g7.large"]


def _cli(tmp_path, monkeypatch, *args: str, **env: str):
    from click.testing import CliRunner

    from responder.cli import cli

    monkeypatch.chdir(tmp_path)  # no .env of the repository's
    clean = {name: None for name in os.environ if name.startswith("RESPONDER_")}
    store = {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/tasks.db"}
    return CliRunner().invoke(cli, list(args), env={**clean, **store, **env})


def test_the_dry_run_with_nothing_to_move_says_so(tmp_path, monkeypatch):
    result = _cli(tmp_path, monkeypatch, "revert", "--dry-run", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no replacement to move back to spot"
    result = _cli(tmp_path, monkeypatch, "revert", "--dry-run", "--json", "--quiet")
    assert json.loads(result.stdout) == {"dry_run": True, "replacements": []}


def test_revert_without_dry_run_refuses_when_it_and_the_planned_moves_are_off(tmp_path, monkeypatch):
    result = _cli(tmp_path, monkeypatch, "revert", "--quiet", RESPONDER_REVERT="off", RESPONDER_CALM_MOVES="off")
    assert result.exit_code == 2 and "RESPONDER_REVERT=off and RESPONDER_CALM_MOVES=off" in result.stderr
    planned_only = _cli(tmp_path, monkeypatch, "revert", "--quiet", RESPONDER_REVERT="off")
    assert planned_only.exit_code == 0, planned_only.stderr  # planned moves are their own setting


def _interruption(market: str, instance_type: str = "ecs.g7.large") -> Task:
    from responder.clouds.base import InstanceInfo

    record = TaskRecord(source=InstanceInfo("i-orig", "r", "z1", "ecs.g7.large", "Running", True, True),
                        timings={"running": 100.0})
    record.launch.replacement_ids = ["i-new"]
    record.launch.replacement = Candidate(instance_type, "z1", market, "s1", "same-type-same-zone")
    return Task(TaskRow(id="t-1", key="aliyun:r:i-orig", cloud="aliyun", region="r", instance_id="i-orig",
                        kind="interruption", status="done"), record)


@pytest.mark.parametrize("market, instance_type, moves", [("ondemand", "ecs.g7.large", True),
                                                          ("spot", "ecs.g6.large", True),
                                                          ("spot", "ecs.g7.large", False)])
def test_on_demand_or_another_type_qualifies_and_spot_on_the_original_type_does_not(market, instance_type, moves):
    assert qualifies(_interruption(market, instance_type)) is moves


def test_a_replacement_moves_only_after_revert_after_and_never_under_an_on_demand_policy():
    task, settings = _interruption("ondemand"), Settings(database_url="sqlite://")
    assert not judge(task, [], settings, 100.0 + 1799).move
    verdict = judge(task, [], settings, 100.0 + 1800)
    assert verdict.move and verdict.key == "aliyun:r:i-new:revert-1"
    chosen = Settings(database_url="sqlite://", market_policy="ondemand")
    assert "by choice" in judge(task, [], chosen, 100.0 + 1800).why


def test_an_instance_the_churn_guard_put_on_demand_stays_there_for_the_guards_window():
    from responder.replace.churn import ChurnVerdict

    task, settings = _interruption("ondemand"), Settings(database_url="sqlite://")
    task.record.timings["received"] = 0.0
    task.record.plan.churn = ChurnVerdict(lineage="i-orig", lineage_reclaims=4, prefer_on_demand=True)
    held = judge(task, [], settings, 7200.0)
    assert not held.move and "churn guard chose on-demand" in held.why
    assert judge(task, [], settings, settings.churn_window_hours * 3600.0 + 1).move
