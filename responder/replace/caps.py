"""Money caps: how much any hour, and any one interruption, may buy. Taken before the call that
spends, in the database, so every thread and process shares one count.

Parts: Spend (one intended purchase), CapVerdict, spend_slots (the table), MoneyCaps (take,
give_back, used_since), HOUR_SETTING / EVENT_SETTING (the settings a refusal names).

The invariants:
- spends taken in any sliding hour hold at most `per_hour` units, across all tasks and kinds;
- one claim key (an interruption, an ODCR run, a target) holds at most `per_event` units, until
  they are given back;
- a token is one purchase: taking it again (a retry, a redelivery, a resumed run) adds nothing;
- a call the cloud refused (no capacity) gives its units back, so a sold-out offering costs no cap.

Why a take cannot overspend: a cap is rows, not a count. A scope ("hour", "event:<claim key>")
has one row per unit it may hold, its slots, and a unit is taken by writing the spend's token into
a free slot row. Nobody reads a count and then acts on it, so two transactions cannot both see
"99 < 100". Every unit of a spend, in every scope, is taken in one transaction, hour scope first
(one lock order for all): a refusal anywhere rolls all of it back. A unique (scope, token, part)
index makes a second slot for one token impossible, even when two takes of the same token race.
Slot rows are created on demand (a batch, then as many again as exist), never past the cap. When a
cap is lowered, slots above it that are still held are not counted against the new cap until they
expire; the cap applies to new takes from the free slots below it.

Why a burst does not queue: each take starts at a slot derived from its token's hash and goes
round from there, so racers spread over the scope's rows instead of all wanting slot 0.
- PostgreSQL, MariaDB >= 10.6 and MySQL >= 8: the free slot is picked with SELECT ... FOR UPDATE
  SKIP LOCKED, so a racer passes over the rows other takes are writing and never waits for them
  (postgresql.org/docs/current/sql-select.html, "The Locking Clause"; mariadb.com/kb/en/select,
  "SKIP LOCKED"). PostgreSQL re-checks the WHERE of a locked row against its newest version, and
  InnoDB's locking read reads the newest committed version, so a row picked is free. Only when
  every slot that reads free is locked by a racer (the cap is nearly spent) does a take wait: it
  looks again after pauses of milliseconds (their transactions are that short), and after about a
  second waits on one of those rows within the store's lock bound. So it is not refused while a
  racer's take that might still roll back holds the last free slot.
- SQLite (one writer at a time) and older servers: a conditional UPDATE of one slot,
      UPDATE slots SET token=:t ... WHERE scope=:s AND slot=:i AND (token IS NULL OR taken_at < :since)
  where rowcount 1 means won; the loser moves to the next slot (PostgreSQL READ COMMITTED
  re-evaluates the WHERE on the row the winner committed, postgresql.org/docs/current/
  transaction-iso.html; InnoDB's UPDATE reads the latest committed row and at READ COMMITTED
  releases the locks of rows it did not change, dev.mysql.com/doc/refman/8.4/en/
  innodb-transaction-isolation-levels.html).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from responder.store import metadata
from responder.store_connect import unavailable_on_error

HOUR = 3600.0
HOUR_SCOPE = "hour"
HOUR_SETTING = "RESPONDER_MAX_LAUNCHES_PER_HOUR"
EVENT_SETTING = "RESPONDER_MAX_SPEND_PER_EVENT"
SLOTS_PER_BATCH = 32  # slot rows made first (then doubled): a cap of 100 000 must not mean 100 000 rows up front
CONFLICT_RETRIES = 8  # same-token races and deadlock victims start the take again
# Seconds between looks while every free-looking slot is held by a racer's take in flight (jittered).
_HELD_PAUSES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1)

spend_slots = sa.Table(
    "responder_spend_slots",
    metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("token", sa.String(128), nullable=True),  # NULL: free
    sa.Column("part", sa.Integer, nullable=True),  # which unit of a multi-unit spend
    sa.Column("kind", sa.String(32), nullable=True),
    sa.Column("claim_key", sa.String(255), nullable=True),
    sa.Column("taken_at", sa.Double, nullable=False),
    sa.UniqueConstraint("scope", "token", "part", name="uq_responder_spend_slots_token"),
    sa.Index("ix_responder_spend_slots_token", "token"),
)
slots = spend_slots.c


@dataclass(frozen=True)
class Spend:
    """One intended purchase, taken before the call that spends."""

    token: str  # the deterministic ClientToken of that call (idempotency key)
    claim_key: str  # "cloud:region:instance" of the task (or "odcr:<run>" / "target:<name>")
    kind: str  # "launch" | "ondemand-fallback" | "revert" | "reservation"
    units: int = 1


@dataclass(frozen=True)
class CapVerdict:
    ok: bool
    reason: str = ""  # names the setting that refused


@dataclass(frozen=True)
class _Scope:
    name: str
    cap: int
    since: float | None  # a slot taken before this is free again; None: never expires
    refusal: str


class _Refused(Exception):
    pass


class _NeedSlots(Exception):
    pass


class MoneyCaps:
    def __init__(self, store, per_hour: int, per_event: int, clock: Callable[[], float] = time.time):
        self.engine: sa.Engine = store.engine
        self.per_hour, self.per_event, self.clock = per_hour, per_event, clock

    @unavailable_on_error("money caps")
    def take(self, spend: Spend) -> CapVerdict:
        """Hold `spend.units` in the hour and in the spend's claim key, or none at all."""
        if spend.units < 1:
            raise ValueError("a spend takes at least one unit")
        now = self.clock()
        scopes = (
            _Scope(HOUR_SCOPE, self.per_hour, now - HOUR,
                   f"{HOUR_SETTING}={self.per_hour} reached: every unit of the last hour is spent"),
            _Scope(f"event:{spend.claim_key}", self.per_event, None,
                   f"{EVENT_SETTING}={self.per_event} reached: {spend.claim_key} has bought all it may"),
        )
        for scope in scopes:
            if spend.units > scope.cap:
                return CapVerdict(False, scope.refusal)
        # The claim key's first slots are made before the take: made inside it, the take would hold
        # an hour slot, find no slot of its own, roll back and start again, and a racer that saw
        # that hour slot held meanwhile would be refused for a unit that came free.
        if not self._made(scopes[1]):
            self._add_slots(scopes[1].name, scopes)
        conflicts = 0
        while True:
            try:
                with self._transaction() as conn:
                    for scope in scopes:
                        for part in range(spend.units):
                            self._hold(conn, scope, spend, part, now)
                return CapVerdict(True)
            except _Refused as refused:
                return CapVerdict(False, str(refused))
            except _NeedSlots as need:
                self._add_slots(str(need), scopes)
            except (IntegrityError, DBAPIError) as exc:
                conflicts += 1
                if conflicts > CONFLICT_RETRIES or not _is_conflict(exc):
                    raise

    @unavailable_on_error("money caps")
    def give_back(self, token: str) -> None:
        """The call with this token bought nothing (no capacity): free its units everywhere."""
        with self._transaction() as conn:
            conn.execute(spend_slots.update().where(slots.token == token)
                         .values(token=None, part=None, kind=None, claim_key=None, taken_at=0.0))

    @unavailable_on_error("money caps")
    def used_since(self, since: float) -> int:
        """Units taken at or after `since` and still held (exact for any `since` in the last hour)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                slots.scope == HOUR_SCOPE, slots.token.is_not(None), slots.taken_at >= since)).scalar_one()

    def _transaction(self):
        conn = self.engine.connect()
        if self.engine.dialect.name != "sqlite":
            # InnoDB's REPEATABLE READ keeps locks on rows a conditional UPDATE skipped; READ
            # COMMITTED releases them, so racers only queue on the slot they both want.
            conn.execution_options(isolation_level="READ COMMITTED")
        return _Committing(conn)

    def _hold(self, conn: sa.Connection, scope: _Scope, spend: Spend, part: int, now: float) -> None:
        # Already ours (a retake): refresh it. An UPDATE first also makes SQLite take its write
        # lock before anything is read, so no reader can be caught in the middle of a take.
        mine = (slots.scope == scope.name) & (slots.token == spend.token) & (slots.part == part)
        if conn.execute(spend_slots.update().where(mine).values(taken_at=now)).rowcount:
            return
        free = slots.token.is_(None)
        if scope.since is not None:
            free = free | (slots.taken_at < scope.since)
        in_scope = (slots.scope == scope.name) & (slots.slot < scope.cap)
        # Counted before any free slot is looked for: slot rows are only ever added, so when all
        # `made` rows existed then, the (later) looks saw every one of them, and none free means none free.
        made = conn.execute(sa.select(sa.func.count()).where(in_scope)).scalar_one()
        start = _start_slot(spend.token, part, made)
        pick = self._skip_locked_pick if _skips_locked(conn) else self._update_pick
        taken = spend_slots.update().values(token=spend.token, part=part, kind=spend.kind,
                                            claim_key=spend.claim_key, taken_at=now)
        if pick(conn, in_scope & free, start, taken):
            return
        if made < scope.cap:
            raise _NeedSlots(scope.name)
        raise _Refused(scope.refusal)

    @staticmethod
    def _update_pick(conn: sa.Connection, free: sa.ColumnElement, start: int, taken: sa.Update) -> bool:
        """Free slots read first, from `start` round; each a hint only: the conditional UPDATE decides."""
        hints = conn.execute(sa.select(slots.slot).where(free).order_by(slots.slot)).scalars().all()
        for slot in sorted(hints, key=lambda s: (s < start, s)):
            if conn.execute(taken.where(free & (slots.slot == slot))).rowcount:
                return True
        return False

    @staticmethod
    def _skip_locked_pick(conn: sa.Connection, free: sa.ColumnElement, start: int, taken: sa.Update) -> bool:
        """The first free slot from `start` round that no racer holds, locked. When every slot that
        reads free is held by a racer (whose take may yet roll back), look again after a short pause:
        their transactions last milliseconds. Polling, not a blocking FOR UPDATE on their row: a
        crowd of refused takes would queue there one behind the other and wait past the bound."""
        first = sa.select(slots.slot).order_by(slots.slot).limit(1)
        for pause in _HELD_PAUSES:
            for part_of_round in (slots.slot >= start, slots.slot < start):
                slot = conn.execute(first.where(free & part_of_round).with_for_update(skip_locked=True)).scalar()
                if slot is not None and conn.execute(taken.where(free & (slots.slot == slot))).rowcount:
                    return True
            # A plain read sees the last committed rows: a racer's take in flight still reads free.
            if conn.execute(first.where(free)).scalar() is None:
                return False
            time.sleep(pause * (0.5 + random.random()))
        # Still held after the pauses: wait for one holder, within the store's lock bound.
        slot = conn.execute(first.where(free).with_for_update()).scalar()
        return slot is not None and bool(conn.execute(taken.where(free & (slots.slot == slot))).rowcount)

    def _made(self, scope: _Scope) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(
                (slots.scope == scope.name) & (slots.slot < scope.cap))).scalar_one()

    def _add_slots(self, scope_name: str, scopes: tuple[_Scope, ...]) -> None:
        cap = next(s.cap for s in scopes if s.name == scope_name)
        with self._transaction() as conn:
            made = conn.execute(sa.select(sa.func.count()).where(
                (slots.scope == scope_name) & (slots.slot < cap))).scalar_one()
            rows = [{"scope": scope_name, "slot": i, "taken_at": 0.0}
                    for i in range(made, min(cap, made + max(SLOTS_PER_BATCH, made)))]
            if rows:  # a racer may add the same rows: ignore those
                conn.execute(_insert_ignoring_duplicates(conn.dialect.name), rows)


class _Committing:
    """`with`: a connection in one transaction, committed on success, rolled back on any exception."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn

    def __enter__(self) -> sa.Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type, *_):
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
        return False


