"""The clock starts at the notice, not at receipt: the expected release is counted from the event's
own time (CloudMonitor eventTime, EventBridge time), so a late delivery shortens the race — on the
Aliyun sandbox through the real SDK, with the runner on the wall clock."""

from __future__ import annotations

import time

import pytest

from race_fixtures import Race, shape
from responder.model import Cloud, EventKind, Interruption
from responder.replace import race
from responder.replace.runner import TaskRunner
from responder.settings import Settings

API = "i-bp1api000000000000a"  # 20 GiB ESSD: its image (~140 s) and a launch fit in a fresh 300 s notice


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


@pytest.mark.parametrize("text, expected", [
    ("2026-12-07T04:00:00Z", 1796616000.0),
    ("2026-12-07T12:00:00+08:00", 1796616000.0),  # CloudMonitor may send an offset
    ("", None), ("yesterday", None),
])
def test_the_notice_time_is_read_from_the_event(text, expected):
    assert race.notice_at(text, received=1796616000.0 + 30) == expected


def test_an_event_time_ahead_of_receipt_or_hours_old_counts_from_receipt():
    now = 1796616000.0
    assert race.notice_at(iso(now + 60), received=now) is None  # the sender's clock is ahead
    assert race.notice_at(iso(now + 3), received=now) == now  # small skew: never after receipt
    assert race.notice_at(iso(now - 2 * 3600), received=now) is None  # a replay, not a late delivery


@pytest.fixture
def wall_runner(tmp_path):
    settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120)
    one = Race(shape("aliyun", "api"), settings, tmp_path)
    yield one, TaskRunner(one.store, one.box.clouds, settings, clock=time.time)
    one.stop()


def submit(runner: TaskRunner, event_time: str, key: str = "") -> object:
    event = Interruption(cloud=Cloud.ALIYUN, region="cn-hangzhou", instance_id=API, kind=EventKind.INTERRUPTION,
                         event_time=event_time, event_id=key)
    return runner.submit(event).task


def seconds_left(why: str) -> float:
    """`auto`'s reason names the time it saw left before the release: "(N s left)" / "the N s left"."""
    return float(why.split(" s left")[0].rsplit(" ", 1)[-1].lstrip("("))


def test_a_late_delivery_shortens_the_race_and_auto_launches_at_once(wall_runner):
    _, runner = wall_runner
    task = submit(runner, iso(time.time() - 150))  # delivered two and a half minutes after the notice
    state = task.record.race
    assert task.record.event.notice_at is not None
    assert state.release_expected_at == pytest.approx(task.record.event.notice_at + 300)
    assert state.release_expected_at < task.record.timings["received"] + 160
    assert seconds_left(state.why) <= 151
    assert state.policy == "source-image" and "would end after the release" in state.why


def test_a_prompt_delivery_counts_the_whole_notice(wall_runner):
    _, runner = wall_runner
    task = submit(runner, iso(time.time()))
    state = task.record.race
    assert state.release_expected_at >= task.record.timings["received"] + 298
    assert seconds_left(state.why) >= 290
