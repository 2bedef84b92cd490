"""AWS Lambda entry point: `handlers.lambda_function.lambda_handler`.

EventBridge rules (spot warning, rebalance, state change, AWS Health, a schedule for ticks) invoke
it with the event as a dict. It acts like POST /events, then keeps ticking unfinished tasks while
the invocation has time left, since no background thread outlives a Lambda invocation.

A SQLite store is refused at the first invocation unless RESPONDER_ALLOW_LOCAL_SQLITE=true: each
Lambda container would keep its own tasks (duplicates buy twice) in a file that vanishes with it,
and the default path is under the read-only /var/task. template.yaml reads the store URL from a
Secrets Manager secret instead.

Failures Lambda should retry (store or cloud unreachable) raise; input that can never work is
answered with an error result and not raised, so Lambda does not retry it.
"""

from __future__ import annotations

import json
import logging

from responder.start_cost import collector_paused, defer_unused_stdlib

with collector_paused():  # Lambda's init phase: the import's objects are never garbage (responder/start_cost.py)
    defer_unused_stdlib()  # asyncio and importlib.metadata, which SQLAlchemy imports and the store never calls
    from responder.errors import BadEvent
    from responder.intake import handle_body
    from responder.logformat import log_context
    from responder.logsafe import install_log_redaction
    from responder.replace.runner import TaskRunner
    from responder.settings import Settings
    from responder.store import Store

log = logging.getLogger("responder.lambda")
SAFETY_MARGIN_MS = 15_000  # stop ticking this long before Lambda's timeout
_runner: TaskRunner | None = None
_notifier = None  # responder.notify.service.Notifier when a channel is configured
LOCAL_SQLITE_REFUSED = ("RESPONDER_DATABASE_URL is a SQLite file: on Lambda every container would keep its own "
                        "tasks in a file that vanishes with it (and /var/task is read-only). Use MySQL or PostgreSQL "
                        "(template.yaml reads the URL from a secret), or set RESPONDER_ALLOW_LOCAL_SQLITE=true "
                        "if a per-container store is intended")


def _get_runner() -> TaskRunner:
    """One runner per container: connections and the type catalog survive warm invocations."""
    global _runner
    if _runner is None:
        from responder.clouds.factory import clouds_from_settings

        settings = Settings.from_env()
        if settings.database_url.startswith("sqlite") and not settings.allow_local_sqlite:
            raise RuntimeError(LOCAL_SQLITE_REFUSED)
        install_log_redaction(settings)  # Lambda's own handler ships every record to CloudWatch
        from responder.clouds.secret_url import with_secret_url

        settings = with_secret_url(settings)  # RESPONDER_DATABASE_SECRET: the store URL from a secret
        _runner = TaskRunner(Store(settings.database_url), clouds_from_settings(settings), settings)
        _runner.verify_linger_s = 0.0  # one invocation at a time per container: no request could join its read
        from responder.notify.service import attach

        global _notifier
        _notifier = attach(_runner, settings)
    return _runner


def reset() -> None:
    """Forget the cached runner (tests, or after the environment changed)."""
    global _runner, _notifier
    _runner, _notifier = None, None


def lambda_handler(event, context):
    runner = _get_runner()
    request_id = getattr(context, "aws_request_id", "-")
    with log_context(request_id=request_id):  # on every line of this invocation (RESPONDER_LOG_FORMAT=json)
        return _handle(runner, event, context, request_id)


def _handle(runner: TaskRunner, event, context, request_id: str):
    try:
        status, body = handle_body(runner, json.dumps(event).encode("utf-8"))
    except BadEvent as exc:
        log.warning("request %s: refused event: %s", request_id, exc)
        return {"statusCode": exc.status, "error": str(exc)}
    # Anything else (store down, cloud unconfigured) propagates: Lambda retries the event.
    _drive(runner, context)
    _deliver_notifications(context)
    return {"statusCode": status, **body}


def _deliver_notifications(context) -> None:
    """Send what the outbox holds with the invocation's remaining time; what is left waits for
    the next invocation (the rows stay pending), and a channel's failure never fails the event."""
    if _notifier is None:
        return
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget = max(0.0, (remaining() - SAFETY_MARGIN_MS) / 1000) if remaining else 10.0
    try:
        _notifier.tick(budget_seconds=budget)
    except Exception:
        log.exception("notification delivery failed")


def _drive(runner: TaskRunner, context) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return
    runner.drive_until(runner.clock() + max(0.0, (remaining() - SAFETY_MARGIN_MS) / 1000))
