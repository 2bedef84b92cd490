"""Notifications: an outbox written with the state change, delivered to apprise channels.

Parts: messages (notices and their text), channels (apprise and plain POST), delivery (the
outbox deliverer), daily (the daily report), service (Notifier, Dispatcher), and the functions
other flows call: `install` (the process's Notifier, set by the app factory) and
`emit(kind, dedupe_key=None, level=None, **fields)`. Every message goes through the outbox.

`emit` writes one outbox row in its own transaction, routed to the configured channels; with no
channel configured it writes nothing and returns False. A caller that changes state in a
transaction of its own puts the notices in that transaction instead, so neither exists without
the other: `insert_notices(conn, installed().notices(kind, key, **fields), now)` (responder.store).
"""

from __future__ import annotations

import time
from typing import Any

from responder.notify.messages import KINDS, LEVELS, Notice, make_notice

_notifier = None


def install(notifier) -> None:
    global _notifier
    _notifier = notifier


def installed():
    """The process's Notifier, or None when no channel is configured."""
    return _notifier


def emit(kind: str, dedupe_key: str | None = None, level: str | None = None, **fields: Any) -> bool:
    """Queue a notification of `kind` (one of messages.KINDS, e.g. "target_acquired",
    "gap_persisting", "hunt_started") with public `fields` (user data and secret-named fields are
    dropped or summarised); True when it was new. Give a `dedupe_key` (e.g.
    f"target:{name}:acquired:{generation}") so a repeat, a retry or a second worker sends once."""
    notifier = _notifier
    if notifier is None:
        return False
    return notifier.enqueue(kind, dedupe_key or f"{kind}:{time.time():.6f}:{id(fields)}", level=level, **fields)


__all__ = ["emit", "install", "installed", "make_notice", "Notice", "KINDS", "LEVELS"]
