"""The outbox: a notification is saved with the state that causes it, delivered with retries,
once per channel, after a receiver outage and after a crash; the daily report at its local hour.

Parts: a settable clock, a store and a receiver per test, a notifier over them, and the tests.
Only time is faked; the store is a real SQLite file and every channel a real HTTP POST.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from notify_receiver import receiver  # noqa: F401 - the fixture
from responder.notify.daily import report_due
from responder.notify.messages import make_notice
from responder.notify.service import Notifier
from responder.replace.record import Task, TaskRecord
from responder.settings import Settings
from responder.store import Store, outbox, outbox_deliveries


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(tmp_path, receiver):
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc).timestamp())
    settings = Settings(database_url=f"sqlite:///{tmp_path}/tasks.db", notify_urls=(f"{receiver.base}/hook",))
    store = Store(settings.database_url, clock=clock)
    return settings, store, clock


def claimed_task(store, clock, instance="i-bp1doomed", status="done") -> Task:
    record = TaskRecord(timings={"received": clock.now, "verified": clock.now + 1, "image_requested": clock.now + 2,
                                 "launch_issued": clock.now + 40, "running": clock.now + 70})
    row = store.claim(f"aliyun:cn-hangzhou:{instance}", "aliyun", "cn-hangzhou", instance, "interruption",
                      data=record.to_json()).task
    task = Task(row)
    task.status = status
    if status == "failed":
        task.row.reason = "launching: no stock in any candidate"
    return task


def test_a_task_save_writes_its_notices_in_the_same_transaction_and_a_resave_adds_none(env):
    settings, store, clock = env
    notifier = Notifier(store, settings, clock=clock)
    task = claimed_task(store, clock)
    store.save_with_outbox(task.synced_row(), notifier.task_notices(task))
    store.save_with_outbox(task.synced_row(), notifier.task_notices(task))
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(outbox.select().order_by(outbox.c.id))]
        deliveries = conn.execute(outbox_deliveries.select()).all()
    assert kinds == ["interruption", "replaced"] and len(deliveries) == 2


def test_a_failing_outbox_insert_leaves_the_task_state_unsaved_too(env):
    settings, store, clock = env
    task = claimed_task(store, clock)

    class Broken:
        dedupe_key, channels = "k", ("c",)

        def outbox_values(self):
            raise RuntimeError("the outbox write failed")

    with pytest.raises(RuntimeError):
        store.save_with_outbox(task.synced_row(), [Broken()])
    assert store.get(task.id).status == "received"


def test_a_receiver_down_for_a_while_gets_the_notification_later_exactly_once(env, receiver):
    settings, store, clock = env
    notifier = Notifier(store, settings, clock=clock)
    notifier.enqueue("failed", "t-x:failed", instance_id="i-1", reason="boom")
    receiver.down(4)
    for _ in range(4):
        assert notifier.outbox.deliver_due() == 0
        assert notifier.outbox.deliver_due() == 0  # not due again until its backoff has passed
        clock.now += 700  # beyond the longest backoff
    assert notifier.health()[notifier.channels[0].name]["status"] == "failing"
    assert notifier.outbox.deliver_due() == 1
    clock.now += 700
    assert notifier.outbox.deliver_due() == 0
    assert [r.json()["kind"] for r in receiver.requests] == ["failed"]
    assert notifier.health()[notifier.channels[0].name]["status"] == "ok"


def test_two_deliverers_on_one_store_send_each_notification_once(env, receiver):
    settings, store, clock = env
    first, second = Notifier(store, settings, clock=clock), Notifier(Store(settings.database_url, clock=clock),
                                                                     settings, clock=clock)
    for n in range(5):
        first.enqueue("hunt_started", f"hunt:{n}", target=f"pool-{n}")
    assert first.outbox.deliver_due() + second.outbox.deliver_due() == 5
    assert sorted(r.json()["fields"]["target"] for r in receiver.requests) == [f"pool-{n}" for n in range(5)]


def test_a_crash_after_the_state_change_delivers_after_the_restart(env, receiver):
    settings, store, clock = env
    task = claimed_task(store, clock, status="failed")
    store.save_with_outbox(task.synced_row(), Notifier(store, settings, clock=clock).task_notices(task))
    # The process dies here, before any delivery; a new one opens the same store.
    restarted = Notifier(Store(settings.database_url, clock=clock), settings, clock=clock)
    assert restarted.tick() == 2
    assert [r.json()["kind"] for r in receiver.requests] == ["interruption", "failed"]
    assert restarted.tick() == 0


def test_a_channel_that_never_answers_gives_up_and_never_blocks_longer_than_its_timeout(env):
    settings, store, clock = env
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        slow = settings.with_(notify_urls=(f"http://127.0.0.1:{silent.getsockname()[1]}/hook",),
                              notify_timeout_seconds=0.5)
        notifier = Notifier(store, slow, clock=clock)
        notifier.enqueue("failed", "t-y:failed", reason="x")
        started = time.monotonic()
        assert notifier.outbox.deliver_due() == 0
        assert time.monotonic() - started < 3
        clock.now += 25 * 3600  # a notification a day old is given up at its next failure
        notifier.outbox.deliver_due()
        with store.engine.connect() as conn:
            assert conn.execute(outbox_deliveries.select()).one().status == "dead"
    finally:
        silent.close()


def test_the_daily_report_is_due_at_seven_in_seoul_and_sent_once_with_the_days_figures(env, receiver):
    settings, store, clock = env
    seven_kst = datetime(2026, 12, 1, 22, 0, tzinfo=timezone.utc).timestamp()  # 07:00 KST on Dec 2
    assert report_due(seven_kst - 60, "07:00", "Asia/Seoul") is None  # 06:59 KST: not yet
    assert report_due(seven_kst, "07:00", "Asia/Seoul").isoformat() == "2026-12-02T07:00:00+09:00"
    assert report_due(seven_kst + 11 * 3600, "07:00", "Asia/Seoul").day == 2  # a late start catches up
    assert report_due(seven_kst + 13 * 3600, "07:00", "Asia/Seoul") is None  # past the catch-up window
    assert report_due(seven_kst, "07:00", "UTC") is None  # 22:00 UTC is long past 07:00 UTC
    clock.now = seven_kst - 6 * 3600
    done, failed = claimed_task(store, clock, "i-a"), claimed_task(store, clock, "i-b", status="failed")
    done.record.original_terminated_at = clock.now + 30  # released 30 s after receipt: gap 40 s
    for task in (done, failed):
        store.save(task.synced_row())
    clock.now = seven_kst + 5
    notifier = Notifier(store, settings, clock=clock)
    notifier.tick()
    notifier.tick()
    reports = [r.json() for r in receiver.requests if r.json()["kind"] == "daily_report"]
    assert len(reports) == 1
    fields = reports[0]["fields"]
    assert fields["date"] == "2026-12-02" and fields["timezone"] == "Asia/Seoul"
    assert (fields["interruptions"], fields["replacements"], fields["failures"]) == (2, 1, 1)
    assert fields["median_gap_seconds"] == fields["worst_gap_seconds"] == 40.0


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError) as refused:
        make_notice("target_aquired", "k")
    assert "target_aquired" in str(refused.value) and "target_acquired" in str(refused.value)
