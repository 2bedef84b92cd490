"""Target notifications go through the one hook (responder.targets.events): a gap older than the
alert setting is notified once per gap, every target gets one daily report line a day, and a
sink that fails never stops a reconcile. Time is the only thing faked."""

from __future__ import annotations

import pytest

from responder.capacity.ledger import SqlLedger
from responder.settings import Settings
from responder.store import Store
from responder.targets import events
from responder.targets.reconcile import Reconciler
from responder.targets.table import TargetStore
from tests.scenarios import scenario
from tests.targets_fixtures import drought, make_target

DAY0 = 1_800_000_000.0  # a fixed UTC instant; whole days are added to it


@pytest.fixture
def dry_rig(sandbox_factory, tmp_path):
    box = sandbox_factory(scenario(offers=[drought("aws", 0, [])], cloud="aws"), time_scale=1)
    now = [DAY0]
    store = Store(f"sqlite:///{tmp_path}/ev.db")
    tstore = TargetStore(store.engine, clock=lambda: now[0])
    settings = Settings(database_url=store.url, targets_interval_seconds=0.0, target_gap_alert_seconds=3600)
    rec = Reconciler(tstore, store, box.clouds, settings, SqlLedger(store.engine), clock=lambda: now[0])
    tstore.add(make_target("aws", name="ev", count=2))
    return rec, now


def _mine(kind):
    return [f for k, f in events.recent(kind) if f.get("target") == "ev"]


def test_a_gap_older_than_the_alert_setting_is_notified_once_per_gap(dry_rig):
    rec, now = dry_rig
    before = len(_mine("gap_persisting"))
    rec.tick()
    now[0] += 1800
    rec.tick()
    assert len(_mine("gap_persisting")) == before  # 30 minutes short: not yet
    now[0] += 1801
    rec.tick()
    now[0] += 60
    rec.tick()
    alerts = _mine("gap_persisting")[before:]
    assert len(alerts) == 1 and (alerts[0]["held"], alerts[0]["count"]) == (0, 2)
    assert alerts[0]["last_error"] == "InsufficientInstanceCapacity"


def test_every_target_gets_one_daily_report_line_a_day(dry_rig):
    rec, now = dry_rig
    before = len(_mine("daily_report"))
    rec.tick()
    now[0] += 3600
    rec.tick()
    assert len(_mine("daily_report")) == before
    now[0] += 86400
    rec.tick()
    now[0] += 60
    rec.tick()
    lines = _mine("daily_report")[before:]
    assert len(lines) == 1 and lines[0]["state"] == "short"


def test_a_failing_notification_sink_never_stops_a_reconcile(dry_rig):
    rec, _ = dry_rig
    rec.tstore.add(make_target("aws", name="ev-b", count=1, zones=2))  # zone b has stock: "acquired"
    seen = []

    def broken(kind, fields):
        seen.append(kind)
        raise RuntimeError("channel down")

    events.set_sink(broken)
    try:
        report = rec.tick()
    finally:
        events.set_sink(None)
    assert seen == ["acquired"] and report.reconciled == 2
    assert rec.tstore.get("ev-b").stats["held"] == 1
    with pytest.raises(ValueError):
        events.emit("not-a-kind", target="ev")
