"""Connecting to the store so that it answers or says it cannot, within seconds.

Parts: TIMEOUTS (connect, statement, answer, pool checkout), make_engine (SQLite / MySQL /
PostgreSQL with those timeouts, after store_url has checked the URL's form; a server database
watched by responder.store_health), StoreUnavailable (the one error a store caller sees when the
database is down), unavailable_on_error (the decorator that turns driver errors into it),
is_store_error, log_store_failure (a background loop's store error: one line, or nothing during a
reported outage), redact_url.

A database that accepts TCP connections but never answers must not hang a request, a ticker or a
CLI: every backend gets a connect timeout, a bound on every answer and a pool checkout timeout,
so an operation fails in under five seconds; and once one has failed that way, the others fail at
once until the database answers again (store_health). The driver's own message is never passed
on: it names the host and port and, for a failed statement, the SQL parameters (task JSON, user
data).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from responder.logsafe import redact_url  # noqa: F401  (the store's messages use it from here)
from responder.store_health import health_of, watch
from responder.store_url import check_store_url


@dataclass(frozen=True)
class Timeouts:
    connect: int = 3  # seconds; libpq's connect_timeout has a floor of 2
    statement: int = 3  # seconds a statement (or a row-lock wait) may take
    # Seconds a PostgreSQL server may take to answer anything on an open connection, measured by
    # the client: the server's statement_timeout cannot fire once the server (or the path to it) is
    # gone. Above `statement`, so a live server's own timeout speaks first.
    answer: int = 4
    pool: int = 3  # seconds to wait for a pooled connection when all are checked out


TIMEOUTS = Timeouts()


class StoreUnavailable(Exception):
    """The database did not answer, refused us, or timed out. Retry later (HTTP: 503)."""

    def __init__(self, component: str = "task store", cause: str = "", problem: str = ""):
        self.component = component
        self.cause = cause  # the exception class only: driver messages carry hosts and parameters
        self.problem = problem  # what a failed connection means (store_url.connect_problem), or ""
        super().__init__(f"{component} unavailable" + (f" ({cause})" if cause else ""))


def unavailable_on_error(component: str):
    """Decorate a method so any SQLAlchemy error leaving it becomes StoreUnavailable(component).

    Raised outside the `except` block: the driver error must not ride along as __context__, or a
    logged traceback or an error reporter would show its message (host, port, SQL parameters)."""

    def decorate(method):
        @functools.wraps(method)
        def guarded(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except SQLAlchemyError as exc:
                failed = exc.__class__.__name__
            raise StoreUnavailable(component, failed)

        return guarded

    return decorate


def is_store_error(exc: BaseException) -> bool:
    return isinstance(exc, (StoreUnavailable, SQLAlchemyError))


def log_store_failure(logger: logging.Logger, engine: sa.Engine, what: str, exc: BaseException) -> None:
    """A background loop's store error: nothing during an outage (its start was logged, its end
    will be), else one line with StoreUnavailable's text or the error's class. Never a traceback,
    never the driver's message (it names hosts and SQL parameters)."""
    health = health_of(engine)
    if health is not None and health.reported:
        return
    logger.warning("%s: %s", what, str(exc) if isinstance(exc, StoreUnavailable) else exc.__class__.__name__)


def is_memory_sqlite(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(url: str, timeouts: Timeouts = TIMEOUTS) -> sa.Engine:
    check_store_url(url)  # a scheme with no driver here is one line naming the forms that work
    backend = sa.engine.make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, timeouts)
    if backend in ("mysql", "mariadb"):
        # PyMySQL: read_timeout also bounds the server greeting, so a silent server fails here.
        # innodb_lock_wait_timeout makes a row-lock wait end server-side before the socket gives
        # up, so the connection stays usable.
        connect_args = {"connect_timeout": timeouts.connect, "read_timeout": timeouts.statement,
                        "write_timeout": timeouts.statement,
                        "init_command": f"SET SESSION innodb_lock_wait_timeout={max(1, timeouts.statement - 1)}"}
    elif backend == "postgresql":
        # connect_timeout covers the whole startup, per host, 2 s at the least
        # (postgresql.org/docs/current/libpq-connect.html); after that libpq has no read timeout:
        # statement_timeout (server-side) bounds each statement on a live server, and the client's
        # own bound (`answer`, below) one that is gone.
        connect_args = {"connect_timeout": timeouts.connect,
                        "options": f"-c statement_timeout={timeouts.statement * 1000}"
                                   f" -c lock_timeout={max(1, timeouts.statement - 1) * 1000}"}
    else:
        connect_args = {}
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=timeouts.pool,
                              connect_args=connect_args)
    watch(engine)  # first: during an outage a connection is refused before any driver is asked
    if engine.dialect.driver == "psycopg":
        answering = _answering_psycopg_connection(timeouts.answer)

        @sa.event.listens_for(engine, "do_connect")
        def _connect(_dialect, _record, cargs, cparams):
            return answering.connect(*cargs, **cparams)

    return engine


@functools.lru_cache(maxsize=None)
def _answering_psycopg_connection(seconds: float):
    """A psycopg Connection whose every wait for the server (a statement, a commit, a rollback, the
    pool's ping) ends after `seconds`: then the connection is closed (its state is unknown) and
    NoAnswer, an OperationalError, is raised. libpq itself has no read timeout, and TCP keepalive
    or tcp_user_timeout see a healthy peer when a proxy or a frozen host still acknowledges bytes.
    Connection.wait is psycopg's one loop over the socket for an open connection (psycopg >= 3.3)."""
    # Lazy: psycopg loads libpq; only a PostgreSQL store needs it.
    import psycopg

    class NoAnswer(psycopg.OperationalError):
        """The server did not answer within the bound; the connection is closed."""

    class AnsweringConnection(psycopg.Connection):
        def wait(self, gen, interval=0.1, timeout=None):
            started = time.monotonic()
            try:
                return super().wait(gen, interval=interval, timeout=seconds if timeout is None else timeout)
            except psycopg.OperationalError as exc:
                # The server's own errors carry an SQLSTATE; the wait's deadline does not.
                if exc.sqlstate is not None or time.monotonic() - started < seconds:
                    raise
            self.close()
            raise NoAnswer(f"no answer from the server within {seconds:g} s")

    return AnsweringConnection


def _while_locked(statement: Callable[[], object], seconds: float, locked: type[Exception]) -> None:
    """Runs `statement` again while SQLite answers "database is locked" (`locked`: the driver's
    OperationalError), for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            statement()
            return
        except locked as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: str, timeouts: Timeouts) -> sa.Engine:
    # A writer that waits longer than this for another's lock gets "database is locked".
    busy_seconds = timeouts.statement + 1
    memory = is_memory_sqlite(url)
    pooling = {} if memory else {"pool_timeout": timeouts.pool}  # memory: one connection per thread, no queue
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_seconds}, **pooling)

    @sa.event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # WAL lets the web thread read while the ticker writes.
        cursor = dbapi_connection.cursor()
        if not memory:
            # The mode is kept in the file: only the first connection of a new file changes it. Two
            # that change it at once both hold a shared lock and want an exclusive one, and SQLite
            # answers one of them "database is locked" at once rather than calling the busy handler
            # into a deadlock ("a busy handler ... is not guaranteed to be invoked", sqlite3_busy_handler);
            # that one tries again within the busy timeout.
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"), busy_seconds,
                              engine.dialect.loaded_dbapi.OperationalError)
            # WAL + NORMAL survives a process crash (what FC and gunicorn restarts are) without
            # an fsync per commit; only an OS crash could lose the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_seconds * 1000}")
        cursor.close()

    return engine
