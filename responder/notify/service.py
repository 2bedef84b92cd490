"""The notification service one process runs: channels, outbox, daily report, started notice.

Parts: Notifier (enqueue, task_notices for the runner's save, tick: the daily report then
delivery, health, started), Dispatcher (the thread that ticks the Notifier in `serve` /
gunicorn, apart from the task ticker so a slow channel never delays a replacement), attach (the
wiring every entry point shares).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable

from responder import __version__, notify
from responder.logsafe import install_log_redaction
from responder.notify.channels import channels_from_settings
from responder.notify.daily import daily_report, report_due
from responder.notify.delivery import Outbox
from responder.notify.messages import Notice, make_notice, task_notices
from responder.store_connect import is_store_error, log_store_failure
from responder.targets.wiring import connect_notifications, summaries

log = logging.getLogger("responder.notify")
STARTED_BUCKET_SECONDS = 300  # workers starting together announce one start


class Notifier:
    def __init__(self, store, settings, channels=None, clock: Callable[[], float] = time.time, metrics=None,
                 caps=None, targets: Callable[[], list[dict]] | None = None):
        install_log_redaction(settings)  # the channel URLs' secrets join the redactor that logs use
        self.store = store
        self.settings = settings
        self.clock = clock
        self.caps = caps
        self.targets = targets
        self.metrics = metrics
        self._reported = None  # the scheduled time of the last daily report this process queued
        self.outbox = Outbox(store, channels if channels is not None else channels_from_settings(settings),
                             clock=clock, on_result=self._count)

    @property
    def channels(self):
        return self.outbox.channels

    def _count(self, channel: str, sent: bool) -> None:
        if self.metrics is not None:
            (self.metrics.notifications_sent if sent else self.metrics.notifications_failed).labels(channel).inc()

    def enqueue(self, kind: str, dedupe_key: str | None = None, level: str | None = None, **fields: Any) -> bool:
        """Queue one notification in its own transaction; True when it was new. Without a dedupe
        key every call is a new notification."""
        key = dedupe_key or f"{kind}:{self.clock():.6f}:{id(fields)}"
        return self.outbox.enqueue([make_notice(kind, key, level=level, **fields)]) == 1

    def task_notices(self, task) -> list[Notice]:
        """The runner's hook: what the task's state implies, routed to the channels that want it
        (saved with the task by Store.save_with_outbox)."""
        return self.outbox.route(task_notices(task))

    def notices(self, kind: str, dedupe_key: str, level: str | None = None, **fields: Any) -> list[Notice]:
        """Routed notices for a caller that writes them in its own transaction (insert_notices)."""
        return self.outbox.route([make_notice(kind, dedupe_key, level=level, **fields)])

    def started(self, clouds: list[str]) -> bool:
        s = self.settings
        bucket = int(self.clock() // STARTED_BUCKET_SECONDS)
        return self.enqueue("started", f"started:{socket.gethostname()}:{__version__}:{bucket}",
                            version=__version__, host=socket.gethostname(), clouds=sorted(clouds),
                            regions=list(s.allowed_regions) or "any", market_policy=s.market_policy,
                            rebalance_policy=s.rebalance_policy, aws_action=s.aws_action, dry_run=s.dry_run,
                            caps=f"{s.max_launches_per_hour} spends per hour, {s.max_spend_per_event} per event",
                            **self._target_specs())

    def _target_specs(self) -> dict[str, Any]:
        """What each standing target keeps or hunts (the old OCI script's start-up message said
        region, shape and size); nothing when the targets cannot be read."""
        try:
            listed = self.targets() if self.targets is not None else []
        except Exception:  # a start-up message must not fail on the targets table
            log.warning("targets could not be read for the start-up message", exc_info=True)
            return {}
        return {"targets": {t["name"]: t["spec"] for t in listed if t.get("spec")}} if listed else {}

    def tick(self, budget_seconds: float | None = None) -> int:
        """Queue the daily report when due, then deliver what is due; returns sends made."""
        try:
            scheduled = None if self.settings.notify_daily_at == "off" else report_due(
                self.clock(), self.settings.notify_daily_at, self.settings.notify_daily_timezone)
            # Built once per day and process: the dedupe key (the local date) stops other processes.
            if scheduled is not None and scheduled != self._reported:
                notice = daily_report(self.store, scheduled, caps=self.caps, targets=self.targets,
                                      per_hour_cap=self.settings.max_launches_per_hour)
                self.outbox.enqueue([notice])
                self._reported = scheduled
        except Exception as exc:
            if is_store_error(exc):  # retried on the next pass; an outage is logged once
                log_store_failure(log, self.store.engine, "daily report failed", exc)
            else:
                log.exception("daily report failed")
        return self.outbox.deliver_due(budget_seconds)

    def health(self) -> dict[str, dict]:
        return self.outbox.channel_health()


class Dispatcher(threading.Thread):
    def __init__(self, notifier: Notifier, interval: float = 2.0):
        super().__init__(name="responder-notify", daemon=True)
        self.notifier = notifier
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.notifier.tick()
            except Exception as exc:
                if is_store_error(exc):  # no traceback per pass during an outage (logged when it starts)
                    log_store_failure(log, self.notifier.store.engine, "notification delivery failed", exc)
                else:
                    log.exception("notification delivery failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def attach(runner, settings, **kwargs) -> Notifier | None:
    """The wiring every entry point shares: when a channel is configured, a Notifier over the
    runner's store whose notices the runner saves with each state change, installed as the
    process's (responder.notify.emit); None when nothing is configured."""
    if not (settings.notify_urls or settings.notify_webhook_url):
        return None

    # Every runner's daily report carries each target's capacity and hunt statistics: `serve` passed
    # them, `tick`, Lambda and the FC timer did not, so the cron line the OCI import recommends
    # sent a report without them.
    if kwargs.get("targets") is None:
        kwargs["targets"] = summaries(runner.store)
    notifier = Notifier(runner.store, settings, caps=runner.caps, **kwargs)
    runner.notices = notifier.task_notices
    notify.install(notifier)
    connect_notifications(notify.emit)  # standing capacity's events: acquired, gap, hunt, cap
    return notifier
