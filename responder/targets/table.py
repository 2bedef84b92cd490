"""Target rows in the store: the table, and every read and write of it.

Parts: targets (the responder_targets table; revision 0002_targets builds it), TargetRow (a target
with its statistics), TargetExists, TargetStore (add, update, get, list, remove, lease_due,
lease_one, finish, release).

A lease per row keeps two tickers off one target: `lease_due` takes every due, unleased row with
one conditional UPDATE stamped with this tick's own owner id, then reads back the rows carrying
that id. PostgreSQL (READ COMMITTED) re-evaluates the WHERE on a row another ticker just
committed, InnoDB's UPDATE reads the latest committed row, SQLite has one writer: a row is won by
exactly one ticker. The cloud is read only after the lease is won, so the winner sees what an
earlier winner bought.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from responder.store import LONG_TEXT, metadata
from responder.store_connect import unavailable_on_error
from responder.targets.model import LaunchSpec, Target

targets = sa.Table(
    "responder_targets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("cloud", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("spec", LONG_TEXT, nullable=False),  # JSON: zones, types, launch spec, end date, caps
    sa.Column("stats", LONG_TEXT, nullable=False),  # JSON: held, attempts, last error, the open run
    sa.Column("next_at", sa.Double, nullable=False, default=0.0, index=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)
_c = targets.c
_guarded = unavailable_on_error("task store")


class TargetExists(ValueError):
    pass


@dataclass
class TargetRow:
    target: Target
    stats: dict[str, Any] = field(default_factory=dict)
    next_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {**self.target.to_json(), "held": s.get("held"), "excess": s.get("excess", 0),
                "gap": None if s.get("held") is None else max(0, self.target.count - s["held"]),
                "state": s.get("state", "new"), "attempts": s.get("attempts", 0), "last_error": s.get("last_error", ""),
                "attempts_by_zone": s.get("attempts_by_zone", {}), "outcomes": s.get("outcomes", {}),
                "next_attempt": _iso(self.next_at) if self.next_at else None,
                "first_attempt": s.get("first_attempt"), "last_attempt": s.get("last_attempt"),
                "acquired_at": s.get("acquired_at"), "gap_since": s.get("gap_since"),
                "holdings": s.get("holdings", []), "last_reconciled": s.get("last_reconciled"),
                "preempted": s.get("preempted", 0), "preemptions": s.get("preemptions", [])}


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def _target(row) -> Target:
    spec = json.loads(row.spec)
    return Target(name=row.name, cloud=row.cloud, region=row.region, kind=row.kind, count=row.count,
                  zones=tuple(spec["zones"]), instance_types=tuple(spec["instance_types"]),
                  match_criteria=spec.get("match_criteria", "open"), end_date=spec.get("end_date", ""),
                  spend_cap=int(spec.get("spend_cap", 0)), release_excess=bool(spec.get("release_excess")),
                  launch=LaunchSpec.from_json(spec.get("launch")))


def _row(row) -> TargetRow:
    return TargetRow(_target(row), json.loads(row.stats or "{}"), row.next_at, row.updated_at)


class TargetStore:
    """Every method is one short transaction, safe across threads and processes."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time):
        self.engine, self.clock = engine, clock

    @_guarded
    def add(self, t: Target, stats: dict[str, Any] | None = None) -> None:
        """Raises TargetExists when the name is taken (nothing is changed)."""
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(targets.insert().values(
                    name=t.name, cloud=t.cloud, region=t.region, kind=t.kind, count=t.count,
                    spec=json.dumps(t.spec_json()), stats=json.dumps(stats or {}), next_at=0.0, created_at=now,
                    updated_at=now))
        except IntegrityError:
            raise TargetExists(t.name) from None

    @_guarded
    def update(self, t: Target) -> bool:
        """Change a target; it is reconciled at the next tick."""
        with self.engine.begin() as conn:
            return conn.execute(targets.update().where(_c.name == t.name).values(
                cloud=t.cloud, region=t.region, kind=t.kind, count=t.count, spec=json.dumps(t.spec_json()),
                next_at=0.0, updated_at=self.clock())).rowcount == 1

    @_guarded
    def get(self, name: str) -> TargetRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(targets.select().where(_c.name == name)).first()
        return _row(row) if row else None

    @_guarded
    def list(self) -> list[TargetRow]:
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(targets.select().order_by(_c.name))]

    @_guarded
    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(targets.delete().where(_c.name == name)).rowcount == 1

    @_guarded
    def lease_due(self, seconds: float, limit: int = 1000) -> tuple[str, list[TargetRow]]:
        """(owner, rows won): every due target no live lease holds, up to `limit`."""
        now, owner = self.clock(), "tk-" + uuid.uuid4().hex[:20]
        free = sa.or_(_c.lease_until.is_(None), _c.lease_until < now)
        with self.engine.connect() as conn:
            names = conn.execute(sa.select(_c.name).where(_c.next_at <= now, free)
                                 .order_by(_c.next_at, _c.name).limit(limit)).scalars().all()
        if not names:
            return owner, []
        try:
            with self.engine.begin() as conn:  # the conditional UPDATE decides; the names were a hint
                conn.execute(targets.update().where(_c.name.in_(names), _c.next_at <= now, free)
                             .values(lease_owner=owner, lease_until=now + seconds))
        except DBAPIError as exc:  # a deadlock victim: the rows are another ticker's this time
            if "deadlock" not in str(exc.orig).lower():
                raise
            return owner, []
        with self.engine.connect() as conn:
            rows = conn.execute(targets.select().where(_c.lease_owner == owner).order_by(_c.name)).all()
        return owner, [_row(r) for r in rows]

    @_guarded
    def lease_one(self, name: str, seconds: float) -> tuple[str, TargetRow | None]:
        """(owner, the row) when no live lease holds it, whether due or not (an event about one
        target: a preemption); (owner, None) when another ticker holds it or it does not exist."""
        now, owner = self.clock(), "ev-" + uuid.uuid4().hex[:20]
        free = sa.or_(_c.lease_until.is_(None), _c.lease_until < now)
        with self.engine.begin() as conn:
            won = conn.execute(targets.update().where(_c.name == name, free)
                               .values(lease_owner=owner, lease_until=now + seconds)).rowcount == 1
        return owner, self.get(name) if won else None

    @_guarded
    def finish(self, owner: str, name: str, stats: dict[str, Any], next_at: float) -> None:
        """Write what a reconcile learned and let the row go."""
        with self.engine.begin() as conn:
            conn.execute(targets.update().where(_c.name == name, _c.lease_owner == owner).values(
                stats=json.dumps(stats), next_at=next_at, lease_owner=None, lease_until=None,
                updated_at=self.clock()))

    @_guarded
    def release(self, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(targets.update().where(_c.lease_owner == owner).values(lease_owner=None, lease_until=None))
