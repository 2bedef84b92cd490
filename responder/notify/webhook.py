"""Notifications when a task finishes: a JSON webhook (Slack/DingTalk/Feishu-compatible `text`).

Parts: WebhookNotifier. Failures are logged, never raised: a broken webhook must not undo work.
"""

from __future__ import annotations

import logging

import requests

from responder.store import TaskRow

log = logging.getLogger("responder.notify.webhook")


class WebhookNotifier:
    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout

    def __call__(self, task: TaskRow) -> None:
        text = f"[responder] {task.cloud} {task.region} {task.instance_id}: {task.status} — {task.reason}"
        body = {"text": text, "msgtype": "text", "content": {"text": text}, "task": task.to_json()}
        try:
            requests.post(self.url, json=body, timeout=self.timeout).raise_for_status()
        except requests.RequestException as exc:
            log.warning("webhook notification failed: %s", exc)
