"""Hunting Always Free shapes on OCI, through the `oci` SDK over HTTP on the emulator: a hunt
refused "Out of host capacity" for an hour lands once; a running instance (ours by tag, or the
old script's by display name) is skipped; a throttled call backs off on the row; OCI is never
called for a target more often than RESPONDER_HUNT_MIN_INTERVAL_SECONDS; a lost launch answer is
retried with the same retry token and makes one instance; the account's limit is said as such.
"""

from __future__ import annotations

import json

import pytest

from notify_receiver import receiver  # noqa: F401 - the fixture
from oci_fixtures import A1, AD1, AD2, MICRO, REGION, UBUNTU_ARM_NEW, oci_box_factory, oci_scenario  # noqa: F401
from responder.capacity.ledger import SqlLedger
from responder.model import Market
from responder.settings import Settings
from responder.store import Store
from responder.targets import events
from responder.targets.model import LaunchSpec, Target
from responder.targets.reconcile import Reconciler
from responder.targets.table import TargetStore

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq2Z0pd7vWkSjQ0mY4Y4mHc9m8b2Wn6d8Vw1c3pXyZa me@laptop"
SPEC = LaunchSpec(ocpus=4, memory_gb=24, boot_volume_gb=50, image_os="Canonical Ubuntu", image_os_version="22.04",
                  subnet="public-subnet", ssh_public_key=KEY, name="a1-main")


def a1_target(name: str = "a1", **changes) -> Target:
    fields = dict(name=name, cloud="oci", region=REGION, zones=(), instance_types=(A1,), count=1, kind="instances",
                  launch=SPEC)
    fields.update(changes)
    return Target(**fields)


class OciRig:
    """A store, the targets table and a reconciler on the box's OciCloud, on the box's clock."""

    def __init__(self, box, url: str, **settings):
        settings.setdefault("targets_interval_seconds", 0.0)
        base = Settings(database_url=url, background_ticker=False, **settings)
        self.box, self.settings = box, box.settings(base)
        self.store = Store(url, upgrade=True)
        self.tstore = TargetStore(self.store.engine, clock=box.clock)
        self.ledger = SqlLedger(self.store.engine)
        self.reconciler = Reconciler(self.tstore, self.store, {"oci": box.cloud}, self.settings, self.ledger,
                                     clock=box.clock, rand=lambda: 1.0)

    def tick(self):
        return self.reconciler.tick(20.0)

    def row(self, name: str = "a1"):
        return self.tstore.get(name).to_json()

    def launches(self) -> int:
        return self.box.calls().count("LaunchInstance")


def dry(at: float | None = None, ads=(AD1, AD2)) -> dict:
    """No A1 host in either AD; one frees up in AD1 at `at`."""
    offers = [{"shape": A1, "availability_domain": ad, "available": 0} for ad in ads]
    if at is not None:
        offers[0]["schedule"] = [{"at": at, "available": 1}]
    return {"offers": offers}


@pytest.fixture
def rig_for(oci_box_factory, tmp_path):
    def make(scenario=None, faults=None, **settings):
        box = oci_box_factory(scenario or oci_scenario(), **({"faults": faults} if faults else {}))
        return OciRig(box, f"sqlite:///{tmp_path}/oci.db", **settings)
    return make


def test_an_hour_out_of_host_capacity_then_the_a1_lands_once_and_is_then_skipped(rig_for):
    rig = rig_for(oci_scenario(capacity=dry(at=3600)))
    started_before = [f["target"] for _, f in events.recent("hunt_started")].count("a1")  # the ring is per process
    rig.tstore.add(a1_target())
    for _ in range(60):  # t = 0, 60, ..., 3540: both ADs refuse on every tick
        rig.tick()
        rig.box.clock.advance(60)
    hunting = rig.row()
    assert (hunting["state"], hunting["held"], hunting["attempts"]) == ("hunting", 0, 120)
    assert hunting["attempts_by_zone"] == {AD1: 60, AD2: 60}  # every AD in API order, each tick
    assert hunting["outcomes"] == {"out_of_capacity": 120}
    assert hunting["last_error"] == "OutOfHostCapacity" and hunting["first_attempt"] < hunting["last_attempt"]
    assert [f["target"] for _, f in events.recent("hunt_started")].count("a1") == started_before + 1
    rig.tick()  # t = 3600: a host is free in AD1
    landed = rig.row()
    assert (landed["state"], landed["held"], landed["attempts"]) == ("met", 1, 121)
    assert landed["outcomes"] == {"out_of_capacity": 120, "launched": 1} and landed["acquired_at"]
    (instance,) = rig.box.emulator.world.instances.values()
    assert (instance["availabilityDomain"], instance["displayName"], instance["shapeConfig"]) == \
        (AD1, "a1-main", {"ocpus": 4.0, "memoryInGBs": 24.0})
    assert instance["sourceDetails"]["imageId"] == UBUNTU_ARM_NEW  # the newest Ubuntu 22.04 for A1
    assert instance["metadata"] == {"ssh_authorized_keys": KEY}
    launches = rig.launches()
    for _ in range(5):
        rig.box.clock.advance(60)
        rig.tick()
    assert rig.launches() == launches and len(rig.box.emulator.world.instances) == 1
    assert rig.row()["attempts"] == 121 and rig.row()["state"] == "met"


