"""Protect on the timer: every tick runs the protect pass for the selectors that are due (on the
EC2 sandbox, through boto3), one image per instance and period even with two tickers at once, the
next period makes a new one and applies retention; bad selectors are a settings error."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from race_fixtures import Race, shape
from responder.intake import handle_body
from responder.protect.tick import marker_key, tick_protect
from responder.replace.runner import TaskRunner
from responder.settings import Settings, SettingsError

WEB = "i-0aaa00000000000a1"
CACHE = "i-0aaa00000000000a4"
HOUR = 3600.0
SELECTOR = ("aws", "us-east-2", "protect", "yes")
EVENTS = Path(__file__).resolve().parent.parent / "events"
TIMER = (EVENTS / "fc" / "timer-trigger.json").read_bytes()


@pytest.fixture
def race(tmp_path):
    scenario = shape("aws", "web", "cache")
    for inst in scenario["regions"][0]["instances"]:
        inst.pop("spot_request_state")  # healthy instances, protected ahead
        inst["tags"]["protect"] = "yes"
    settings = Settings(database_url="sqlite://", background_ticker=False, protect_selectors=(SELECTOR,),
                        protect_period_seconds=HOUR, protect_keep=1)
    one = Race(scenario, settings, tmp_path)
    yield one
    one.stop()


def ours(r: Race) -> dict[str, dict]:
    client = boto3.client("ec2", region_name=r.region, endpoint_url=r.emulator.endpoint_url,
                          aws_access_key_id="sandbox-key", aws_secret_access_key="sandbox-secret")
    images = client.describe_images(Owners=["self"], Filters=[{"Name": "tag:responder:made-by", "Values": ["protect"]}])
    return {i["ImageId"]: i for i in images["Images"]}


def test_two_ticks_in_one_period_make_one_image_per_instance_and_the_second_asks_nothing(race):
    first = tick_protect(race.runner)["aws:us-east-2:protect=yes"]
    assert len(first["imaged"]) == 2 and first["complete"] and first["errors"] == []
    calls = len(race.emulator.calls)
    race.clock.advance(600.0)
    assert tick_protect(race.runner) == {}  # not due: the period's marker is in the store
    assert len(race.emulator.calls) == calls
    assert set(ours(race)) == set(first["imaged"])
    assert race.store.get_by_key(marker_key(SELECTOR, 0)).status == "done"


def test_two_tickers_at_once_never_make_two_images(race):
    runners = [race.runner, TaskRunner(race.store, race.box.clouds, race.settings, clock=race.clock)]
    start = threading.Barrier(2)
    answers = []

    def tick(runner):
        start.wait()
        answers.append(tick_protect(runner))

    threads = [threading.Thread(target=tick, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    images = ours(race)
    sources = sorted(t["Value"] for i in images.values() for t in i["Tags"] if t["Key"] == "responder:source-instance")
    assert sources == sorted([WEB, CACHE])  # one image per instance
    for answer in answers:  # a ticker that ran the pass reports those very images
        assert set(answer.get("aws:us-east-2:protect=yes", {}).get("imaged", [])) <= set(images)
    assert len(race.emulator.calls_of("CreateImage")) <= 4  # at most one refused duplicate per instance
    assert race.store.get_by_key(marker_key(SELECTOR, 0)).status == "done"


def test_the_next_periods_make_new_images_and_retention_deletes_the_older(race):
    made = []
    for hour in range(3):
        race.clock.advance_to(hour * HOUR + 1)
        made.append(set(tick_protect(race.runner)["aws:us-east-2:protect=yes"]["imaged"]))
        race.clock.advance(600.0)  # available before the next period
    assert len(made[0] | made[1] | made[2]) == 6  # a new image per instance and period
    left = set(ours(race))
    assert not made[0] & left and made[1] <= left and made[2] <= left  # keep 1 ready + the new pending one


def test_a_tick_out_of_time_writes_no_marker_and_the_next_tick_finishes(race):
    cut = tick_protect(race.runner, budget=0.0)["aws:us-east-2:protect=yes"]
    assert cut["complete"] is False and cut["imaged"] == [] and ours(race) == {}
    assert race.store.get_by_key(marker_key(SELECTOR, 0)) is None
    assert len(tick_protect(race.runner)["aws:us-east-2:protect=yes"]["imaged"]) == 2


def test_a_pass_cut_short_resumes_where_it_stopped(race):
    ticks = iter(range(1000))  # the tick's own clock: one second per look at it
    cut = tick_protect(race.runner, budget=1.5, monotonic=lambda: next(ticks))["aws:us-east-2:protect=yes"]
    assert cut["complete"] is False and len(cut["imaged"]) == 1
    done = tick_protect(race.runner)["aws:us-east-2:protect=yes"]
    assert done["complete"] and cut["imaged"][0] in done["imaged"] and len(done["imaged"]) == 2
    assert len(race.emulator.calls_of("CreateImage")) == 2  # the first instance was not asked for again


def test_the_fc_timer_event_runs_the_protect_pass_through_intake(race):
    status, body = handle_body(race.runner, TIMER)
    assert status == 200 and body["outcome"] == "ticked"
    assert len(body["protect"]["aws:us-east-2:protect=yes"]["imaged"]) == 2


@pytest.mark.parametrize("raw", ["aws:us-east-2:protect", "gcp:us-east1:a=b", "aws::a=b", "aws:us-east-2:=b",
                                 "aliyun:cn-hangzhou:app=db"])  # the last: a cloud RESPONDER_CLOUDS leaves out
def test_a_bad_selector_is_a_settings_error_naming_the_variable(raw):
    with pytest.raises(SettingsError, match="RESPONDER_PROTECT_SELECTORS"):
        Settings.from_env({"RESPONDER_PROTECT_SELECTORS": raw, "RESPONDER_CLOUDS": "aws"}, dotenv=False)


def test_good_selectors_are_read_in_order():
    settings = Settings.from_env({"RESPONDER_PROTECT_SELECTORS": " aws:us-east-2:protect=daily , aliyun:cn-hangzhou:app=db",
                                  "RESPONDER_PROTECT_PERIOD_SECONDS": "3600", "RESPONDER_PROTECT_KEEP": "3"},
                                 dotenv=False)
    assert settings.protect_selectors == (("aws", "us-east-2", "protect", "daily"), ("aliyun", "cn-hangzhou", "app", "db"))
    assert (settings.protect_period_seconds, settings.protect_keep) == (3600.0, 3)
    with pytest.raises(SettingsError, match="RESPONDER_PROTECT_KEEP"):
        Settings.from_env({"RESPONDER_PROTECT_KEEP": "0"}, dotenv=False)
    with pytest.raises(SettingsError, match="RESPONDER_PROTECT_PERIOD_SECONDS"):
        Settings.from_env({"RESPONDER_PROTECT_PERIOD_SECONDS": "5"}, dotenv=False)


def test_responder_tick_refuses_a_bad_selector_with_exit_2_and_runs_nothing(tmp_path):
    from responder.cli import cli

    done = CliRunner().invoke(cli, ["tick", "--database-url", f"sqlite:///{tmp_path}/t.db"],
                              env={"RESPONDER_PROTECT_SELECTORS": "aws:us-east-2"})
    assert done.exit_code == 2 and "RESPONDER_PROTECT_SELECTORS" in done.output
    assert not (tmp_path / "t.db").exists()


def test_responder_tick_runs_the_protect_pass(race, tmp_path):
    from responder.cli import cli

    env = {"RESPONDER_PROTECT_SELECTORS": "aws:us-east-2:protect=yes", "RESPONDER_CLOUDS": "aws",
           "RESPONDER_AWS_ENDPOINT_URL": race.emulator.endpoint_url, "AWS_ACCESS_KEY_ID": "sandbox-key",
           "AWS_SECRET_ACCESS_KEY": "sandbox-secret", "AWS_DEFAULT_REGION": "us-east-2"}
    db = f"sqlite:///{tmp_path}/cli.db"
    first = CliRunner().invoke(cli, ["tick", "--database-url", db], env=env)
    assert first.exit_code == 0, first.output
    assert len(json.loads(first.output.splitlines()[-1])["protect"]["aws:us-east-2:protect=yes"]["imaged"]) == 2
    again = CliRunner().invoke(cli, ["tick", "--database-url", db], env=env)
    assert json.loads(again.output.splitlines()[-1])["protect"] == {}
    assert len(ours(race)) == 2


def test_lambdas_schedule_event_runs_the_protect_pass(race, tmp_path, monkeypatch):
    from handlers import lambda_function

    class Context:  # no remaining-time method: the handler answers without driving tasks on
        aws_request_id = "schedule-1"

    for name, value in {"RESPONDER_PROTECT_SELECTORS": "aws:us-east-2:protect=yes", "RESPONDER_CLOUDS": "aws",
                        "RESPONDER_AWS_ENDPOINT_URL": race.emulator.endpoint_url,
                        "RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/lambda.db",
                        "RESPONDER_ALLOW_LOCAL_SQLITE": "true", "AWS_ACCESS_KEY_ID": "sandbox-key",
                        "AWS_SECRET_ACCESS_KEY": "sandbox-secret", "AWS_DEFAULT_REGION": "us-east-2"}.items():
        monkeypatch.setenv(name, value)
    schedule = json.loads((EVENTS / "aws" / "scheduled-event.json").read_text())
    lambda_function.reset()
    try:
        first = lambda_function.lambda_handler(schedule, Context())
        again = lambda_function.lambda_handler(schedule, Context())
    finally:
        lambda_function.reset()
    assert first["statusCode"] == 200 and len(first["protect"]["aws:us-east-2:protect=yes"]["imaged"]) == 2
    assert again["protect"] == {} and len(ours(race)) == 2


def test_the_marker_row_is_no_interruption_on_the_status_page_or_in_the_daily_report(race):
    from datetime import datetime, timezone

    from responder.notify.daily import daily_report
    from responder.status.page import view

    tick_protect(race.runner)
    marker = race.store.get_by_key(marker_key(SELECTOR, 0))
    assert marker.kind == "protect" and marker.status == "done" and "2 imaged" in marker.reason
    shown = view(race.store, race.clock() + 1)
    assert shown["tasks"] == [] and shown["counts"]["done"] == 0
    report = daily_report(race.store, datetime.fromtimestamp(HOUR, timezone.utc))
    assert report.fields["interruptions"] == 0 and report.fields["replacements"] == 0


def test_the_serve_ticker_runs_the_protect_pass(race):
    import time

    from responder.web import Ticker

    ticker = Ticker(race.runner, interval=0.05)
    ticker.start()
    try:
        deadline = time.monotonic() + 20
        while race.store.get_by_key(marker_key(SELECTOR, 0)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a few more loops: the period is done, nothing more is made
    finally:
        ticker.stop()
        ticker.join(5)
    assert race.store.get_by_key(marker_key(SELECTOR, 0)) is not None
    assert len(ours(race)) == 2 and len(race.emulator.calls_of("CreateImage")) == 2
