"""The store's schema, versioned by Alembic and shipped inside the package, so an installed
responder can upgrade its own database (`responder db upgrade`).

Parts: VERSION_TABLE, SchemaOutOfDate, alembic_config (an Alembic Config over this folder),
head_revision, current_revision, upgrade (under a lock that serialises concurrent upgraders),
require_current, open_schema (the upgrade policy Store and SqlLedger apply before they serve).

Concurrent upgrades (two containers starting at once, or a deploy racing `db upgrade`) take one
lock per backend before reading the version: PostgreSQL a transaction-scoped advisory lock,
MySQL/MariaDB a named GET_LOCK, SQLite a BEGIN IMMEDIATE write transaction. The second upgrader
waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import sqlalchemy as sa

from responder.store_connect import StoreUnavailable, Timeouts, is_memory_sqlite, make_engine, redact_url
from responder.store_url import connect_problem

VERSION_TABLE = "responder_alembic_version"  # not alembic_version: the database may be shared
HERE = Path(__file__).resolve().parent
LOCK_NAME = "responder_schema_upgrade"
PG_LOCK_KEY = 0x5E5B0D1  # any constant bigint; the advisory lock namespace is per database
# An upgrader may wait for another's DDL: far longer than a request's statement bound.
UPGRADE_TIMEOUTS = Timeouts(connect=3, statement=120, pool=3)
# Alembic says "Context impl ..." at INFO on every schema check, i.e. on every Store opened.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this responder's code expects; the message says what to run."""

    def __init__(self, url: str, current: str | None, head: str, newer: bool = False):
        self.current, self.head, self.newer = current, head, newer
        shown = redact_url(url)
        if newer:
            message = (f"the store at {shown} is at schema revision {current}, newer than this responder knows "
                       f"(its newest is {head}): run a responder at least as new as the one that upgraded it")
        else:
            state = "empty (no schema)" if current is None else f"at schema revision {current}"
            message = (f"the store at {shown} is {state}, this responder needs {head}: "
                       f"run `responder db upgrade --database-url {shown}`")
        super().__init__(message)


def alembic_config(connection: sa.Connection | None = None):
    # Alembic is imported only to upgrade: checking the revision (every start, every cold Lambda)
    # is one SELECT and a look at the file names, far cheaper than loading the migration scripts.
    # Lazy: Alembic loads only to upgrade; the start-up schema check reads the version files alone.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


_REVISION = re.compile(r'^revision(?::[^=]*)?=\s*["\']([^"\']+)["\']', re.M)
_DOWN = re.compile(r'^down_revision(?::[^=]*)?=\s*(?:None|["\']([^"\']+)["\'])', re.M)


@functools.lru_cache(maxsize=1)
def _revisions() -> tuple[str, frozenset[str]]:
    """(head, every known revision), read from the version files' `revision` / `down_revision`
    lines without importing them (tests check the answer equals Alembic's own ScriptDirectory)."""
    revisions, parents = set(), set()
    for path in (HERE / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found:
            revisions.add(found.group(1))
            down = _DOWN.search(text)
            if down and down.group(1):
                parents.add(down.group(1))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, not {sorted(heads)}")
    return heads.pop(), frozenset(revisions)


def head_revision() -> str:
    return _revisions()[0]


def current_revision(conn: sa.Connection) -> str | None:
    """The revision stamped in VERSION_TABLE, or None on a database without it."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return rows[0] if len(rows) == 1 else (None if not rows else ",".join(sorted(rows)))


def require_current(engine: sa.Engine, url: str) -> None:
    """Raise SchemaOutOfDate unless the database is exactly at this code's head revision."""
    with engine.connect() as conn:
        current = current_revision(conn)
    head, known = _revisions()
    if current != head:
        raise SchemaOutOfDate(url, current, head, newer=current is not None and current not in known)


def open_schema(engine: sa.Engine, url: str, upgrade_it: bool | None, component: str) -> None:
    """Upgrade (True), never upgrade (False) or upgrade only SQLite (None), then insist on head.

    Raises SchemaOutOfDate, or StoreUnavailable(component) when the database does not answer;
    on either failure the engine's connections are closed."""
    if upgrade_it is None:
        upgrade_it = engine.dialect.name == "sqlite"
    try:
        try:
            require_current(engine, url)  # a plain read: most opens find the schema at head
            return
        except SchemaOutOfDate as behind:
            if not upgrade_it or behind.newer:
                raise
        except sa.exc.OperationalError:
            # A new SQLite file that another process (a second gunicorn worker) is upgrading stays
            # locked longer than a plain read waits; the upgrade below waits with upgrade-length
            # timeouts for that lock and then finds the schema at head.
            if not (upgrade_it and engine.dialect.name == "sqlite"):
                raise
        upgrade(url, engine)  # takes the upgrade lock, so only when there is something to do
        require_current(engine, url)
        return
    except sa.exc.SQLAlchemyError as exc:
        failed = exc.__class__.__name__  # raised below, outside this block: no driver message as context
        problem = connect_problem(exc, url)
    except BaseException:
        engine.dispose()
        raise
    engine.dispose()
    raise StoreUnavailable(component, failed, problem)


def upgrade(url: str, engine: sa.Engine | None = None) -> tuple[str | None, str]:
    """Bring the database at `url` to head; (revision before, revision after).

    An in-memory SQLite database exists only inside its own engine, so it is upgraded through
    `engine`; every other URL gets a short-lived engine of its own with upgrade-length timeouts."""
    own = engine is None or not is_memory_sqlite(url)
    if own:
        engine = _upgrade_engine(url)
    try:
        with engine.connect() as conn:
            with _schema_lock(conn):
                before = current_revision(conn)
                if before != head_revision():
                    # Lazy: Alembic loads only to upgrade; the start-up schema check reads the version files alone.
                    from alembic import command

                    command.upgrade(alembic_config(conn), "head")
                after = current_revision(conn)
                conn.commit()
    finally:
        if own:
            engine.dispose()
    return before, after


def _upgrade_engine(url: str) -> sa.Engine:
    engine = make_engine(url, UPGRADE_TIMEOUTS)
    if engine.dialect.name == "sqlite":
        # pysqlite would start a transaction only at the first INSERT/UPDATE, letting two upgraders
        # both read "no version" and both CREATE TABLE; BEGIN IMMEDIATE takes the write lock first
        # (the SQLAlchemy pysqlite "serializable isolation" recipe).
        @sa.event.listens_for(engine, "connect")
        def _manual_transactions(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class _schema_lock:
    """Held from before the version is read until after the upgrade is committed."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.dialect = conn.dialect.name

    def __enter__(self):
        # pg_advisory_xact_lock: released by the commit (or rollback) that ends the upgrade
        # (postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS). GET_LOCK: held by the
        # session until RELEASE_LOCK or disconnect (mariadb.com/kb/en/get_lock).
        if self.dialect == "postgresql":
            self.conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        elif self.dialect in ("mysql", "mariadb"):
            got = self.conn.execute(sa.text("SELECT GET_LOCK(:name, :wait)"),
                                    {"name": LOCK_NAME, "wait": UPGRADE_TIMEOUTS.statement - 5}).scalar()
            if got != 1:
                raise TimeoutError("another process is still upgrading the store schema")
        return self

    def __exit__(self, exc_type, *_):
        if self.dialect in ("mysql", "mariadb"):
            # A named lock belongs to the session, which a pool would keep alive: release it. After
            # a failed upgrade the connection may be broken; closing it releases the lock anyway.
            try:
                self.conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
            except sa.exc.SQLAlchemyError:
                if exc_type is None:
                    raise
        return False
