"""JSON logs: one object per line with task id, instance id and request id, masked like every
other log line; plain text stays the default.

Parts: a JSON-configured logger writing to a buffer, and the tests.
"""

from __future__ import annotations

import io
import json
import logging

import pytest

from responder.logformat import configure_logging, log_context
from responder.settings import Settings, SettingsError

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def json_lines():
    buffer = io.StringIO()
    settings = Settings(log_format="json", auth_token=SECRET)
    handler = configure_logging(settings, "INFO", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)


def test_every_json_line_carries_task_instance_and_request_ids(json_lines):
    log = logging.getLogger("responder.tasks")
    with log_context(request_id="req-1"):
        log.info("received")
        with log_context(task_id="t-abc", instance_id="i-bp1doomed"):
            log.warning("imaging %s", "i-bp1doomed")
    log.info("idle")
    received, imaging, idle = [line for line in json_lines() if line["logger"] == "responder.tasks"]
    assert (received["request_id"], received["task_id"]) == ("req-1", None)
    assert (imaging["task_id"], imaging["instance_id"], imaging["request_id"]) == ("t-abc", "i-bp1doomed", "req-1")
    assert imaging["level"] == "WARNING" and imaging["message"] == "imaging i-bp1doomed"
    assert idle["request_id"] is None and idle["time"].endswith("+00:00")


def test_json_lines_are_masked_like_text_lines_in_the_message_the_context_and_the_traceback(json_lines):
    log = logging.getLogger("responder.web")
    with log_context(request_id=f"Authorization: Bearer {SECRET}"):
        try:
            raise RuntimeError(f"token={SECRET}")
        except RuntimeError:
            log.exception("calling with %s and SecurityToken=STS.abcdefgh12345", SECRET)
    (line,) = [line for line in json_lines() if line["logger"] == "responder.web"]
    assert SECRET not in json.dumps(line) and "STS.abcdefgh12345" not in json.dumps(line)
    assert "RuntimeError" in line["exception"]


def test_a_request_to_the_app_logs_its_request_id_on_its_lines(json_lines, tmp_path):
    from responder.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db", background_ticker=False), clouds={})
    app.test_client().post("/invoke", data=b"{}", headers={"x-fc-request-id": "fc-req-42"})
    lines = [line for line in json_lines() if "FC Invoke" in line["message"]]
    assert len(lines) == 2 and all(line["request_id"] == "fc-req-42" for line in lines)


def test_text_is_the_default_and_another_format_is_refused_by_name():
    assert Settings().log_format == "text"
    assert Settings.from_env({"RESPONDER_LOG_FORMAT": "JSON"}, dotenv=False).log_format == "json"
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"RESPONDER_LOG_FORMAT": "xml"}, dotenv=False)
    assert "RESPONDER_LOG_FORMAT" in str(refused.value)