def test_an_instance_the_old_script_made_is_found_by_display_name_and_nothing_is_launched(rig_for):
    rig = rig_for()
    old = rig.box.cloud  # the old script's instance: no responder tag, same display name
    from responder.clouds.base import InstanceInfo, LaunchRequest
    from responder.model import Offering

    source = InstanceInfo("", REGION, AD2, MICRO, "", False, False, name="micro-main")
    old.launch(REGION, LaunchRequest(source=source, image_id="ocid1.image.oc1.ap-chuncheon-1.ubuntu2204x8620240701",
                                     offerings=(Offering(MICRO, AD2, Market.ONDEMAND),),
                                     subnet_by_zone=(("", "ocid1.subnet.oc1.ap-chuncheon-1.aaaasandboxsubnet"),),
                                     client_token="old-script"))
    rig.tstore.add(a1_target("micro", instance_types=(MICRO,),
                             launch=LaunchSpec(image_os="Canonical Ubuntu", image_os_version="22.04",
                                               subnet="public-subnet", name="micro-main")))
    before = rig.launches()
    rig.tick()
    row = rig.row("micro")
    assert (row["held"], row["state"], row["attempts"]) == (1, "met", 0)
    assert rig.launches() == before
    assert "ListImages" not in rig.box.calls()  # nothing to launch: nothing resolved either


def test_the_minimum_interval_holds_over_many_ticks(rig_for):
    rig = rig_for(oci_scenario(capacity=dry()), hunt_min_interval_seconds=60)
    rig.tstore.add(a1_target())
    for _ in range(100):  # t = 0 ... 99, a tick a second
        rig.tick()
        rig.box.clock.advance(1)
    assert rig.launches() == 2 * 2  # t = 0 and t = 60, two ADs each
    assert rig.row()["attempts"] == 4 and rig.box.calls().count("ListInstances") == 2 * 2  # by tag, by name
    rig.tstore.update(a1_target())  # `targets set` makes the row due at once (t = 100)...
    rig.tick()
    assert rig.launches() == 4  # ...but the interval since the last call (t = 60) still holds
    rig.box.clock.advance(20)
    rig.tick()
    assert rig.launches() == 6


def test_throttling_doubles_the_wait_on_the_row_and_the_emulator_sees_no_more_calls(rig_for):
    faults = [{"action": "LaunchInstance", "kind": "error", "status": 429, "code": "TooManyRequests",
               "message": "User-rate limit exceeded.", "times": 2}]
    rig = rig_for(oci_scenario(capacity=dry(at=0)), faults=faults, hunt_min_interval_seconds=60)
    rig.tstore.add(a1_target())
    seen = []
    for second in range(0, 1000):
        rig.box.clock.advance_to(second)
        rig.tick()
        if rig.launches() > len(seen):
            seen.append(second)
    # first throttled at 0: wait 2 x 60 (rand = 1.0: the top of the jitter); again at 120: 240 more
    assert seen[:3] == [0, 120, 360]
    row = rig.row()
    assert row["outcomes"]["throttled"] == 2 and row["state"] == "met"
    assert rig.box.emulator.world.instances and len(rig.box.emulator.world.instances) == 1


@pytest.mark.parametrize("kind, launch_calls", [("lost", 1), ("timeout", 2)])
def test_a_launch_whose_answer_never_came_is_finished_with_the_same_retry_token_and_makes_one_instance(
        rig_for, kind, launch_calls):
    # lost: OCI made the instance and the answer was lost; timeout: the call never reached it.
    rig = rig_for(faults=[{"action": "LaunchInstance", "kind": kind, "times": 1}])
    rig.tstore.add(a1_target())
    rig.tick()
    (first,) = rig.ledger.entries("target-a1-g1")
    assert first.status == "pending" and rig.row()["held"] == 0
    rig.box.clock.advance(120)
    rig.tick()
    (instance,) = rig.box.emulator.world.instances.values()
    assert instance["freeformTags"]["responder:token"] == first.token  # the very call, not a new one
    assert rig.launches() == launch_calls  # lost: found by its token; timeout: sent again with it
    assert [e.status for e in rig.ledger.entries("target-a1-g1")] == ["ok"]
    row = rig.row()
    assert (row["held"], row["state"]) == (1, "met")
    rig.box.clock.advance(120)
    rig.tick()
    assert len(rig.box.emulator.world.instances) == 1


def test_the_always_free_limit_is_said_as_the_accounts_and_stops_the_target_until_the_next_interval(rig_for):
    rig = rig_for(hunt_min_interval_seconds=60)
    rig.tstore.add(a1_target("first"))
    rig.tick()
    rig.tstore.add(a1_target("second", launch=LaunchSpec(**{**SPEC.__dict__, "name": "a1-second"})))
    rig.box.clock.advance(60)
    launches = rig.launches()
    rig.tick()
    row = rig.row("second")
    assert row["state"] == "account_limit" and "account's limit is full" in row["last_error"]
    assert "capacity" not in row["last_error"].split("(")[0]
    assert row["outcomes"] == {"account_limit": 1}
    assert rig.launches() == launches + 1  # AD2 was not asked: the limit is the account's, not AD1's
    assert ("account_limit", "second") in [(k, f["target"]) for k, f in events.recent("account_limit")]


