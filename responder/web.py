"""The Flask app factory: /invoke (FC custom-runtime event contract), /events (plain HTTP),
/tasks, /tasks/<id>, /healthz, /metrics; one JSON error handler.

Parts: create_app, handle_body (shared by every edge: HTTP, FC, Lambda), Ticker (background
advance of due tasks in `serve` / gunicorn).

Statuses tell the sender whether to redeliver: 2xx for handled, duplicate, ignored or rejected
events; 400/401/413 for input that will never work (not retried); 503 when the store or a cloud
is down, so the platform retries. On /invoke a retryable failure also carries `x-fc-status: 404`,
which is how an FC custom runtime reports a function error and makes async retries fire.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from responder import __version__
from responder.errors import BadEvent, CloudError
from responder.metrics import Metrics
from responder.model import EventKind, Ignored, Interruption, Tick
from responder.parsing import parse_body
from responder.settings import Settings
from responder.store import Store
from responder.replace.runner import TaskRunner

log = logging.getLogger("responder.web")


class Unavailable(Exception):
    """The store or a cloud is down: answer 503 so the platform redelivers."""


def handle_body(runner: TaskRunner, raw: bytes, metrics: Metrics | None = None) -> tuple[int, dict[str, Any]]:
    """Parse and act on one delivery; returns (HTTP status, JSON body). Raises BadEvent / Unavailable."""
    return handle_events(runner, parse_body(raw, runner.settings.max_body_bytes), metrics)


def handle_events(runner: TaskRunner, events: list, metrics: Metrics | None = None) -> tuple[int, dict[str, Any]]:
    """Act on already parsed events (replay parses first, to know which sandbox clouds to start)."""
    results, accepted = [], False
    for event in events:
        result = _handle_event(runner, event)
        accepted = accepted or result["outcome"] == "accepted"
        results.append(result)
        if metrics:
            metrics.events.labels(result.get("cloud", "-"), result.get("kind", "-"), result["outcome"]).inc()
    body: dict[str, Any] = {"results": results}
    if len(results) == 1:
        body.update(results[0])
    return (202 if accepted else 200), body


def _handle_event(runner: TaskRunner, event) -> dict[str, Any]:
    if isinstance(event, Ignored):
        return {"outcome": "ignored", "reason": event.reason}
    if isinstance(event, Tick):
        return {"outcome": "ticked", "advanced": runner.tick()}
    assert isinstance(event, Interruption)
    labels = {"cloud": event.cloud.value, "kind": event.kind.value}
    if event.kind == EventKind.REBALANCE and runner.settings.rebalance_policy == "ignore":
        return {"outcome": "ignored", "reason": "rebalance policy is ignore", **labels}
    if event.kind in (EventKind.STATE_CHANGE, EventKind.HEALTH):
        noted = runner.note(event)
        return {"outcome": "noted" if noted else "ignored", **labels,
                "reason": f"{event.kind.value} event recorded on task" if noted else "no task for this instance",
                **({"task": noted.to_json()} if noted else {})}
    try:  # an unconfigured cloud raises CloudError in submit: 503, redelivered once it is configured
        submitted = runner.submit(event)
    except SQLAlchemyError as exc:
        raise Unavailable(f"task store unavailable: {exc.__class__.__name__}") from exc
    task = submitted.task
    outcome = "duplicate" if submitted.duplicate else ("rejected" if task.status == "rejected" else "accepted")
    return {"outcome": outcome, "duplicate": submitted.duplicate, "task": task.to_json(), **labels}


def _authorised(settings: Settings) -> bool:
    if not settings.auth_token:
        return True
    offered = (request.headers.get("X-Responder-Token") or request.args.get("token")
               or request.headers.get("Authorization", "").removeprefix("Bearer ").strip())
    return hmac.compare_digest(offered.encode(), settings.auth_token.encode())


class Ticker(threading.Thread):
    """Advances due tasks in the background; sleeps until the next one is due."""

    def __init__(self, runner: TaskRunner, interval: float):
        super().__init__(name="responder-ticker", daemon=True)
        self.runner = runner
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.runner.tick()
                pause = self.runner.seconds_until_due(self.interval)
            except Exception:
                log.exception("tick failed")
                pause = self.interval
            self.runner.wait_for_work(max(0.01, pause))

    def stop(self) -> None:
        self.stopping.set()
        self.runner.wake()


def create_app(settings: Settings | None = None, store: Store | None = None, clouds: dict | None = None,
               runner: TaskRunner | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if runner is None:
        store = store or Store(settings.database_url)
        if clouds is None:
            from responder.clouds.factory import clouds_from_settings

            clouds = clouds_from_settings(settings)
        on_finish = None
        if settings.notify_webhook_url:
            from responder.notify.webhook import WebhookNotifier

            on_finish = WebhookNotifier(settings.notify_webhook_url)
        runner = TaskRunner(store, clouds, settings, on_finish=on_finish)
    metrics = Metrics()
    previous_finish = runner.on_finish

    def on_finish(task):
        metrics.finished.labels(task.cloud, task.status).inc()
        if previous_finish:
            previous_finish(task)

    runner.on_finish = on_finish
    app = Flask("responder")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["responder"] = {"runner": runner, "metrics": metrics, "settings": settings}

    def start_ticker() -> Ticker:
        ticker = Ticker(runner, settings.tick_interval)
        ticker.start()
        app.extensions["responder"]["ticker"] = ticker
        return ticker

    app.start_ticker = start_ticker  # type: ignore[attr-defined]

    def deliver(endpoint: str) -> Response:
        started = time.perf_counter()
        try:
            status, body = handle_body(runner, request.get_data(cache=False), metrics)
        finally:
            metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - started)
        return jsonify(body), status

    @app.post("/invoke")
    def invoke():
        g.fc_request_id = request.headers.get("x-fc-request-id") or uuid.uuid4().hex
        log.info("FC Invoke Start RequestId: %s", g.fc_request_id)
        try:
            return deliver("invoke")
        finally:
            log.info("FC Invoke End RequestId: %s", g.fc_request_id)

    @app.post("/events")
    def events():
        if not _authorised(settings):
            return jsonify(error="missing or wrong token (Authorization: Bearer, X-Responder-Token or ?token=)"), 401
        return deliver("events")

    @app.get("/tasks")
    def list_tasks():
        if not _authorised(settings):
            return jsonify(error="missing or wrong token"), 401
        status = request.args.get("status")
        limit = min(int(request.args.get("limit", "100")) if request.args.get("limit", "").isdigit() else 100, 1000)
        return jsonify(tasks=[t.to_json() for t in runner.store.list(status=status, limit=limit)])

    @app.get("/tasks/<task_id>")
    def get_task(task_id: str):
        if not _authorised(settings):
            return jsonify(error="missing or wrong token"), 401
        task = runner.store.get(task_id)
        if task is None:
            return jsonify(error=f"no task {task_id}"), 404
        return jsonify(task.to_json())

    @app.get("/healthz")
    def healthz():
        try:
            runner.store.ping()
        except SQLAlchemyError as exc:
            return jsonify(status="unavailable", store=str(exc.__class__.__name__)), 503
        return jsonify(status="ok", version=__version__, clouds=sorted(runner.clouds), store="ok")

    @app.get("/metrics")
    def metrics_endpoint():
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    @app.errorhandler(Exception)
    def json_error(exc: Exception):
        if isinstance(exc, BadEvent):
            status, message = exc.status, str(exc)
        elif isinstance(exc, HTTPException):
            status = exc.code or 500
            message = ("body is over the size limit of %d bytes" % settings.max_body_bytes if status == 413
                       else exc.description)
        elif isinstance(exc, (Unavailable, SQLAlchemyError, CloudError)):
            status, message = 503, str(exc)
            log.warning("unavailable: %s", exc)
        else:
            status, message = 500, f"internal error: {exc.__class__.__name__}"
            log.exception("unhandled error")
        response = jsonify(error=message, status=status)
        response.status_code = status
        if request.path == "/invoke" and status >= 500:
            response.headers["x-fc-status"] = "404"  # FC: function error → async retry
        return response

    return app
