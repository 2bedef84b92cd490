"""AWS Lambda entry point: `handlers.lambda_function.lambda_handler`.

EventBridge rules (spot warning, rebalance, state change, AWS Health, a schedule for ticks) invoke
it with the event as a dict. It acts like POST /events, then keeps ticking unfinished tasks while
the invocation has time left, since no background thread outlives a Lambda invocation.

Failures Lambda should retry (store or cloud unreachable) raise; input that can never work is
answered with an error result and not raised, so Lambda does not retry it.
"""

from __future__ import annotations

import json
import logging

from responder.errors import BadEvent
from responder.logsafe import install_log_redaction
from responder.settings import Settings
from responder.store import Store
from responder.replace.runner import TaskRunner
from responder.intake import handle_body

log = logging.getLogger("responder.lambda")
SAFETY_MARGIN_MS = 15_000  # stop ticking this long before Lambda's timeout
_runner: TaskRunner | None = None


def _get_runner() -> TaskRunner:
    """One runner per container: connections and the type catalog survive warm invocations."""
    global _runner
    if _runner is None:
        from responder.clouds.factory import clouds_from_settings

        settings = Settings.from_env()
        install_log_redaction(settings)  # Lambda's own handler ships every record to CloudWatch
        _runner = TaskRunner(Store(settings.database_url), clouds_from_settings(settings), settings)
    return _runner


def reset() -> None:
    """Forget the cached runner (tests, or after the environment changed)."""
    global _runner
    _runner = None


def lambda_handler(event, context):
    runner = _get_runner()
    request_id = getattr(context, "aws_request_id", "-")
    try:
        status, body = handle_body(runner, json.dumps(event).encode("utf-8"))
    except BadEvent as exc:
        log.warning("request %s: refused event: %s", request_id, exc)
        return {"statusCode": exc.status, "error": str(exc)}
    # Anything else (store down, cloud unconfigured) propagates: Lambda retries the event.
    _drive(runner, context)
    return {"statusCode": status, **body}


def _drive(runner: TaskRunner, context) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return
    runner.drive_until(runner.clock() + max(0.0, (remaining() - SAFETY_MARGIN_MS) / 1000))
