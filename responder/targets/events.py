"""The notification hook for standing capacity: every target event goes through `emit`.

Parts: KINDS (hunt_started, acquired, gap_persisting, daily_report, released, cap_reached,
account_limit: the account's own limit refused a launch, not the cloud's stock; preempted: OCI took
back a preemptible instance, verified; relaunch_fallback: the relaunch of a preempted OCI instance
could not boot from its preserved boot volume and starts clean from the image), emit,
set_sink, recent (the last events, for tests and `/targets`).

Until the notification outbox is wired, events are logged (INFO) and kept in a short ring. To
send them through the outbox, call `set_sink(fn)` once at start with `fn(kind, fields)`; fields
are plain JSON values (target name, cloud, region, counts, an error code) and never carry a
credential or user data.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable

log = logging.getLogger("responder.targets")
KINDS = ("hunt_started", "acquired", "gap_persisting", "daily_report", "released", "cap_reached", "account_limit",
         "preempted", "relaunch_fallback")
_sink: Callable[[str, dict[str, Any]], None] | None = None
_recent: collections.deque = collections.deque(maxlen=200)
_lock = threading.Lock()


def set_sink(sink: Callable[[str, dict[str, Any]], None] | None) -> None:
    global _sink
    _sink = sink


def emit(kind: str, **fields: Any) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown target event {kind!r}")
    with _lock:
        _recent.append((kind, dict(fields)))
    log.info("target %s: %s", kind, " ".join(f"{k}={v}" for k, v in sorted(fields.items())))
    if _sink is not None:
        try:
            _sink(kind, dict(fields))
        except Exception:  # a notification channel must never stop a reconcile
            log.exception("target event %s could not be handed to the notification sink", kind)


def recent(kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    with _lock:
        return [e for e in _recent if kind is None or e[0] == kind]
