"""The Flask app factory: /invoke (FC custom-runtime event contract), /events (plain HTTP),
/tasks, /tasks/<id>, /healthz, /metrics; one JSON error handler.

Parts: create_app, Ticker (background advance of due tasks in `serve` / gunicorn). What a
delivery means is decided in responder.intake, shared by every edge (HTTP, FC, Lambda, CLI).

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

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from responder import __version__
from responder.errors import BadEvent, CloudError
from responder.metrics import Metrics
from responder.intake import Unavailable, handle_body
from responder.logsafe import active_redactor
from responder.settings import Settings
from responder.store import Store, StoreUnavailable
from responder.replace.runner import TaskRunner

log = logging.getLogger("responder.web")


TOKEN_IN_QUERY = ("a token in the query string is refused (query strings land in access logs): send it in a "
                  "header, Authorization: Bearer or X-Responder-Token")
UNAUTHORISED = "missing or wrong token (Authorization: Bearer or X-Responder-Token)"


def _authorised(settings: Settings) -> bool:
    """The caller's token, from the headers only: a query string is written to every access log."""
    if "token" in request.args:
        raise BadEvent(TOKEN_IN_QUERY)
    if not settings.auth_token:
        return True
    offered = (request.headers.get("X-Responder-Token")
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


STORE_DOWN = {"error": "task store unavailable", "component": "store"}


def _is_store_down(exc: Exception) -> bool:
    if isinstance(exc, Unavailable):  # intake's wrapper: look at what it wrapped
        exc = exc.__cause__ or exc
    return isinstance(exc, (StoreUnavailable, SQLAlchemyError))


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
            answer = deliver("invoke")
            budget = invoke_budget(request.headers, settings)
            if budget > 0 and answer[1] < 300:
                # FC freezes the instance once it has answered: work the task to the end now,
                # within the function's timeout; the timer trigger is only the safety net.
                runner.drive_until(runner.clock() + budget)
            return answer
        finally:
            log.info("FC Invoke End RequestId: %s", g.fc_request_id)

    @app.post("/events")
    def events():
        if not _authorised(settings):
            return jsonify(error=UNAUTHORISED), 401
        return deliver("events")

    @app.get("/tasks")
    def list_tasks():
        if not _authorised(settings):
            return jsonify(error=UNAUTHORISED), 401
        status = request.args.get("status")
        limit = min(int(request.args.get("limit", "100")) if request.args.get("limit", "").isdecimal() else 100, 1000)
        return jsonify(tasks=[t.to_json() for t in runner.store.list(status=status, limit=limit)])

    @app.get("/tasks/<task_id>")
    def get_task(task_id: str):
        if not _authorised(settings):
            return jsonify(error=UNAUTHORISED), 401
        task = runner.store.get(task_id)
        if task is None:
            return jsonify(error=f"no task {task_id}"), 404
        return jsonify(task.to_json())

    @app.get("/healthz")
    def healthz():
        try:
            runner.store.ping()
        except (StoreUnavailable, SQLAlchemyError):
            return jsonify(status="unavailable", **STORE_DOWN), 503
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
        elif _is_store_down(exc):  # never str(exc): a driver message names hosts and SQL parameters
            status, message = 503, None
            log.warning("task store unavailable (%s)", getattr(exc, "cause", "") or exc.__class__.__name__)
        elif isinstance(exc, (Unavailable, CloudError)):
            # A cloud's message may carry a URL, a signed string or a parameter.
            status, message = 503, active_redactor().redact(str(exc))
            log.warning("unavailable: %s", message)
        else:
            status, message = 500, f"internal error: {exc.__class__.__name__}"
            log.exception("unhandled error")
        response = jsonify(STORE_DOWN if message is None else {"error": message, "status": status})
        response.status_code = status
        if request.path == "/invoke" and status >= 500:
            response.headers["x-fc-status"] = "404"  # FC: function error → async retry
        return response

    return app


INVOKE_MARGIN_SECONDS = 15.0  # answer this long before FC's timeout ends the invocation


def invoke_budget(headers, settings: Settings) -> float:
    """Seconds /invoke may keep working after it has the answer: RESPONDER_INVOKE_DRIVE_SECONDS
    when set, else the function's timeout FC forwards (`x-fc-function-timeout`, seconds) less a
    margin; 0 (answer at once) when neither is known — the harsher reading of an unknown timeout."""
    if settings.invoke_drive_seconds > 0:
        return settings.invoke_drive_seconds
    raw = headers.get("x-fc-function-timeout", "")
    try:
        return max(0.0, float(raw) - INVOKE_MARGIN_SECONDS) if raw else 0.0
    except ValueError:
        return 0.0
