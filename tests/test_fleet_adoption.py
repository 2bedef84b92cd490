"""The adoption of the fleet's own instances, pure: the setting that names the fleet, which
instance is adopted and why not, and the adopted row read by the planned moves' rule as if the
responder had placed the instance; adopted rows are no interruption and no purchase."""

from __future__ import annotations

import dataclasses

import pytest

from responder.clouds.base import OWNED_TAG, InstanceInfo
from responder.model import RECORD_KINDS, EventKind
from responder.replace.costs import spends
from responder.replace.record import Task
from responder.revert.adoption import ADOPTED, adopted_key, adopted_record, calmer_zone, cloud_says, store_says
from responder.revert.calm import Placed, judge_calm, placed_of
from responder.revert.cli import _show
from responder.settings import Settings, SettingsError
from responder.store import TaskRow

TOP = 4  # >20 % a month
J = "cn-hangzhou-j"
DB = InstanceInfo("i-db", "cn-hangzhou", J, "ecs.g7.xlarge", "Running", True, False, subnet_id="vsw-j",
                  image_id="m-own", tags=(("fleet", "yes"), OWNED_TAG))


def test_the_fleet_is_named_like_the_protected_instances_and_defaults_to_none():
    assert Settings.from_env({}).fleet_selectors == ()
    named = Settings.from_env({"RESPONDER_FLEET_SELECTORS": "aliyun:cn-hangzhou:fleet=yes, aws:us-east-2:team=db"})
    assert named.fleet_selectors == (("aliyun", "cn-hangzhou", "fleet", "yes"), ("aws", "us-east-2", "team", "db"))
    for raw in ("aliyun:cn-hangzhou", "gcp:us:fleet=yes", "aliyun::fleet=yes"):
        with pytest.raises(SettingsError, match="RESPONDER_FLEET_SELECTORS"):
            Settings.from_env({"RESPONDER_FLEET_SELECTORS": raw})
    with pytest.raises(SettingsError, match="RESPONDER_FLEET_SELECTORS names aws, which RESPONDER_CLOUDS leaves out"):
        Settings.from_env({"RESPONDER_FLEET_SELECTORS": "aws:us-east-2:fleet=yes", "RESPONDER_CLOUDS": "aliyun"})


def test_only_a_running_spot_instance_in_a_stressed_pool_it_may_release_is_adopted():
    settings = Settings()
    assert cloud_says(DB, TOP, settings, tagged_only=True) == ""
    cases = [(dataclasses.replace(DB, spot=False), TOP, "on-demand"),
             (dataclasses.replace(DB, status="Stopped"), TOP, "Stopped, not running"),
             (dataclasses.replace(DB, reclaiming=True), TOP, "reclaiming"),
             (DB, None, "no published band"),
             (DB, 3, "15-20% a month, below RESPONDER_CALM_BAND=>20%"),
             (dataclasses.replace(DB, tags=(("fleet", "yes"),)), TOP, "responder:managed=true")]
    for info, band, why in cases:
        assert why in cloud_says(info, band, settings, tagged_only=True)
    assert "no other zone of its type is published calmer" in cloud_says(DB, TOP, settings, calmer=False)
    per_zone = {("ecs.g7.xlarge", J): TOP, ("ecs.g7.xlarge", "cn-hangzhou-i"): 0}
    assert calmer_zone(per_zone, DB, settings) and not calmer_zone({("ecs.g7.xlarge", J): TOP}, DB, settings)
    assert not calmer_zone({("ecs.g7.xlarge", ""): TOP}, DB, settings)  # per region and type (AWS)
    assert cloud_says(dataclasses.replace(DB, tags=()), TOP, settings) == ""  # a cloud whose policy does not ask
    assert cloud_says(DB, 3, Settings(calm_band="15-20%")) == ""
    assert "claim key" in store_says(known=True, claimed=True) and "placed it" in store_says(known=True, claimed=False)
    assert store_says(known=False, claimed=False) == ""


def test_an_adopted_row_reads_as_an_instance_the_responder_placed_and_moves_after_revert_after():
    record = adopted_record(DB, TOP, 1000.0)
    key = adopted_key("aliyun", "cn-hangzhou", "i-db")
    assert key == "aliyun:cn-hangzhou:i-db:adopted" and ADOPTED == EventKind.ADOPTED.value in RECORD_KINDS
    task = Task(TaskRow(id="t-a", key=key, cloud="aliyun", region="cn-hangzhou", instance_id="i-db", kind=ADOPTED,
                        status="done", data=record.to_json()))
    assert task.record.source.image_id == "m-own"  # the move launches from the instance's own image
    placed = placed_of(task)
    assert placed == Placed("i-db", "ecs.g7.xlarge", J, TOP, 1000.0)
    settings = Settings()
    early = judge_calm(task, placed, [], settings, 1000.0 + 60.0)
    assert early.move is False and "RESPONDER_REVERT_AFTER" in early.why
    due = judge_calm(task, placed, [], settings, 1000.0 + settings.revert_after_seconds + 1)
    assert due.move is True and due.key == "aliyun:cn-hangzhou:i-db:calm-1" and ">20%" in due.why
    # No purchase: it has no cost section, so no spend and no price unknown.
    assert spends([task]) == ([], 0)
    assert placed_of(Task(TaskRow(id="t-b", key=key, cloud="aliyun", region="cn-hangzhou", instance_id="i-db",
                                  kind=ADOPTED, status="received", data=record.to_json()))) is None


def test_the_dry_run_prints_a_fleet_instance_as_adopt_or_leave_with_why(capsys):
    lines = [{"cloud": "aliyun", "instance_id": "i-db", "from": "ecs.g7.xlarge (spot) in j", "adopt": True,
              "why": "fleet instance in a pool published at >20%"},
             {"cloud": "aliyun", "instance_id": "i-web", "from": "ecs.g7.large (spot) in i", "adopt": False,
              "why": "its pool is published at <5% a month"}]
    _show({}, lines, False)
    assert capsys.readouterr().out.splitlines() == [
        "ADOPT   aliyun i-db ecs.g7.xlarge (spot) in j: fleet instance in a pool published at >20%",
        "leave   aliyun i-web ecs.g7.large (spot) in i: its pool is published at <5% a month"]