def test_the_old_slack_webhook_gets_start_up_hunt_started_acquired_and_the_daily_report_with_oci_figures(
        rig_for, receiver, monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from notify_receiver import point_apprise_at
    from responder.notify.daily import daily_report
    from responder.notify.messages import render
    from responder.replace.runner import TaskRunner
    from responder.targets.wiring import summaries
    from responder.web import create_app

    point_apprise_at(monkeypatch, receiver)
    rig = rig_for(oci_scenario(capacity=dry(at=120)), hunt_min_interval_seconds=60)
    rig.tstore.add(a1_target())
    slack = Settings.from_env({"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccc"},
                              dotenv=False)
    settings = rig.settings.with_(notify_urls=slack.notify_urls)
    app = create_app(settings, runner=TaskRunner(rig.store, {"oci": rig.box.cloud}, settings))
    notifier = app.extensions["responder"]["notifier"]
    try:
        for _ in range(3):  # t = 0, 60: refused in both ADs; t = 120: lands in AD1
            rig.tick()
            rig.box.clock.advance(60)
        notifier.tick()
        texts = [json.dumps(r.json(), ensure_ascii=False) for r in receiver.requests]  # Slack's attachments
        assert all("/services/T0AAAAAAA/B0BBBBBBB/cccccccc" == r.path for r in receiver.requests)
        started = next(t for t in texts if "Responder started" in t)
        assert "a1 oci VM.Standard.A1.Flex; 4 OCPU / 24 GB; boot 50 GB; Canonical Ubuntu 22.04" in started
        hunt = next(t for t in texts if "Capacity hunt started" in t)
        assert "4 OCPU / 24 GB" in hunt and "every AD" not in hunt and "AD-1, AD-2" in hunt
        acquired = next(t for t in texts if "Target acquired" in t)
        (instance_id,) = rig.box.emulator.world.instances
        assert instance_id in acquired and "attempts: 5" in acquired
        scheduled = datetime(1970, 1, 2, 7, 0, tzinfo=ZoneInfo("Asia/Seoul"))
        _, body = render(daily_report(rig.store, scheduled, targets=summaries(rig.store)))
        assert "- hunt a1: met 1/1; 5 attempts (AD-1 3, AD-2 2); out of capacity 4, launched 1; " \
               "last error OutOfHostCapacity; acquired 1970-01-01T00:02:00+00:00" in body
    finally:
        events.set_sink(None)


def test_a_throttled_listing_backs_off_on_the_row_before_anything_is_launched(rig_for):
    faults = [{"action": "ListInstances", "kind": "error", "status": 429, "code": "TooManyRequests",
               "message": "User-rate limit exceeded.", "times": 1}]
    rig = rig_for(faults=faults, hunt_min_interval_seconds=60)
    rig.tstore.add(a1_target())
    rig.tick()
    row = rig.row()
    assert (row["state"], row["last_error"], row["outcomes"]) == ("unknown", "TooManyRequests", {"throttled": 1})
    assert row["next_attempt"] == "1970-01-01T00:02:00+00:00"  # 2 x 60 s (the top of the jitter)
    for _ in range(119):
        rig.box.clock.advance(1)
        rig.tick()
    assert rig.box.calls().count("ListInstances") == 1 and rig.launches() == 0
    rig.box.clock.advance(1)
    rig.tick()
    assert rig.launches() == 1 and rig.row()["state"] == "met"


@pytest.mark.parametrize("name, value", [("RESPONDER_HUNT_MIN_INTERVAL_SECONDS", "-1"),
                                         ("RESPONDER_HUNT_MIN_INTERVAL_SECONDS", "a minute")])
def test_a_bad_hunt_setting_stops_the_command_naming_the_variable(name, value):
    from click.testing import CliRunner

    from responder.cli import cli

    result = CliRunner().invoke(cli, ["tick"], env={name: value})
    assert result.exit_code == 2 and name in result.output


def test_a_hunt_comes_back_at_its_minimum_interval_and_a_met_target_at_the_targets_interval(rig_for):
    rig = rig_for(oci_scenario(capacity=dry(at=180)), hunt_min_interval_seconds=60, targets_interval_seconds=300)
    rig.tstore.add(a1_target())
    listings = []
    for second in range(0, 500, 10):
        rig.box.clock.advance_to(second)
        before = rig.box.calls().count("ListInstances")
        rig.tick()
        if rig.box.calls().count("ListInstances") > before:
            listings.append(second)
    assert listings == [0, 60, 120, 180, 480]  # hunting: every minute; met at 180: again 300 s later
    assert rig.launches() == 2 + 2 + 2 + 1 and rig.row()["state"] == "met"
