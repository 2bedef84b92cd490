"""Driven inside the invocation: FC freezes an instance once it has answered, so /invoke works the
task to the end within the function's timeout (x-fc-function-timeout), and Lambda within its
remaining time; without a known budget /invoke answers at once and leaves the task to the timer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from race_fixtures import Race, shape
from responder.settings import Settings
from responder.web import create_app, invoke_budget

API = "i-bp1api000000000000a"
EVENT = Path(__file__).resolve().parent.parent / "events" / "aliyun" / "cloudmonitor-interruption.json"


def body_for(instance_id: str) -> bytes:
    event = json.loads(EVENT.read_text())
    event["resourceId"] = event["resourceId"].rsplit("/", 1)[0] + "/" + instance_id
    event["content"]["instanceId"] = instance_id
    return json.dumps(event).encode()


@pytest.fixture
def race(tmp_path):
    settings = Settings(database_url="sqlite://", background_ticker=False, launch_retry_seconds=120)
    one = Race(shape("aliyun", "api"), settings, tmp_path)
    yield one
    one.stop()


def test_invoke_works_the_task_to_the_end_within_the_function_timeout(race):
    client = create_app(race.settings, runner=race.runner).test_client()
    answer = client.post("/invoke", data=body_for(API), headers={"x-fc-function-timeout": "600"})
    assert answer.status_code == 202
    row = race.store.get(answer.get_json()["task"]["id"])
    assert row.status == "done", row.reason
    assert row.data["timings"]["running"] <= race.gone_at(API)
    assert race.clock() <= 600 - 15  # stopped inside the budget, before FC's timeout


def test_invoke_without_a_known_timeout_answers_at_once_and_leaves_the_task_to_the_timer(race):
    client = create_app(race.settings, runner=race.runner).test_client()
    answer = client.post("/invoke", data=body_for(API))
    row = race.store.get(answer.get_json()["task"]["id"])
    # Not driven: the clock never moved and the replacement is not running yet (the empty store's
    # harsh prior makes `auto` launch from the source image, so the task may already be launching).
    assert row.status in ("imaging", "launching") and race.clock() == 0.0


def test_the_invoke_budget_comes_from_the_setting_or_the_fc_header_less_a_margin():
    assert invoke_budget({"x-fc-function-timeout": "300"}, Settings()) == 285.0
    assert invoke_budget({"x-fc-function-timeout": "nonsense"}, Settings()) == 0.0
    assert invoke_budget({}, Settings(invoke_drive_seconds=90)) == 90.0
