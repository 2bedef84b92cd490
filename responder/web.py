"""The Flask app factory: /invoke (FC custom-runtime event contract), /events (plain HTTP),
/tasks, /tasks/<id>, /targets, /targets/<name> (responder.targets.routes), /healthz (store, and
`degraded` naming a served cloud without credentials), /metrics, / (the status page); one JSON
error handler.

Parts: create_app (also wires notifications: the outbox hook, the dispatcher, the start-up
notice), Ticker (background advance of due tasks in `serve` / gunicorn). What a
delivery means is decided in responder.intake, shared by every edge (HTTP, FC, Lambda, CLI).

Statuses tell the sender whether to redeliver: 2xx for handled, duplicate, ignored or rejected
events; 400/401/413 for input that will never work (not retried); 503 when the store or a cloud
is down, so the platform retries, and on /invoke when a cloud's policy refused a call (a
configuration fault: FC retries, then dead-letters; a redelivery resumes the task). On /invoke a
retryable failure also carries `x-fc-status: 404`, which is how an FC custom runtime reports a function error and makes async retries fire.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from responder import __version__
from responder.clouds.credential_check import CredentialCheck
from responder.clouds.factory import chain_checks, clouds_from_settings, unconfigured_clouds, unconfigured_reason
from responder.clouds.fc_credentials import RequestCredentials
from responder.errors import BadEvent, CloudError, Unavailable
from responder.intake import handle_body
from responder.logformat import bind as bind_log_context
from responder.logsafe import active_redactor
from responder.metrics import BudgetMetrics, CountingCloud, Metrics, StoreCollector
from responder.notify.service import Dispatcher, attach
from responder.protect.tick import tick_protect
from responder.revert.tick import tick_revert
from responder.replace.record import Task
from responder.replace.runner import TaskRunner
from responder.settings import Settings
from responder.status.page import refresh_seconds, render_status
from responder.store import Store, StoreUnavailable
from responder.store_connect import is_store_error, log_store_failure
from responder.targets.routes import register as register_targets
from responder.clouds.secret_url import with_secret_url
from responder.targets.tick import tick_targets
from responder.targets.wiring import summaries

log = logging.getLogger("responder.web")
fc_log = logging.getLogger("responder.fc")  # the FC Invoke Start/End lines (bare, see responder.wsgi)
INVOKE_ELSEWHERE = "/invoke is served on port %d only (RESPONDER_INVOKE_PORT)"
ONLY_INVOKE_HERE = "port %d serves /invoke and /healthz only (RESPONDER_INVOKE_PORT)"


TOKEN_IN_QUERY = ("a token in the query string is refused (query strings land in access logs): send it in a "
                  "header, Authorization: Bearer or X-Responder-Token")
UNAUTHORISED = "missing or wrong token (Authorization: Bearer or X-Responder-Token)"


def _refuse_token_in_query() -> None:
    """On every route: a token in a query string is in every access log, so it is never accepted."""
    if "token" in request.args:
        raise BadEvent(TOKEN_IN_QUERY)


def _authorised(settings: Settings) -> bool:
    """The caller's token, from the headers only (the query string was refused before any route)."""
    if not settings.auth_token:
        return True
    offered = (request.headers.get("X-Responder-Token")
               or request.headers.get("Authorization", "").removeprefix("Bearer ").strip())
    return hmac.compare_digest(offered.encode(), settings.auth_token.encode())


class Ticker(threading.Thread):
    """Advances due tasks in the background; sleeps until the next one is due."""

    def __init__(self, runner: TaskRunner, interval: float, prepare: Callable[[], None] | None = None):
        super().__init__(name="responder-ticker", daemon=True)
        self.runner = runner
        self.interval = interval
        self.prepare = prepare  # run first, in this thread: the credential check left out of the start
        self.stopping = threading.Event()

    def run(self) -> None:
        if self.prepare is not None:
            self.prepare()
        while not self.stopping.is_set():
            try:
                self.runner.tick()
                tick_targets(self.runner)  # cheap when no target is due: one indexed query
                tick_protect(self.runner)  # cheap when no selector is due: one lookup each
                tick_revert(self.runner)  # one store scan a minute at most
                pause = self.runner.seconds_until_due(self.interval)
            except Exception as exc:
                if is_store_error(exc):  # an outage is logged once, when it starts and when it ends
                    log_store_failure(log, self.runner.store.engine, "tick failed", exc)
                else:
                    log.exception("tick failed")
                pause = self.interval
            self.runner.wait_for_work(max(0.01, pause))

    def stop(self) -> None:
        self.stopping.set()
        self.runner.wake()


STORE_DOWN = {"error": "task store unavailable", "component": "store"}


def _is_invoke(req) -> bool:
    """/invoke, or `POST /` (the same invocation under FC's custom runtime)."""
    return req.path == "/invoke" or (req.path == "/" and req.method == "POST")


