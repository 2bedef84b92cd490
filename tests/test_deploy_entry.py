"""The server entry as gunicorn runs it: logging configured with the bare FC lines, and /invoke
kept on its own port when RESPONDER_INVOKE_PORT is set.

Parts: configure_logging writing task records and `FC Invoke Start/End RequestId` lines to the
stream (the FC ones unprefixed, once each), the port split (SERVER_PORT is the listening socket's
port under gunicorn and werkzeug), and the default (FC): /invoke on the main port.
"""
import io
import logging

import pytest

from responder.settings import Settings
from responder.web import create_app
from responder.logformat import configure_server_logging as configure_logging
from tests.conftest import event_bytes

FORGED = "aliyun/forged-not-recycling.json"


@pytest.fixture
def restore_logging():
    root, fc = logging.getLogger(), logging.getLogger("responder.fc")
    saved = (list(root.handlers), root.level, list(fc.handlers), fc.propagate)
    yield
    root.handlers[:], fc.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    fc.propagate = saved[3]


def test_the_fc_lines_are_bare_and_task_logs_reach_the_stream(restore_logging, responder_factory):
    from tests.scenarios import scenario

    stream = io.StringIO()
    for handler in list(logging.getLogger("responder.fc").handlers):
        logging.getLogger("responder.fc").removeHandler(handler)
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if not getattr(h, "_responder", False)]
    configure_logging(Settings(log_level="INFO"), stream=stream)
    configure_logging(Settings(log_level="INFO"), stream=stream)  # idempotent: no second handler
    client, _, _ = responder_factory(scenario(cloud="aliyun"))
    client.post("/invoke", data=event_bytes(FORGED), headers={"x-fc-request-id": "req-42"})
    lines = stream.getvalue().splitlines()
    assert lines.count("FC Invoke Start RequestId: req-42") == 1
    assert lines.count("FC Invoke End RequestId: req-42") == 1
    assert any(" INFO " in line and " responder." in line for line in lines), lines


def _client(tmp_path, **changes):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", background_ticker=False, **changes)
    return create_app(settings, clouds={}).test_client()


def test_with_an_invoke_port_invoke_answers_only_there(tmp_path):
    client = _client(tmp_path, invoke_port=9001)
    main, invoke = {"SERVER_PORT": "9000"}, {"SERVER_PORT": "9001"}
    refused = client.post("/invoke", data=event_bytes(FORGED), environ_overrides=main)
    assert refused.status_code == 404 and "port 9001 only" in refused.get_json()["error"]
    assert client.post("/invoke", data=event_bytes(FORGED), environ_overrides=invoke).status_code == 200
    assert client.get("/tasks", environ_overrides=invoke).status_code == 404
    assert client.get("/healthz", environ_overrides=invoke).status_code == 200
    assert client.get("/tasks", environ_overrides=main).status_code == 200


def test_without_an_invoke_port_invoke_is_on_the_main_port_as_fc_needs(tmp_path):
    client = _client(tmp_path)
    assert client.post("/invoke", data=event_bytes(FORGED), environ_overrides={"SERVER_PORT": "9000"}).status_code == 200


def test_post_to_the_root_is_an_invocation_and_get_keeps_the_status_page(tmp_path, restore_logging):
    """FC's custom runtime hands every path to the server: seed 004's `curl -X POST localhost:9000`
    is an invocation answered as /invoke answers it, not a 405."""
    client = _client(tmp_path)
    answer = client.post("/", data=event_bytes(FORGED), headers={"x-fc-request-id": "root-1"})
    same = client.post("/invoke", data=event_bytes(FORGED), headers={"x-fc-request-id": "root-2"})
    assert answer.status_code == same.status_code == 200
    assert answer.get_json()["outcome"] == same.get_json()["outcome"] == "unconfigured"
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"


def test_post_to_the_root_follows_invoke_to_its_own_port(tmp_path):
    client = _client(tmp_path, invoke_port=9001)
    refused = client.post("/", data=event_bytes(FORGED), environ_overrides={"SERVER_PORT": "9000"})
    assert refused.status_code == 404 and "port 9001 only" in refused.get_json()["error"]
    assert client.post("/", data=event_bytes(FORGED), environ_overrides={"SERVER_PORT": "9001"}).status_code == 200
    assert client.get("/", environ_overrides={"SERVER_PORT": "9000"}).status_code == 200


def test_seed_004_env_names_are_read_as_ours_and_ours_win():
    seed = {"aliyunRegionID": "cn-shanghai", "aliyunAccessKeyID": "LTAIseed", "aliyunAccessKeySecret": "seed-secret"}
    settings = Settings.from_env(seed, dotenv=False)
    assert (settings.allowed_regions, settings.aliyun_access_key_id, settings.aliyun_access_key_secret) == (
        ("cn-shanghai",), "LTAIseed", "seed-secret")
    ours = Settings.from_env({**seed, "RESPONDER_ALLOWED_REGIONS": "cn-hangzhou", "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIours",
                              "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "ours-secret"}, dotenv=False)
    assert (ours.allowed_regions, ours.aliyun_access_key_id, ours.aliyun_access_key_secret) == (
        ("cn-hangzhou",), "LTAIours", "ours-secret")


def test_json_logs_keep_the_bare_fc_lines_and_the_json_records(restore_logging, tmp_path, monkeypatch):
    """RESPONDER_LOG_FORMAT=json: FC still gets `FC Invoke Start/End RequestId: <id>` bare on stdout,
    and the same events stay JSON records carrying the request id."""
    import json as json_module

    monkeypatch.setenv("RESPONDER_DATABASE_URL", f"sqlite:///{tmp_path}/w.db")
    monkeypatch.setenv("RESPONDER_BACKGROUND_TICKER", "false")
    from responder.logformat import configure_logging as configure_json
    from responder.wsgi import keep_fc_lines_bare

    records, bare = io.StringIO(), io.StringIO()
    logging.getLogger("responder.fc").handlers[:] = []
    configure_json(Settings(log_format="json", log_level="INFO"), stream=records)
    keep_fc_lines_bare(stream=bare)
    keep_fc_lines_bare(stream=bare)  # idempotent
    _client(tmp_path).post("/invoke", data=event_bytes(FORGED), headers={"x-fc-request-id": "req-json"})
    assert bare.getvalue().splitlines() == ["FC Invoke Start RequestId: req-json", "FC Invoke End RequestId: req-json"]
    parsed = [json_module.loads(line) for line in records.getvalue().splitlines() if line.startswith("{")]
    assert any("FC Invoke Start RequestId: req-json" in str(entry.values()) for entry in parsed), parsed
