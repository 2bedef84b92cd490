"""Protect ahead of time and clean up: `responder protect` keeps a recent image of tagged
instances with retention (never touching another's images), and `responder orphans` lists what
the responder kept that still bills — on the Aliyun sandbox through the real SDK."""

from __future__ import annotations

import json

import pytest

from race_fixtures import Race, shape, sold_out
from responder.clouds.leftovers_port import OwnImage
from responder.protect.ahead import protect_fleet
from responder.protect.leftovers import plan_retention
from responder.protect.orphans import find_orphans
from responder.settings import Settings

WEB = "i-bp1web000000000000a"
DB = "i-bp1db0000000000000a"


@pytest.fixture
def race(tmp_path):
    settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                        launch_from="fresh-image")
    scenario = shape("aliyun", "web", "db")
    web = next(i for i in scenario["regions"][0]["instances"] if i["id"] == WEB)
    web["locks"] = []  # a healthy instance: protected ahead of any notice
    one = Race(scenario, settings, tmp_path)
    yield one
    one.stop()


def test_protect_images_each_tagged_instance_once_per_period(race):
    cloud = race.box.clouds["aliyun"]
    first = protect_fleet(cloud, "cn-hangzhou", ("app", "web"), period_seconds=3600, now=100.0)
    again = protect_fleet(cloud, "cn-hangzhou", ("app", "web"), period_seconds=3600, now=200.0)
    assert len(first.imaged) == 1 and again.imaged == first.imaged  # same period: the same image
    image = race.emulator.world.images[first.imaged[0]]
    assert image["instance"] == WEB and image["tags"]["responder:made-by"] == "protect"


def test_retention_deletes_only_our_older_images_and_their_snapshots(race):
    cloud, world = race.box.clouds["aliyun"], race.emulator.world
    made = []
    for hour in range(4):
        race.clock.advance_to(hour * 3600.0 + 1)
        made += protect_fleet(cloud, "cn-hangzhou", ("app", "web"), period_seconds=3600, now=race.clock(),
                              keep=2).imaged
        race.clock.advance(400.0)  # each one Available before the next run
    world.images["m-bp1someoneelse0000000"] = {"id": "m-bp1someoneelse0000000", "name": "theirs", "region": "cn-hangzhou",
                                               "instance": WEB, "created": -1.0, "fails": False, "tags": {}}
    race.clock.advance_to(4 * 3600.0 + 1)
    report = protect_fleet(cloud, "cn-hangzhou", ("app", "web"), period_seconds=3600, now=race.clock(), keep=2)
    assert made[0] not in world.images and made[1] not in world.images  # the two oldest of four went
    assert made[2] in world.images and made[3] in world.images and report.imaged[0] in world.images
    assert "m-bp1someoneelse0000000" in world.images and "m-bp1base00000000000000" in world.images
    assert not [s for s in world.snapshots.values() if s["image"] in (made[0], made[1])]
    assert set(report.deleted) == {made[1]} and report.errors == []


def test_a_pending_image_never_counts_as_kept():
    images = [OwnImage("m-old", "i-1", "protect", "2026-01-01T00:00:00Z", "available"),
              OwnImage("m-new", "i-1", "protect", "2026-01-02T00:00:00Z", "creating")]
    assert plan_retention(images, keep=1, max_interruption_images=1) == []


def test_orphans_lists_kept_disks_while_they_bill_and_nothing_once_the_task_settled(race):
    race.run([DB], until=400.0)  # released at 300 s; its image needs ~20 minutes
    billing = find_orphans(race.store, race.box.clouds)
    assert {o["id"] for o in billing} == {"d-" + DB[2:], "d-" + DB[2:] + "01"}
    assert all(o["kind"] == "disk" for o in billing)
    drive_rest = race.run([], until=3000.0)
    assert drive_rest == []
    assert find_orphans(race.store, race.box.clouds) == []


def test_orphans_lists_a_restored_disk_the_task_could_not_attach(tmp_path):
    settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120,
                        launch_from="source-image")
    refuse = [{"action": "AttachDisk", "kind": "error", "code": "IncorrectInstanceStatus", "status": 403, "times": 99}]
    r = Race(sold_out(shape("aliyun", "db", faults=refuse), "cn-hangzhou-j"), settings, tmp_path)
    try:
        (task,) = r.run([DB])
        # The attach was refused: the restored disk is left detached, and the task that holds a
        # replacement ends done, naming it.
        assert task.status == "done" and "IncorrectInstanceStatus" in task.record.degraded[0]
        (restored,) = [d.restored_id for d in task.record.race.disks if d.restored_id]
        left = [o for o in find_orphans(r.store, r.box.clouds) if o["kind"] == "restored-disk"]
        assert [(o["id"], o["size_gib"], o["task"]) for o in left] == [(restored, 200, task.id)]
        r.emulator.world.disks.pop(restored)  # the operator deletes it: no longer listed
        assert not [o for o in find_orphans(r.store, r.box.clouds) if o["kind"] == "restored-disk"]
    finally:
        r.stop()


def test_the_protect_and_orphans_commands_answer_in_json(race, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from responder.cli import cli

    monkeypatch.setenv("RESPONDER_ALIYUN_ENDPOINT", race.emulator.endpoint)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "sandbox-key")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sandbox-secret")
    db = f"sqlite:///{tmp_path}/cli.db"
    made = CliRunner().invoke(cli, ["protect", "--cloud", "aliyun", "--region", "cn-hangzhou", "--tag", "app=web",
                                    "--database-url", db])
    assert made.exit_code == 0, made.output
    assert len(json.loads(made.output.splitlines()[-1])["imaged"]) == 1
    bad = CliRunner().invoke(cli, ["protect", "--cloud", "aliyun", "--region", "cn-hangzhou", "--tag", "app"])
    assert bad.exit_code == 2 and "key=value" in bad.output
    listed = CliRunner().invoke(cli, ["orphans", "--json", "--database-url", db])
    assert listed.exit_code == 0 and json.loads(listed.output.splitlines()[-1]) == {"orphans": []}