def _is_store_down(exc: Exception) -> bool:
    if isinstance(exc, Unavailable):  # intake's wrapper: look at what it wrapped
        exc = exc.__cause__ or exc
    return is_store_error(exc)


def _basic_auth_token() -> str:
    """The password of an HTTP Basic header: how a browser sends the token to the status page."""
    auth = request.authorization
    return (auth.password or "") if auth is not None and auth.type == "basic" else ""


def _unconfigured(settings: Settings, clouds: dict) -> dict[str, str]:

    return {cloud: unconfigured_reason(cloud, settings) for cloud in settings.clouds if cloud not in clouds}


def create_app(settings: Settings | None = None, store: Store | None = None, clouds: dict | None = None,
               runner: TaskRunner | None = None, targets=None) -> Flask:
    """`targets`: a callable returning [{"name", "desired", "held"}] for the status page, the
    metrics and the daily report (the targets flow provides it)."""
    settings = settings or Settings.from_env()
    if runner is None and store is None:
        settings = with_secret_url(settings)  # the store URL and the channels, from their secrets
    elif settings.notify_secret:  # a store given: only the channels
        settings = with_secret_url(settings.with_(database_secret=""))
    checks: dict = {}
    if runner is None:
        if store is None:
            store = Store(settings.database_url)
        if clouds is None:
            checks = chain_checks(settings)  # AWS's chain is asked after the start (CredentialCheck)
            clouds = clouds_from_settings(settings, unconfigured_clouds(settings, deferred=checks))
        # RESPONDER_NOTIFY_WEBHOOK_URL is one outbox channel now (notify.channels), not a hook.
        runner = TaskRunner(store, clouds, settings)
    metrics = Metrics()
    if runner.budget is not None:  # throttles, waits and rates of the process's API budget
        runner.budget.watcher = BudgetMetrics(metrics)
    for name, cloud in list(runner.clouds.items()):  # in place: the executor holds this very dict
        if not isinstance(cloud, CountingCloud):
            runner.clouds[name] = CountingCloud(cloud, name, metrics)

    def install(cloud, name: str = "aliyun"):
        """An adapter made after start (FC's request credentials): counted and budgeted like the rest."""
        wrapped = CountingCloud(cloud, name, metrics)
        if runner.budget is not None:
            wrapped.gate = runner.budget
        return wrapped

    request_credentials = RequestCredentials(settings, runner.clouds, install)
    targets = targets or summaries(runner.store)
    notifier = attach(runner, settings, metrics=metrics, targets=targets)
    unconfigured = _unconfigured(settings, runner.clouds)

    def announce() -> None:
        """The start-up notice and log lines, once the served clouds are known."""
        if notifier is not None:
            try:
                notifier.started(sorted(runner.clouds))
            except (StoreUnavailable, SQLAlchemyError):
                log.warning("could not queue the start-up notification: task store unavailable")
        for cloud, reason in sorted(unconfigured.items()):  # loud at start-up, not only when an event arrives
            log.error("cloud %s is unconfigured: %s", cloud, reason)

    credentials = CredentialCheck(checks, runner.clouds, unconfigured, announce)
    if not checks:
        credentials.resolve()  # nothing left to ask: announced now, as the app is built
    pools = runner.facts.churn.pools if runner.facts.churn is not None else None  # reclaims per pool
    metrics.watch_store(StoreCollector(runner.store, targets, notifier.health if notifier else None, pools=pools))
    previous_finish = runner.on_finish

    def on_finish(task):

        metrics.finished.labels(task.cloud, task.status).inc()
        metrics.observe_task(Task(task))
        if previous_finish:
            previous_finish(task)

    runner.on_finish = on_finish
    app = Flask("responder")
    app.before_request(_refuse_token_in_query)
    app.before_request(credentials.resolve)  # no request reads the clouds before they are checked
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["responder"] = {"runner": runner, "metrics": metrics, "settings": settings,
                                   "notifier": notifier, "credentials": credentials}

    def start_ticker() -> Ticker:
        ticker = Ticker(runner, settings.tick_interval, prepare=credentials.resolve)
        ticker.start()
        app.extensions["responder"]["ticker"] = ticker
        if notifier is not None:  # its own thread: a slow channel never delays a replacement

            dispatcher = Dispatcher(notifier, interval=max(settings.tick_interval, 1.0))
            dispatcher.start()
            app.extensions["responder"]["dispatcher"] = dispatcher
        return ticker

    app.start_ticker = start_ticker  # type: ignore[attr-defined]

    def deliver(endpoint: str) -> Response:
        started = time.perf_counter()
        try:
            status, body = handle_body(runner, request.get_data(cache=False), metrics)
        finally:
            metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - started)
        return jsonify(body), status

    @app.before_request
    def bind_request_id():
        g.unbind_log_context = bind_log_context(request_id=(
            request.headers.get("x-fc-request-id") or request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:64])

    @app.teardown_request
    def unbind_request_id(_exc):
        unbind = g.pop("unbind_log_context", None)
        if unbind is not None:
            unbind()

    @app.get("/")
    def status_page():
        if settings.auth_token and not (_authorised(settings) or hmac.compare_digest(
                _basic_auth_token().encode(), settings.auth_token.encode())):
            return Response(UNAUTHORISED + ", or the token as the password of HTTP Basic", 401,
                            {"WWW-Authenticate": 'Basic realm="responder"'}, mimetype="text/plain")

        return Response(render_status(runner.store, targets=targets,
                                      channel_health=notifier.health if notifier else None, pools=pools,
                                      refresh_seconds=refresh_seconds(request.args.get("refresh"))),
                        mimetype="text/html")

    @app.before_request
    def keep_invoke_on_its_port():
        """With RESPONDER_INVOKE_PORT, /invoke (no token: FC's own path) answers only on that port
        and the port answers nothing else, so publishing the main port never exposes /invoke.
        SERVER_PORT is the listening socket's port under gunicorn, not the client's Host header."""
        if not settings.invoke_port:
            return None
        on_invoke_port = request.environ.get("SERVER_PORT") == str(settings.invoke_port)
        if _is_invoke(request) and not on_invoke_port:
            return jsonify(error=INVOKE_ELSEWHERE % settings.invoke_port), 404
        if on_invoke_port and not (_is_invoke(request) or request.path == "/healthz"):
            return jsonify(error=ONLY_INVOKE_HERE % settings.invoke_port), 404
        return None

    # FC's custom runtime hands every trigger's request to the server whatever its path: `POST /`
    # (the path of a plain HTTP invocation, seed 004's `curl -X POST http://localhost:9000`) is an
    # invocation like /invoke, while `GET /` stays the status page.
    @app.post("/")
    @app.post("/invoke")
    def invoke():
        g.fc_request_id = request.headers.get("x-fc-request-id") or uuid.uuid4().hex
        fc_log.info("FC Invoke Start RequestId: %s", g.fc_request_id)
        try:
            request_credentials.apply(request.headers)  # FC's role, fresh on each request
            started = time.monotonic()
            answer = deliver("invoke")
            budget = invoke_budget(request.headers, settings)
            if budget > 0 and answer[1] < 300:
                # FC freezes the instance once it has answered: work the task to the end now,
                # within the function's timeout; the timer trigger is only the safety net.
                runner.drive_until(runner.clock() + budget)
            # The same freeze holds the outbox: what this invocation (or an earlier one, on a timer
            # tick) queued is sent before the answer, with what is left of the budget.
            deliver_outbox(notifier, budget - (time.monotonic() - started))
            return _refused_by_policy(runner, answer) or answer
        finally:
            fc_log.info("FC Invoke End RequestId: %s", g.fc_request_id)

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
        health = dict(status="degraded" if unconfigured else "ok", version=__version__,
                      clouds=sorted(runner.clouds), store="ok", **({"unconfigured": unconfigured} if unconfigured else {}))
        # Degraded, still 200: a platform health check restarting the instance cannot add a credential.
        if notifier is not None:  # a failing channel is reported, never a reason to answer 503
            health["notifications"] = notifier.health()
        return jsonify(health)

    @app.get("/metrics")
    def metrics_endpoint():
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    register_targets(app, lambda: _authorised(settings), UNAUTHORISED)

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
            cause = exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
            log_store_failure(log, runner.store.engine, f"{request.path}: answered 503", cause)
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


