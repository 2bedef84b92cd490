"""An in-process hook that POSTs a finished task to one JSON webhook (Slack/DingTalk/Feishu-compatible
`text`), for callers that pass it to TaskRunner(on_finish=...). A configured
RESPONDER_NOTIFY_WEBHOOK_URL goes through the outbox instead (notify.channels, retried, once).

Parts: WebhookNotifier, notification_body (the short text and the public summary it sends),
NOTIFIED_FIELDS. Failures are logged, never raised: a broken webhook must not undo work.

What is sent is a short text and a few fields of the task's public view (logsafe.public_task_view,
through TaskRow.to_json) — never the whole record: the source instance's details (user data, key
pair, tags) stay in the store. Webhook URLs often embed their own token, so a failure is logged
by its kind and status only, never with the URL.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from responder.logsafe import active_redactor
from responder.store import TaskRow

log = logging.getLogger("responder.notify.webhook")
NOTIFIED_FIELDS = ("id", "key", "cloud", "region", "instance_id", "kind", "status", "reason", "deliveries",
                   "image_id", "replacement_ids", "replacement", "updated_at")


def notification_body(task: TaskRow) -> dict[str, Any]:
    view = task.to_json()
    reason = active_redactor().redact(task.reason)  # a cloud's error text can quote a signed request
    text = f"[responder] {task.cloud} {task.region} {task.instance_id}: {task.status} — {reason}"
    summary = {name: view[name] for name in NOTIFIED_FIELDS if name in view}
    summary["reason"] = reason
    return {"text": text, "msgtype": "text", "content": {"text": text}, "task": summary}


class WebhookNotifier:
    def __init__(self, url: str, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return "WebhookNotifier(url=***)"

    def __call__(self, task: TaskRow) -> None:
        self._post(notification_body(task), f"task {task.id}")

    def notice(self, text: str, **summary: str) -> None:
        """A notification about an event that made no task (e.g. its cloud is unconfigured)."""
        self._post({"text": text, "msgtype": "text", "content": {"text": text}, "event": summary},
                   f"{summary.get('cloud', '-')} {summary.get('instance_id', '-')}")

    def _post(self, body: dict[str, Any], about: str) -> None:
        try:
            requests.post(self.url, json=body, timeout=self.timeout).raise_for_status()
        except requests.HTTPError as exc:
            log.warning("webhook notification for %s failed: HTTP %s", about, exc.response.status_code)
        except requests.RequestException as exc:
            log.warning("webhook notification for %s failed: %s", about, exc.__class__.__name__)
