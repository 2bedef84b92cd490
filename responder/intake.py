"""The edge dispatch shared by HTTP (/invoke, /events), Lambda and the CLI: raw bytes → parsed
events → what to do with each → the answer.

Parts: Unavailable (the store or a cloud is down: 503, redeliver), handle_body (parse, then act),
handle_events (act on parsed events; replay parses first to know which sandbox clouds to start).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from responder.metrics import Metrics
from responder.model import EventKind, Ignored, Interruption, Tick
from responder.parsing import parse_body
from responder.replace.runner import TaskRunner


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
