"""What an operator relies on around the flow: secrets never reach logs, metrics count what
happened, the webhook hears about every finished task."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from responder.settings import Settings
from responder.store import Store
from responder.web import create_app
from tests.conftest import event_bytes
from tests.scenarios import scenario

EVENT = "aliyun/cloudmonitor-interruption.json"


def test_settings_redact_secrets_in_their_repr():
    settings = Settings.from_env({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIkeyid", "ALIBABA_CLOUD_ACCESS_KEY_SECRET":
                                  "very-secret", "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token",
                                  "RESPONDER_AUTH_TOKEN": "caller-token"})
    shown = repr(settings)
    assert "very-secret" not in shown and "sts-token" not in shown and "caller-token" not in shown
    assert settings.aliyun_access_key_secret == "very-secret"


def test_a_whole_replacement_logs_no_credential(responder_factory, caplog):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    with caplog.at_level(logging.DEBUG):
        body = client.post("/events", data=event_bytes(EVENT)).get_json()
        assert runner.run_to_end(body["task"]["id"], timeout=30).status == "done"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "sandbox-secret" not in text
    assert "sandbox-secret" not in repr(box.clouds["aliyun"])


def test_metrics_count_events_and_finished_tasks(responder_factory):
    client, runner, box = responder_factory(scenario(cloud="aliyun"))
    body = client.post("/events", data=event_bytes(EVENT)).get_json()
    client.post("/events", data=event_bytes("aliyun/ignored-other-event.json"))
    client.post("/events", data=event_bytes("aliyun/forged-not-found.json"))
    runner.run_to_end(body["task"]["id"], timeout=30)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'responder_events_total{cloud="aliyun",kind="interruption",outcome="accepted"} 1.0' in text
    assert 'responder_events_total{cloud="-",kind="-",outcome="ignored"} 1.0' in text
    assert 'responder_tasks_finished_total{cloud="aliyun",status="done"} 1.0' in text
    assert 'responder_tasks_finished_total{cloud="aliyun",status="rejected"} 1.0' in text


class _Catcher(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        _Catcher.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_webhook_hears_about_every_finished_task(sandbox_factory, test_settings):
    server = HTTPServer(("127.0.0.1", 0), _Catcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Catcher.received = []
    try:
        box = sandbox_factory(scenario(cloud="aliyun"))
        settings = test_settings.with_(notify_webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
        app = create_app(settings, store=Store(settings.database_url), clouds=box.clouds)
        client = app.test_client()
        runner = app.extensions["responder"]["runner"]
        body = client.post("/events", data=event_bytes(EVENT)).get_json()
        runner.run_to_end(body["task"]["id"], timeout=30)
        client.post("/events", data=event_bytes("aliyun/forged-not-preemptible.json"))
        app.extensions["responder"]["notifier"].tick()  # the webhook is an outbox channel: delivered by a tick
    finally:
        server.shutdown()
    statuses = sorted(m["task"]["status"] for m in _Catcher.received)
    assert statuses == ["done", "rejected"]
    assert all("i-bp1" in m["text"] for m in _Catcher.received)