def _start_slot(token: str, part: int, made: int) -> int:
    """Where a take starts looking: spread by the token, so a burst's takes want different rows."""
    if made <= 1:
        return 0
    return int.from_bytes(hashlib.sha256(f"{token}#{part}".encode()).digest()[:8], "big") % made


def _skips_locked(conn: sa.Connection) -> bool:
    """Whether the server has SELECT ... FOR UPDATE SKIP LOCKED (MariaDB 10.6, MySQL 8.0.1)."""
    dialect = conn.dialect
    if dialect.name == "postgresql":
        return True
    if dialect.name not in ("mysql", "mariadb"):
        return False
    version = dialect.server_version_info or ()
    return version >= ((10, 6) if getattr(dialect, "is_mariadb", False) else (8, 0, 1))


def _insert_ignoring_duplicates(dialect: str):
    if dialect == "sqlite":
        # Lazy: the store's own engine has loaded its dialect; no other store's start pays for it.
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(spend_slots).on_conflict_do_nothing()
    if dialect == "postgresql":
        # Lazy: PostgreSQL's dialect (about 2 MB) loads with a PostgreSQL store's engine, not in every start.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(spend_slots).on_conflict_do_nothing()
    return spend_slots.insert().prefix_with("IGNORE")  # MySQL / MariaDB


# A same-token race (unique violation), a deadlock victim, a serialisation failure: start again.
# A lock wait that timed out is not retried: the store is too slow to answer, say so.
_CONFLICT_CODES = {1062, 1213, "23505", "40P01", "40001"}


def _is_conflict(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or (orig.args[0] if getattr(orig, "args", None) else None)
    return code in _CONFLICT_CODES
