"""A server database's health as the responder sees it: one line when an outage starts, one when
it ends, and no caller waiting on a database already known to be gone.

Parts: StoreHealth (failed, connected, admit, down, reported), watch (wires an engine's connect and error
events to a StoreHealth, attached to the engine), health_of.

Without it, a database that stops answering costs every caller the full timeout, one after the
other: each statement of a request, each ticker pass, each scrape. Here the first failure that
means "unreachable" (a lost connection, a connect that failed, a server that did not answer in
time) marks an outage and drops the idle pooled connections (none is pinged against a server that
is gone); while it lasts, a new connection is refused at once, except one attempt every
`retry_seconds`, made by whoever comes first; the first connection that works ends it. A failing
statement on a live server (a lock wait, a constraint) is not an outage.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import sqlalchemy as sa

log = logging.getLogger("responder.store")
RETRY_SECONDS = 2.0


class StoreHealth:
    def __init__(self, component: str = "task store", retry_seconds: float = RETRY_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.component = component
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.down_since: float | None = None
        self.cause = ""
        self.refused = 0  # connections refused at once during the current outage
        # Before the first connection works, a failure is the caller's to report (a command says
        # "task store unavailable ... at <url>" and exits): it is not an outage of a running store.
        self.reached = False
        self._announced = False
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    @property
    def reported(self) -> bool:
        """Down, and the outage's line was logged (callers need not log it again)."""
        return self.down_since is not None and self._announced

    def failed(self, cause: str) -> bool:
        """The server could not be reached; True when this starts an outage (and logs its line)."""
        with self._lock:
            now = self.clock()
            self._retry_at = now + self.retry_seconds
            if self.down_since is not None:
                return False
            self.down_since, self.cause, self.refused = now, cause, 0
            announced = self._announced = self.reached
        if announced:
            log.warning("%s unavailable (%s): calls fail at once while it lasts; reconnecting every %g s",
                        self.component, cause, self.retry_seconds)
        return True

    def connected(self) -> None:
        """A new connection worked: the outage, if any, is over (and its end is logged once)."""
        with self._lock:
            self.reached = True
            if self.down_since is None:
                return
            lasted, refused, announced = self.clock() - self.down_since, self.refused, self._announced
            self.down_since = None
        if announced:
            log.info("%s available again after %.1f s (%d calls refused meanwhile)", self.component, lasted, refused)

    def admit(self) -> bool:
        """Whether a new connection may be tried now: always, except during an outage, where one
        attempt per `retry_seconds` goes through."""
        with self._lock:
            if self.down_since is None:
                return True
            now = self.clock()
            if now >= self._retry_at:
                self._retry_at = now + self.retry_seconds
                return True
            self.refused += 1
            return False


def watch(engine: sa.Engine, health: StoreHealth | None = None) -> StoreHealth:
    """Keep `engine`'s health: refuse new connections during an outage (before any other connect
    hook runs, so register this first), note outages and recoveries."""
    health = health or StoreHealth()
    engine.responder_health = health  # type: ignore[attr-defined]

    @sa.event.listens_for(engine, "do_connect")
    def refuse_during_outage(dialect, _record, _cargs, _cparams):
        if health.admit():
            return None  # the next hook, or the driver, connects
        refused = dialect.loaded_dbapi.OperationalError(f"{health.component} is down; not reconnecting yet")
        refused.responder_refused = True  # the refusal is not news: handle_error skips it
        raise refused

    @sa.event.listens_for(engine, "connect")
    def connected(_dbapi_connection, _record):
        health.connected()

    @sa.event.listens_for(engine, "handle_error")
    def note_outage(context):
        error = context.original_exception
        if getattr(error, "responder_refused", False):
            return
        # No connection in the context: a connect or a pre-ping failed. A disconnect: a statement
        # lost its connection (or got no answer in time, which closes it).
        if context.connection is None or context.is_disconnect:
            if health.failed(error.__class__.__name__):
                engine.dispose(close=False)  # idle connections lead to the same dead server

    return health


def health_of(engine: sa.Engine) -> StoreHealth | None:
    """The StoreHealth `watch` attached, or None (SQLite: a file, never an outage)."""
    return getattr(engine, "responder_health", None)
