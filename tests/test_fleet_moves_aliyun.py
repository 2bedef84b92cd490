"""Planned moves of the fleet's own first instances on the Aliyun sandbox through the real SDK: the
fleet is the instances tagged fleet=yes (RESPONDER_FLEET_SELECTORS). The database, a spot
ecs.g7.xlarge in cn-hangzhou-j (DescribeSpotAdvice: >20 % a month), no task of ours has seen; the
revert pass adopts it and moves it once to the calm zone cn-hangzhou-i with its root state, its data
disk and its EIP, buying exactly one instance. Left where they are: a tagged spot instance in a calm
pool, a tagged on-demand one and an untagged spot one in the stressed pool, and a tagged one whose
interruption task is in flight. A restart after every tick, or a second ticker, adopts and moves
nothing twice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from race_fixtures import shape
from revert_fixtures import BEFORE, Back, backs, fallback_scenario

from responder.model import EventKind, claim_key
from responder.notify.daily import daily_report
from responder.replace.calm_rule import CALM
from responder.replace.costs import kind_of, summarize
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.revert.adoption import adopted_key
from responder.revert.fleet import ADOPT_LEASE_SECONDS, look_fleet
from responder.revert.plan import plan
from responder.revert.tick import tick_revert

STRESSED, CALM_ZONE = "cn-hangzhou-j", "cn-hangzhou-i"
FLEET = ("aliyun", "cn-hangzhou", "fleet", "yes")
DB, WEB, API, CACHE, BATCH = ("i-bp1db0000000000000a", "i-bp1web000000000000a", "i-bp1api000000000000a",
                              "i-bp1cache0000000000a", "i-bp1batch00000000000a")
LEFT = (WEB, API, CACHE, BATCH)


def fleet_scenario() -> dict:
    """Every instance running, none reclaimed; spot stock everywhere; only ecs.g7.xlarge in j is
    published >20 %. web: tagged spot in a calm pool; api: tagged on-demand in the stressed pool;
    cache: untagged spot there; batch: tagged spot there (its interruption is in flight)."""
    data = fallback_scenario("aliyun")
    region = data["regions"][0]
    wanted = {WEB: {}, API: {"spot_strategy": "NoSpot"}, CACHE: {}, BATCH: {}}
    region["instances"] = region["instances"] + [i for i in _realistic() if i["id"] in wanted]
    subnet_j = next(s["id"] for s in region["subnets"] if s["zone"] == STRESSED)
    for inst in region["instances"]:
        inst.pop("locks", None)
        inst["tags"] = {**inst["tags"], "fleet": "yes"}
        inst.update(wanted.get(inst["id"], {}))
        if inst["id"] in (API, CACHE, BATCH):
            inst.update(type="ecs.g7.xlarge", zone=STRESSED, subnet=subnet_j)
        if inst["id"] == CACHE:
            inst["tags"].pop("fleet")
        if inst["id"] in (DB, BATCH):  # the RAM policy lets the responder release only instances so tagged
            inst["tags"]["responder:managed"] = "true"
    region["spot_advice"] = {"default": "<5%", "pools": [{"type": "ecs.g7.xlarge", "zone": STRESSED, "band": ">20%"}]}
    data["stock"] = {"default": 1000, "offers": []}
    return data


def _realistic() -> list[dict]:
    return shape("aliyun", "web", "api", "cache", "batch")["regions"][0]["instances"]


@pytest.fixture
def fleet(tmp_path):
    yield from backs(tmp_path, fleet_scenario)


def start(fleet, **settings) -> Back:
    b = fleet(fleet_selectors=(FLEET,), **settings)
    # The batch instance's interruption is being worked by another process (its lease): in flight.
    b.store.claim(claim_key("aliyun", "cn-hangzhou", BATCH), "aliyun", "cn-hangzhou", BATCH,
                  EventKind.INTERRUPTION.value, data={}, lease_seconds=10 * 86400.0)
    return b


def adopted(b: Back) -> list[Task]:
    return [Task(r) for r in b.store.list(limit=100) if r.kind == EventKind.ADOPTED.value]


def test_a_stressed_fleet_instance_is_adopted_and_moved_once_with_its_state_disk_and_address(fleet):
    b = start(fleet)
    data_size = next(d["size"] for d in b.emulator.world.disks.values() if d["instance"] == DB and d["type"] == "data")
    move = b.move()
    (row,) = adopted(b)
    assert (row.instance_id, row.status, row.record.launch.band) == (DB, "done", 4)
    assert row.key == f"aliyun:cn-hangzhou:{DB}:adopted" and row.record.source.instance_id == DB
    assert move is not None and move.status == "done" and move.record.revert.outcome == "moved", move and move.reason
    revert = move.record.revert
    assert (revert.purpose, move.key, revert.original_instance_id) == (CALM, f"aliyun:cn-hangzhou:{DB}:calm-1", DB)
    bought = revert.bought_instance_id
    assert (revert.bought_type, revert.bought_zone, revert.bought_market) == ("ecs.g7.xlarge", CALM_ZONE, "spot")
    assert len(b.emulator.calls_of("RunInstances")) == 1  # exactly one purchase: the move's
    assert sorted(b.running()) == sorted([bought, *LEFT])  # the database retired, everything else left
    assert b.root_of(bought) == BEFORE  # its own root state came along
    moved = [d["size"] for d in b.emulator.world.disks.values() if d["instance"] == bought and d["type"] == "data"]
    assert moved == [data_size] and b.address_on() == bought
    # The adoption is no purchase and no interruption: only the planned move costs.
    assert kind_of(move) == "planned_move" and row.record.costs is None
    day = summarize([row, move], 0.0, revert.retired_at + 3600.0)
    assert day.counts == {"planned_move": 1}
    report = daily_report(b.store, datetime.fromtimestamp(revert.retired_at + 3600.0, timezone.utc))
    # The day's tasks: batch's interruption in flight and the move; the adoption is neither.
    assert (report.fields["interruptions"], report.fields["replacements"]) == (2, 1)


def test_nothing_but_the_stressed_spot_fleet_instance_is_adopted_and_the_dry_run_says_why(fleet):
    b = start(fleet)
    lines = {line["instance_id"]: line for line in plan(b.runner)}
    assert lines[DB]["adopt"] is True and ">20%" in lines[DB]["why"]
    assert lines[WEB]["adopt"] is False and "below RESPONDER_CALM_BAND" in lines[WEB]["why"]
    assert lines[API]["adopt"] is False and "on-demand" in lines[API]["why"]
    assert lines[BATCH]["adopt"] is False and "claim key" in lines[BATCH]["why"]
    b.emulator.world.instances[DB]["tags"].pop("responder:managed")  # the RAM policy would refuse its release
    (line,) = [x for x in plan(b.runner) if x["instance_id"] == DB]
    assert line["adopt"] is False and "responder:managed=true" in line["why"]
    b.emulator.world.instances[DB]["tags"]["responder:managed"] = "true"
    assert CACHE not in lines  # untagged: not the fleet
    # The protect pass's listing of the tag reads the same pages (ids only).
    tagged = b.box.clouds["aliyun"].instances_tagged("cn-hangzhou", "fleet", "yes")
    assert sorted(tagged) == sorted([DB, WEB, API, BATCH])
    assert adopted(b) == [] and b.writes_since_fall_back() == []  # the dry run wrote nothing
    tick_revert(b.runner, force=True)
    assert [t.instance_id for t in adopted(b)] == [DB]
    (line,) = [x for x in plan(b.runner) if x["instance_id"] == DB]
    assert line["move"] is False and "RESPONDER_REVERT_AFTER" in line["why"]  # adopted: judged as placed


def test_a_restart_after_every_tick_and_a_second_ticker_adopt_and_move_once(fleet):
    b = start(fleet)
    second = TaskRunner(b.store, b.box.clouds, b.settings, clock=b.clock, sleep=b.clock.advance)
    look_fleet(second, b.clock())  # another process reads the fleet at the same moment
    move = b.move(crash=True)
    look_fleet(second, b.clock())
    assert move.record.revert.outcome == "moved", move.reason
    assert [t.instance_id for t in adopted(b)] == [DB] and len(b.moves()) == 1
    assert len(b.emulator.calls_of("RunInstances")) == 1
    bought = move.record.revert.bought_instance_id
    for _ in range(4 * 60):  # four more hours of tickers: the bought one is in a calm pool, nothing follows
        b.clock.advance(60.0)
        tick_revert(b.runner, force=True)
        b.runner.tick()
    assert len(adopted(b)) == 1 and len(b.moves()) == 1 and b.running().count(bought) == 1


def test_a_fleet_read_is_one_describe_instances_by_tag_and_comes_every_quarter_hour(fleet):
    b = start(fleet, calm_moves=True)
    for _ in range(30):  # half an hour of revert passes, one a minute
        tick_revert(b.runner, force=True)
        b.clock.advance(60.0)
    by_tag = [c for c in b.emulator.calls_of("DescribeInstances") if c["params"].get("Tag.1.Key") == "fleet"]
    assert len(by_tag) == 2  # at 0 and at 900 s, one page each: never a call per instance


@pytest.mark.parametrize("off", [{"calm_moves": False}, {"spot_bands": False}, {"fleet_selectors": ()}])
def test_no_fleet_named_or_planned_moves_off_adopts_and_moves_nothing(fleet, off):
    b = fleet(**{"fleet_selectors": (FLEET,), **off})
    b.move(until=4000.0)
    assert adopted(b) == [] and b.moves() == [] and b.emulator.calls_of("RunInstances") == []


def test_an_adoption_cut_short_between_its_claim_and_its_finish_is_finished_by_the_next_read(fleet):
    b = start(fleet)
    key = adopted_key("aliyun", "cn-hangzhou", DB)
    # A process claimed the row (leased) and stopped before marking it done.
    b.store.claim(key, "aliyun", "cn-hangzhou", DB, EventKind.ADOPTED.value, data={}, lease_seconds=ADOPT_LEASE_SECONDS)
    for _ in range(20):  # twenty minutes of tickers: no ticker works the leased row meanwhile
        b.runner.tick()
        tick_revert(b.runner, force=True)
        b.clock.advance(60.0)
    row = b.store.get_by_key(key)
    assert row.status == "done" and row.reason.startswith("adopted: fleet spot instance ecs.g7.xlarge")
    assert Task(row).record.launch.replacement_ids == [DB] and Task(row).record.launch.band == 4
    assert b.emulator.calls_of("CreateImage") == []  # never worked as an interruption
