"""A real HTTP server on loopback standing in for every notification channel's endpoint.

Parts: receiver (the fixture: one Receiver per test), Receiver (keeps each request's path, query, headers and body; `down(n)` answers the next n
requests with 503, as a channel that is failing for a while), Received, point_apprise_at (moves
an apprise service's fixed endpoint, e.g. hooks.slack.com, to the receiver: the library still
builds and sends the real request).
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.requests: list[Received] = []
        self.refusals = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                with receiver._lock:
                    refuse = receiver.refusals > 0
                    if refuse:
                        receiver.refusals -= 1
                    else:
                        receiver.requests.append(Received(parts.path, parts.query, dict(self.headers), body))
                # Slack's incoming webhooks answer a bare "ok"; the others a JSON success object.
                answer = b"ok" if parts.path.startswith("/services/") else \
                    b'{"ok": true, "errcode": 0, "code": 0, "StatusCode": 0, "result": {"message_id": 1}}'
                self.send_response(503 if refuse else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def down(self, requests: int) -> None:
        with self._lock:
            self.refusals = requests

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def point_apprise_at(monkeypatch, receiver: Receiver) -> None:
    """Send Slack, DingTalk, Telegram, Feishu, Lark and WeCom to the receiver instead of their
    public hosts, keeping each service's own path and query."""
    from apprise.plugins.dingtalk import NotifyDingTalk
    from apprise.plugins.feishu import NotifyFeishu
    from apprise.plugins.lark import NotifyLark
    from apprise.plugins.slack import NotifySlack
    from apprise.plugins.telegram import NotifyTelegram
    from apprise.plugins.wecombot import NotifyWeComBot

    for plugin, attribute in ((NotifySlack, "webhook_url"), (NotifyDingTalk, "notify_url"),
                              (NotifyTelegram, "notify_url"), (NotifyFeishu, "notify_url"),
                              (NotifyLark, "notify_url"), (NotifyWeComBot, "notify_url")):
        public = getattr(plugin, attribute)
        parts = urlsplit(public)
        monkeypatch.setattr(plugin, attribute, public.replace(f"{parts.scheme}://{parts.netloc}", receiver.base))


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.stop()
