"""Durable task rows in SQLAlchemy Core: SQLite by default, MySQL/MariaDB or PostgreSQL by URL.

Parts: metadata + tasks table (the shape the migrations in responder.migrations build), the
notification outbox tables and insert_notices, TaskRow (what a row holds), Store (claim, get,
list, save, save_with_outbox, lease, holder, renew, release, due; recheck_later and prune_rejected
for rejected rows), ClaimResult, LeaseLost; re-exported
from responder.store_connect: make_engine, StoreUnavailable, redact_url.

One task per cloud:region:instance (`key`, unique): the unique constraint makes a redelivered
event find the existing task, however many deliveries race. A lease column taken with a
conditional UPDATE keeps two tickers off the same task on every backend; a worker's save names
its lease (`holder`, renewed by it), so one whose lease passed to another writes nothing (LeaseLost).

The schema is Alembic's (`responder db upgrade`). A Store refuses a database whose schema is not
at this code's head (SchemaOutOfDate, naming the command to run) unless asked to upgrade it: a
server database shared by several responders is upgraded once, on purpose, by an operator or a
deploy step. A SQLite file is one host's scratch, so by default it upgrades itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from responder import migrations
from responder.migrations import SchemaOutOfDate
from responder.store_connect import StoreUnavailable, make_engine, redact_url, unavailable_on_error

__all__ = ["Store", "TaskRow", "ClaimResult", "StoreUnavailable", "SchemaOutOfDate", "make_engine", "redact_url",
           "metadata", "tasks", "LONG_TEXT", "UNFINISHED", "outbox", "outbox_deliveries", "insert_notices"]
from responder.logsafe import public_task_view

metadata = sa.MetaData()


class LongText(sa.types.TypeDecorator):
    """TEXT, LONGTEXT on MySQL / MariaDB (whose TEXT stops at 64 KB): what the migrations'
    `sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")` builds, chosen when a dialect
    compiles it (TypeDecorator.load_dialect_impl) so that a start on SQLite or PostgreSQL does not
    import SQLAlchemy's MySQL dialect package, which loads every MySQL driver's module with it."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import LONGTEXT  # lazy: only a MySQL store loads that dialect

            return LONGTEXT()
        return self.impl_instance


# At least a megabyte on every backend: a type catalogue plus user data overflows MySQL's 64 KB TEXT.
LONG_TEXT = LongText()

