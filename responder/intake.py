"""The edge dispatch shared by HTTP (/invoke, /events), Lambda and the CLI: raw bytes → parsed
events → what to do with each → the answer.

Parts: Action, action_for (the pure decision: what an event asks of us under these settings),
handle_body (parse, then act),
_unconfigured (an event for a cloud without credentials: 2xx `unconfigured`, logged and notified,
because no redelivery can fix a missing credential; a 503 would be redelivered forever),
handle_events (act on parsed events; replay parses first to know which sandbox clouds to start); an
OCI preemption goes to responder.targets.preemption (verified, recorded, relaunched by its target).
"""

from __future__ import annotations

import logging
import time
from enum import Enum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from responder import notify
from responder.clouds.factory import unconfigured_reason
from responder.errors import Unavailable
from responder.metrics import Metrics
from responder.model import Cloud, EventKind, Ignored, Interruption, Tick
from responder.parsing import parse_body
from responder.protect.tick import tick_protect
from responder.revert.tick import tick_revert
from responder.replace.runner import TaskRunner
from responder.settings import Settings
from responder.store_connect import StoreUnavailable
from responder.targets.preemption import handle_oci_preemption
from responder.targets.tick import tick_targets

log = logging.getLogger("responder.intake")


class Action(str, Enum):
    IGNORE = "ignore"  # acknowledged, nothing to do
    TICK = "tick"  # advance whatever is due
    NOTE = "note"  # recorded on the instance's task, if it has one
    REPLACE = "replace"  # verify, image, launch a replacement (and/or reserve, per RESPONDER_AWS/ALIYUN_ACTION)
    IMAGE_ONLY = "image-only"  # verify, image, stop: a rebalance answered with a ready image


def action_for(event, settings: Settings) -> Action:
    """What to do with one parsed event. Pure: no store, no cloud."""
    if isinstance(event, Ignored):
        return Action.IGNORE
    if isinstance(event, Tick):
        return Action.TICK
    if event.kind in (EventKind.STATE_CHANGE, EventKind.HEALTH):
        return Action.NOTE
    if event.kind == EventKind.REBALANCE:
        return {"ignore": Action.IGNORE, "image-only": Action.IMAGE_ONLY}.get(settings.rebalance_policy,
                                                                              Action.REPLACE)
    return Action.REPLACE


def handle_body(runner: TaskRunner, raw: bytes, metrics: Metrics | None = None) -> tuple[int, dict[str, Any]]:
    """Parse and act on one delivery; returns (HTTP status, JSON body). Raises BadEvent / Unavailable."""
    return handle_events(runner, parse_body(raw, runner.settings.max_body_bytes), metrics)


def handle_events(runner: TaskRunner, events: list, metrics: Metrics | None = None) -> tuple[int, dict[str, Any]]:
    """Act on already parsed events (replay parses first, to know which sandbox clouds to start)."""
    results, accepted = [], False
    for event in events:
        # The events of one body go in turn: none would join another's verification read.
        result = _handle_event(runner, event, may_linger=len(events) == 1)
        accepted = accepted or result["outcome"] == "accepted"
        results.append(result)
        if metrics:
            metrics.events.labels(result.get("cloud", "-"), result.get("kind", "-"), result["outcome"]).inc()
    body: dict[str, Any] = {"results": results}
    if len(results) == 1:
        body.update(results[0])
    return (202 if accepted else 200), body


def _handle_event(runner: TaskRunner, event, may_linger: bool = True) -> dict[str, Any]:
    action = action_for(event, runner.settings)
    if action == Action.TICK:

        return {"outcome": "ticked", "advanced": runner.tick(), "targets": tick_targets(runner),
                "protect": tick_protect(runner), "revert": tick_revert(runner)}
    if isinstance(event, Ignored):
        return {"outcome": "ignored", "reason": event.reason}
    assert isinstance(event, Interruption)
    labels = {"cloud": event.cloud.value, "kind": event.kind.value}
    if action == Action.IGNORE:
        return {"outcome": "ignored", "reason": f"rebalance policy is {runner.settings.rebalance_policy}", **labels}
    if action == Action.NOTE:
        noted = runner.note(event)
        return {"outcome": "noted" if noted else "ignored", **labels,
                "reason": f"{event.kind.value} event recorded on task" if noted else "no task for this instance",
                **({"task": noted.to_json()} if noted else {})}
    if event.cloud.value not in runner.clouds:
        return _unconfigured(runner, event, labels)
    if event.cloud == Cloud.OCI:  # no notice window to image in: the owning target relaunches it

        try:
            return handle_oci_preemption(runner, event, labels)
        except (SQLAlchemyError, StoreUnavailable) as exc:
            raise Unavailable(f"task store unavailable: {exc.__class__.__name__}") from exc
    try:
        submitted = runner.submit(event, may_linger)  # IMAGE_ONLY and REPLACE differ in the steps, by kind and policy
    except (SQLAlchemyError, StoreUnavailable) as exc:
        raise Unavailable(f"task store unavailable: {exc.__class__.__name__}") from exc
    task = submitted.task
    if task.status == "rejected":  # a copy within the verdict's time gets the verdict, not "duplicate"
        outcome = "rejected"
    elif submitted.duplicate:
        outcome = "duplicate"
    else:  # never "accepted" for a task that already ended
        outcome = {"failed": "failed"}.get(task.status, "accepted")
    return {"outcome": outcome, "duplicate": submitted.duplicate, "task": task.to_json(), **labels}


def _unconfigured(runner: TaskRunner, event: Interruption, labels: dict[str, str]) -> dict[str, Any]:
    reason = unconfigured_reason(event.cloud.value, runner.settings)
    log.error("event for %s %s %s not acted on: %s", event.cloud.value, event.region, event.instance_id, reason)
    # Through the outbox like every message; one per instance and hour however often it is redelivered.
    notify.emit("unconfigured", f"unconfigured:{event.key}:{int(time.time() // 3600)}", cloud=event.cloud.value,
                region=event.region, instance_id=event.instance_id, reason=reason)
    return {"outcome": "unconfigured", "reason": reason, "instance_id": event.instance_id,
            "region": event.region, **labels}
