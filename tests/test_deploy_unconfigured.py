"""A cloud without credentials is loud, not retried forever.

Parts: an app built from settings alone (no credentials in the environment, boto3's chain
emptied, instance metadata off) answering each cloud's sample event `unconfigured` with 2xx and
a webhook notice, /healthz `degraded` naming the clouds, the start-up log naming them, and the
Lambda handler giving the same answer. No cloud is reached: there is none to reach.
"""
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from responder.settings import Settings
from responder.web import create_app
from tests.conftest import event_bytes, event_json

EVENTS = {"aliyun": "aliyun/cloudmonitor-interruption.json", "aws": "aws/spot-interruption-warning.json"}


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return Settings(database_url=f"sqlite:///{tmp_path}/tasks.db", background_ticker=False)


@pytest.fixture
def hook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.mark.parametrize("cloud", sorted(EVENTS))
def test_an_event_for_a_cloud_without_credentials_is_answered_unconfigured_and_notified(cloud, no_credentials, hook):
    app = create_app(no_credentials.with_(notify_webhook_url=hook))
    client = app.test_client()
    answer = client.post("/events", data=event_bytes(EVENTS[cloud]))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outcome"] == "unconfigured" and body["cloud"] == cloud
    assert "credentials" in body["reason"]
    assert client.get("/tasks").get_json() == {"tasks": []}, "no task is made for an event nobody can act on"
    app.extensions["responder"]["notifier"].tick()  # the outbox, as every message goes out
    assert [m["kind"] for m in _Hook.received] == ["unconfigured"]
    assert body["instance_id"] in _Hook.received[0]["text"]


def test_the_fc_invoke_path_answers_unconfigured_without_asking_fc_to_retry(no_credentials):
    answer = create_app(no_credentials).test_client().post("/invoke", data=event_bytes(EVENTS["aliyun"]))
    assert answer.status_code == 200 and "x-fc-status" not in answer.headers
    assert answer.get_json()["outcome"] == "unconfigured"


def test_healthz_is_degraded_and_names_every_cloud_without_credentials(no_credentials):
    health = create_app(no_credentials).test_client().get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["status"] == "degraded" and body["clouds"] == []
    assert sorted(body["unconfigured"]) == ["aliyun", "aws"]
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in body["unconfigured"]["aliyun"]


def test_healthz_names_only_the_clouds_this_deployment_serves(no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    body = create_app(no_credentials.with_(clouds=("aws",))).test_client().get("/healthz").get_json()
    assert body == {**body, "status": "ok", "clouds": ["aws"]} and "unconfigured" not in body


def test_an_event_for_a_cloud_this_deployment_does_not_serve_says_so(no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    client = create_app(no_credentials.with_(clouds=("aws",))).test_client()
    body = client.post("/events", data=event_bytes(EVENTS["aliyun"])).get_json()
    assert body["outcome"] == "unconfigured" and "RESPONDER_CLOUDS=aws" in body["reason"]


def test_start_up_logs_each_cloud_without_credentials(no_credentials, caplog):
    """Logged by the ticker's first act, before any request: AWS's chain is asked after the start."""
    with caplog.at_level(logging.ERROR, logger="responder.web"):
        app = create_app(no_credentials)
        ticker = app.start_ticker()
        try:
            assert app.extensions["responder"]["credentials"].done.wait(120), "the ticker never checked"
        finally:
            ticker.stop()
            ticker.join(120)
    logged = [r.getMessage() for r in caplog.records if r.name == "responder.web"]
    assert any("aliyun is unconfigured" in line for line in logged)
    assert any("aws is unconfigured" in line for line in logged)


def test_the_lambda_handler_answers_unconfigured_instead_of_raising_for_a_retry(no_credentials, monkeypatch, tmp_path):
    from handlers import lambda_function

    monkeypatch.setenv("RESPONDER_DATABASE_URL", f"sqlite:///{tmp_path}/lambda.db")
    monkeypatch.setenv("RESPONDER_ALLOW_LOCAL_SQLITE", "true")
    lambda_function.reset()
    try:
        answer = lambda_function.lambda_handler(event_json(EVENTS["aws"]), None)
    finally:
        lambda_function.reset()
    assert answer["statusCode"] == 200 and answer["outcome"] == "unconfigured"


def test_the_lambda_handler_refuses_a_per_container_sqlite_store_unless_told_it_is_intended(no_credentials,
                                                                                            monkeypatch, tmp_path):
    from handlers import lambda_function

    monkeypatch.setenv("RESPONDER_DATABASE_URL", f"sqlite:///{tmp_path}/lambda.db")
    monkeypatch.delenv("RESPONDER_ALLOW_LOCAL_SQLITE", raising=False)
    lambda_function.reset()
    try:
        with pytest.raises(RuntimeError, match="RESPONDER_ALLOW_LOCAL_SQLITE=true"):
            lambda_function.lambda_handler(event_json(EVENTS["aws"]), None)
    finally:
        lambda_function.reset()
    assert not (tmp_path / "lambda.db").exists(), "refused before the store is opened"


def test_an_answer_never_says_accepted_for_a_task_that_already_failed(responder_factory):
    from tests.scenarios import scenario

    # CreateImage refused for good (not transient): the first delivery's own work ends the task.
    refused = [{"action": "CreateImage", "code": "InvalidParameterValue", "message": "refused by the test"}]
    client, _, _ = responder_factory(scenario(cloud="aws", faults=refused))
    answer = client.post("/events", data=event_bytes(EVENTS["aws"]))
    body = answer.get_json()
    assert body["task"]["status"] == "failed", body
    assert answer.status_code == 200 and body["outcome"] == "failed"


def test_a_broken_aws_profile_leaves_aws_unconfigured_with_the_reason(no_credentials, monkeypatch):
    """The chain asked after the start fails (a profile that does not exist): AWS is unconfigured,
    named with the failure, instead of a start that stops."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    body = create_app(no_credentials.with_(clouds=("aws",))).test_client().get("/healthz").get_json()
    assert body["status"] == "degraded" and body["clouds"] == []
    assert "ProfileNotFound" in body["unconfigured"]["aws"]