tasks = sa.Table(
    "responder_tasks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("cloud", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("data", LONG_TEXT, nullable=False, default="{}"),  # JSON: everything learned so far
    sa.Column("deliveries", sa.Integer, nullable=False, default=1),
    sa.Column("next_at", sa.Double, nullable=False, default=0.0, index=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.UniqueConstraint("key", name="uq_responder_tasks_key"),
)

# The notification outbox: a row per notification, written in the same transaction as the state
# change that causes it (Store.save_with_outbox), and a row per (notification, channel) once a
# deliverer has taken it. responder.notify.delivery reads and updates them.
outbox = sa.Table(
    "responder_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(255), nullable=False),  # one notification per key, ever
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("task_id", sa.String(40), nullable=True),
    sa.Column("payload", LONG_TEXT, nullable=False),  # JSON: the notice's public fields
    sa.Column("created_at", sa.Double, nullable=False, index=True),
    sa.UniqueConstraint("dedupe_key", name="uq_responder_outbox_dedupe_key"),
)
outbox_deliveries = sa.Table(
    "responder_outbox_deliveries",
    metadata,
    sa.Column("outbox_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_at", sa.Double, nullable=False),
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("last_error", sa.String(255), nullable=False),
    sa.Column("sent_at", sa.Double, nullable=True),
    sa.Column("updated_at", sa.Double, nullable=False),
)

UNFINISHED = ("received", "imaging", "launching")
_guarded = unavailable_on_error("task store")  # driver errors leave a Store method as StoreUnavailable


class LeaseLost(Exception):
    """The task's lease passed from this worker to another: what it holds of the task is stale."""

    def __init__(self, task_id: str):
        super().__init__(f"task {task_id}: its lease passed to another worker")
        self.task_id = task_id


@dataclass
class TaskRow:
    id: str
    key: str
    cloud: str
    region: str
    instance_id: str
    kind: str
    status: str
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    deliveries: int = 1
    next_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The public view every answer and notification shows: the original instance's user data
        appears only as its size and a sha256 prefix (logsafe.public_task_view)."""
        return public_task_view({
            "id": self.id, "key": self.key, "cloud": self.cloud, "region": self.region,
            "instance_id": self.instance_id, "kind": self.kind, "status": self.status,
            "reason": self.reason, "deliveries": self.deliveries, "created_at": self.created_at,
            "updated_at": self.updated_at, **{k: v for k, v in self.data.items() if not k.startswith("_")},
        })


@dataclass(frozen=True)
class ClaimResult:
    task: TaskRow
    duplicate: bool


def insert_notices(conn: sa.Connection, notices: list, now: float) -> int:
    """Insert the notices not yet in the outbox, and a pending delivery row for each channel a
    notice names (`notice.channels`), inside the caller's transaction; returns how many were new.
    A task's notices are written only by its lease holder, so two writers of one task key do not
    race; the unique dedupe key still makes a second copy impossible."""
    if not notices:
        return 0
    keys = [n.dedupe_key for n in notices]
    present = set(conn.execute(sa.select(outbox.c.dedupe_key).where(outbox.c.dedupe_key.in_(keys))).scalars())
    written = 0
    for notice in notices:
        if notice.dedupe_key in present or not notice.channels:
            continue
        present.add(notice.dedupe_key)
        outbox_id = conn.execute(outbox.insert().values(created_at=now, **notice.outbox_values())
                                 ).inserted_primary_key[0]
        conn.execute(outbox_deliveries.insert(), [
            dict(outbox_id=outbox_id, channel=channel, status="pending", attempts=0, next_at=now,
                 lease_until=None, last_error="", sent_at=None, updated_at=now) for channel in notice.channels])
        written += 1
    return written


def _row_to_task(row) -> TaskRow:
    return TaskRow(
        id=row.id, key=row.key, cloud=row.cloud, region=row.region, instance_id=row.instance_id,
        kind=row.kind, status=row.status, reason=row.reason or "", data=json.loads(row.data or "{}"),
        deliveries=row.deliveries, next_at=row.next_at, created_at=row.created_at, updated_at=row.updated_at,
    )


class Store:
    """Task persistence. Every method is one short transaction; safe across threads and processes."""

    def __init__(self, url: str = "sqlite:///responder.db", clock: Callable[[], float] = time.time,
                 upgrade: bool | None = None):
        """`upgrade`: True upgrades the schema to head first, False never does, None (the default)
        upgrades SQLite and refuses an out-of-date server database. Raises SchemaOutOfDate or
        StoreUnavailable."""
        self.url = url
        self.engine = make_engine(url)
        self.clock = clock
        self.owner = f"{uuid.uuid4().hex[:12]}"
        migrations.open_schema(self.engine, url, upgrade, "task store")

    @_guarded
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    @_guarded
    def claim(self, key: str, cloud: str, region: str, instance_id: str, kind: str,
              data: dict[str, Any] | None = None, lease_seconds: float = 0.0) -> ClaimResult:
        """Create the task for `key`, or return the existing one (duplicate=True).

        A task that ended `rejected` is re-opened once its verdict has lapsed (a rejected row's
        `next_at` is when the cloud's answer stops standing): a forged event must not block the
        real one for long, nor a flood of copies cost a cloud read each. With `lease_seconds`, a
        new (or re-opened) task is leased to the caller from the start, so the request that claimed
        it works it before any ticker can.
        """
        now = self.clock()
        lease = dict(lease_owner=self._me(), lease_until=now + lease_seconds) if lease_seconds else {}
        task_id = "t-" + uuid.uuid4().hex[:20]
        values = dict(id=task_id, key=key, cloud=cloud, region=region, instance_id=instance_id, kind=kind,
                      status="received", reason="", data=json.dumps(data or {}), deliveries=1, next_at=0.0,
                      created_at=now, updated_at=now, **lease)
        try:
            with self._claiming() as conn:
                conn.execute(tasks.insert().values(**values))
        except IntegrityError:
            pass
        else:  # we hold every value just written: no need to read the row back on this hot path
            return ClaimResult(TaskRow(id=task_id, key=key, cloud=cloud, region=region, instance_id=instance_id,
                                       kind=kind, status="received", data=dict(data or {}), created_at=now,
                                       updated_at=now), duplicate=False)
        # A duplicate touches its own row only, found by the unique key and changed by its primary key:
        # a WHERE on `status` or `next_at` would let InnoDB walk (and gap-lock) those indexes, where
        # every save of another task inserts, and a burst of deliveries deadlocked there. The first
        # UPDATE takes the row's lock before anything is read (SQLite: the write lock), so the read
        # that decides the re-opening is the row as it stays until this transaction ends.
        with self._claiming() as conn:
            counted = conn.execute(tasks.update().where(tasks.c.key == key)
                                   .values(deliveries=tasks.c.deliveries + 1)).rowcount
            row = conn.execute(tasks.select().where(tasks.c.key == key)).first() if counted else None
            reopen = row is not None and row.status == "rejected" and row.next_at <= now
            if reopen:
                conn.execute(tasks.update().where(tasks.c.id == row.id).values(
                    status="received", reason="", data=json.dumps(data or {}), kind=kind, next_at=0.0,
                    updated_at=now, **lease))
        if row is None:  # retention removed the rejected row between the insert and the read
            return self.claim(key, cloud, region, instance_id, kind, data, lease_seconds)
        task = _row_to_task(row)
        if reopen:
            task.status, task.reason, task.data, task.kind = "received", "", dict(data or {}), kind
            task.next_at, task.updated_at = 0.0, now
        return ClaimResult(task, duplicate=not reopen)

    def _claiming(self):
        """A transaction at READ COMMITTED on a server database: InnoDB's default REPEATABLE READ
        adds gap locks that two deliveries of different instances can deadlock on. Made from the
        current engine each time (a cheap view of its pool), so it follows an engine replaced later."""
        engine = self.engine
        if engine.dialect.name != "sqlite":
            engine = engine.execution_options(isolation_level="READ COMMITTED")
        return engine.begin()

    @_guarded
    def recheck_later(self, key: str, kind: str, data: dict[str, Any]) -> bool:
        """Re-open a rejected task whose verdict still stands, due when it lapses (its `next_at`),
        with this delivery's record: the ticker reads the instance again then, once, however many
        copies arrive meanwhile. False when it is no longer rejected."""
        with self.engine.begin() as conn:
            return conn.execute(tasks.update().where(tasks.c.key == key, tasks.c.status == "rejected")
                                .values(status="received", reason="", data=json.dumps(data), kind=kind,
                                        updated_at=self.clock())).rowcount == 1

    @_guarded
    def prune_rejected(self, older_than: float, keep: int) -> int:
        """Delete the rejected rows last written before `older_than`, then all but the newest `keep`
        of the rest; returns how many went. A flood of forged events leaves a bounded table."""
        rejected = tasks.c.status == "rejected"
        with self.engine.begin() as conn:
            gone = conn.execute(tasks.delete().where(rejected, tasks.c.updated_at < older_than)).rowcount
            cutoff = conn.execute(sa.select(tasks.c.updated_at).where(rejected)
                                  .order_by(tasks.c.updated_at.desc()).offset(keep).limit(1)).scalar()
            if cutoff is not None:
                gone += conn.execute(tasks.delete().where(rejected, tasks.c.updated_at <= cutoff)).rowcount
        return gone

    @_guarded
    def get(self, task_id: str) -> TaskRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(tasks.select().where(tasks.c.id == task_id)).first()
        return _row_to_task(row) if row else None

    @_guarded
    def get_by_key(self, key: str) -> TaskRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(tasks.select().where(tasks.c.key == key)).first()
        return _row_to_task(row) if row else None

    @_guarded
    def list(self, status: str | None = None, limit: int = 100) -> list[TaskRow]:
        query = tasks.select().order_by(tasks.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(tasks.c.status == status)
        with self.engine.connect() as conn:
            return [_row_to_task(r) for r in conn.execute(query)]

    @_guarded
    def save(self, task: TaskRow, holder: str | None = None, lease_seconds: float = 0.0) -> None:
        """`holder`: the lease owner this save is made for (lease_seconds renews it); LeaseLost
        when the task's lease is no longer that owner's. None saves whoever holds it."""
        task.updated_at = self.clock()
        with self.engine.begin() as conn:
            self._write(conn, task, holder, lease_seconds)

    @_guarded
    def save_with_outbox(self, task: TaskRow, notices: list, holder: str | None = None,
                         lease_seconds: float = 0.0) -> None:
        """Save the task row and insert its notifications (objects with `outbox_values()`) in one
        transaction: a notification exists exactly when the state change that caused it does.
        A notice whose dedupe key is already in the outbox is skipped (re-saving a state re-derives
        the same notices). `holder` as for save."""
        task.updated_at = self.clock()
        with self.engine.begin() as conn:
            self._write(conn, task, holder, lease_seconds)
            insert_notices(conn, notices, task.updated_at)

    @staticmethod
    def _write(conn: sa.Connection, task: TaskRow, holder: str | None, lease_seconds: float) -> None:
        update = tasks.update().where(tasks.c.id == task.id)
        lease = {}
        if holder is not None:
            update = update.where(tasks.c.lease_owner == holder)
            lease = {"lease_until": task.updated_at + lease_seconds}
        written = conn.execute(update.values(status=task.status, reason=task.reason, data=json.dumps(task.data),
                                             next_at=task.next_at, updated_at=task.updated_at, **lease)).rowcount
        if holder is not None and written != 1:
            raise LeaseLost(task.id)

    def _me(self) -> str:
        """The lease owner: this process *and* thread. The request that submitted a task and the
        ticker it woke live in one process; they must not both hold the lease."""
        return f"{self.owner}:{threading.get_ident()}"

    @_guarded
    def lease(self, task_id: str, seconds: float) -> bool:
        """Take the task for `seconds` unless another owner holds an unexpired lease."""
        now, me = self.clock(), self._me()
        with self.engine.begin() as conn:
            taken = conn.execute(
                tasks.update().where(
                    tasks.c.id == task_id,
                    sa.or_(tasks.c.lease_until.is_(None), tasks.c.lease_until < now, tasks.c.lease_owner == me),
                ).values(lease_owner=me, lease_until=now + seconds)).rowcount
        return taken == 1

    def holder(self) -> str:
        """Who this thread's leases name: what its saves and renewals hand over as `holder` (a
        worker's calls may save from other threads)."""
        return self._me()

    @_guarded
    def renew(self, task_ids: list[str], holder: str, seconds: float) -> set[str]:
        """Extend the leases `holder` still holds among `task_ids`; the ids it holds. One that ran
        out and nobody took since is still its own; one another took, even if released since, is not."""
        if not task_ids:
            return set()
        mine = sa.and_(tasks.c.id.in_(task_ids), tasks.c.lease_owner == holder)
        with self.engine.begin() as conn:
            conn.execute(tasks.update().where(mine).values(lease_until=self.clock() + seconds))
            return set(conn.execute(sa.select(tasks.c.id).where(mine)).scalars())

    @_guarded
    def release(self, task_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.lease_owner == self._me())
                         .values(lease_owner=None, lease_until=None))

    @_guarded
    def due(self, limit: int = 100) -> list[TaskRow]:
        """Unfinished tasks whose next step is due now."""
        now = self.clock()
        query = (tasks.select().where(tasks.c.status.in_(UNFINISHED), tasks.c.next_at <= now,
                                      sa.or_(tasks.c.lease_until.is_(None), tasks.c.lease_until < now))
                 .order_by(tasks.c.next_at).limit(limit))
        with self.engine.connect() as conn:
            return [_row_to_task(r) for r in conn.execute(query)]

    @_guarded
    def next_due_at(self) -> float | None:
        """When the earliest unfinished task is due (a ticker sleeps until then)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(tasks.c.next_at))
                                .where(tasks.c.status.in_(UNFINISHED),
                                       sa.or_(tasks.c.lease_until.is_(None), tasks.c.lease_until < self.clock())
                                       )).scalar()
