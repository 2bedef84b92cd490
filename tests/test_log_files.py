"""Dated log files (RESPONDER_LOG_DIR): every command writes to the file of the day, in the
console's format (text or JSON), masked like every other line; a new file from midnight, the
oldest pruned past RESPONDER_LOG_KEEP_DAYS; a directory that cannot be written stops the start
naming the variable.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from click.testing import CliRunner

from responder.cli import cli
from responder.logfiles import DatedFileHandler, configure_log_file
from responder.settings import Settings

SECRET = "sk-live-0123456789abcdef"


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.localtime())


@pytest.fixture
def no_log_file():
    yield
    configure_log_file(Settings())  # removes the handler a test installed


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_command_writes_the_file_of_the_day_masked(tmp_path, no_log_file, log_format):
    env = {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db", "RESPONDER_LOG_DIR": str(tmp_path / "logs"),
           "RESPONDER_AUTH_TOKEN": SECRET, "RESPONDER_LOG_FORMAT": log_format}
    result = CliRunner().invoke(cli, ["targets", "list", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and json.loads(result.output) == []
    logging.getLogger("responder.targets").warning("calling with token %s", SECRET)
    day = tmp_path / "logs" / f"responder-{_today()}.log"
    text = day.read_text()
    assert "calling with token" in text and SECRET not in text
    if log_format == "json":
        line = json.loads(text.strip().splitlines()[-1])
        assert line["logger"] == "responder.targets" and line["level"] == "WARNING"
    else:
        assert " WARNING responder.targets: calling with token " in text


def test_an_unwritable_log_directory_stops_the_command_naming_the_variable(tmp_path, no_log_file):
    (tmp_path / "a-file").write_text("not a directory")
    env = {"RESPONDER_DATABASE_URL": f"sqlite:///{tmp_path}/t.db", "RESPONDER_LOG_DIR": str(tmp_path / "a-file" / "logs")}
    result = CliRunner().invoke(cli, ["targets", "list"], env=env)
    assert result.exit_code == 2
    assert "RESPONDER_LOG_DIR" in result.output and "cannot be written" in result.output


def test_keep_days_must_be_positive():
    result = CliRunner().invoke(cli, ["tick"], env={"RESPONDER_LOG_KEEP_DAYS": "0"})
    assert result.exit_code == 2 and "RESPONDER_LOG_KEEP_DAYS" in result.output


def test_midnight_starts_a_new_dated_file_and_prunes_past_the_days_kept(tmp_path, monkeypatch):
    clock = [time.mktime((2026, 3, 1, 23, 59, 0, 0, 0, -1))]  # local time, as the handler rolls
    monkeypatch.setattr(time, "time", lambda: clock[0])
    for old in ("2026-02-26", "2026-02-27", "2026-02-28"):
        (tmp_path / f"responder-{old}.log").write_text("old\n")
    handler = DatedFileHandler(str(tmp_path), keep_days=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responder-2026-02-28.log", "responder-2026-03-01.log"]
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = lambda msg: logging.LogRecord("t", logging.INFO, __file__, 1, msg, None, None)  # noqa: E731
    try:
        handler.handle(record("before midnight"))
        clock[0] += 120  # 00:01 the next day
        handler.handle(record("after midnight"))
    finally:
        handler.close()
    assert (tmp_path / "responder-2026-03-01.log").read_text() == "before midnight\n"
    assert (tmp_path / "responder-2026-03-02.log").read_text() == "after midnight\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responder-2026-03-01.log", "responder-2026-03-02.log"]