def _refused_by_policy(runner: TaskRunner, answer):
    """A task a cloud's policy refused is a configuration fault: 503 with x-fc-status (FC retries
    the event and, out of retries, dead-letters it), naming the permission; None otherwise."""
    task_id = ((answer[0].get_json(silent=True) or {}).get("task") or {}).get("id")
    row = runner.store.get(task_id) if task_id else None
    task = Task(row) if row is not None else None
    if task is None or task.status != "failed" or not task.record.denied:
        return None
    body = {"error": f"permission refused ({task.record.denied}): {task.reason}", "status": 503, "task": task.to_json()}
    return jsonify(body), 503, {"x-fc-status": "404"}


INVOKE_MARGIN_SECONDS = 15.0  # answer this long before FC's timeout ends the invocation
# The outbox's time in an invocation whose budget is unknown or spent: a notice is short, a channel
# that does not answer in this long is tried again on the next invocation (the row stays pending).
OUTBOX_FLOOR_SECONDS = 5.0


def deliver_outbox(notifier, seconds_left: float) -> None:
    """Send what the outbox holds inside the invocation; a channel's failure never fails the event."""
    if notifier is None:
        return
    try:
        notifier.tick(budget_seconds=max(seconds_left, OUTBOX_FLOOR_SECONDS))
    except Exception:
        log.exception("notification delivery failed")


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
