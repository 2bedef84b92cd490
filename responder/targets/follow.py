"""Followed tables (`targets import --from URL --table odcr_capacity --follow`): the old tool's
table stays the control surface. Operators INSERT / UPDATE / DELETE its rows as before (the
AWS-ODCR solution's way of working); every tick re-reads it and applies the differences to targets.

Parts: follows (the responder_target_follows table; revision 0005_target_follows), Follow (one
followed table), FollowReport (what one read did), FollowStore (add, list, get, remove, save),
sync_follow (one read applied row by row), sync_all (every followed table; what the tick calls).

Row by row: a good row is added or updated; a bad row (another region, a count that is not a
number, a type named twice) is reported in the follow's last report and leaves its target as it
was; a row gone from the table removes the target it made (what that target bought stays in the
cloud, as with `targets remove`). An unreadable table (database down, table dropped) changes
nothing: a failed read is not an empty table.

The source URL may carry the old database's password: it is stored, never logged or printed
(`redact_url` wherever it is shown).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from responder.store import LONG_TEXT, metadata
from responder.store_connect import redact_url, unavailable_on_error
from responder.targets.checks import check_target
from responder.targets.importer import ImportRefused, RowError, read_old_table, targets_each_row
from responder.targets.table import TargetExists, TargetStore

log = logging.getLogger("responder.targets")

follows = sa.Table(
    "responder_target_follows",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("source", LONG_TEXT, nullable=False),
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("cloud", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("prefix", sa.String(64), nullable=False),
    sa.Column("managed", LONG_TEXT, nullable=False),  # JSON list: the target names this table made
    sa.Column("last_report", LONG_TEXT, nullable=False),  # JSON: FollowReport of the last read
    sa.Column("last_read", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)
_c = follows.c
_guarded = unavailable_on_error("task store")


@dataclass(frozen=True)
class Follow:
    name: str
    source: str
    table: str
    cloud: str
    region: str
    prefix: str = ""
    managed: tuple[str, ...] = ()

    def shown(self) -> dict[str, Any]:
        """For answers and logs: the URL with its password masked."""
        return {"name": self.name, "source": redact_url(self.source) if "://" in self.source else self.source,
                "table": self.table, "cloud": self.cloud, "region": self.region, "prefix": self.prefix,
                "targets": list(self.managed)}


@dataclass
class FollowReport:
    follow: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    unreadable: str = ""  # the table could not be read: nothing was changed

    def to_json(self) -> dict[str, Any]:
        return {"follow": self.follow, "added": self.added, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged, "errors": [e.to_json() for e in self.errors],
                "unreadable": self.unreadable}


class FollowStore:
    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time):
        self.engine, self.clock = engine, clock

    @_guarded
    def add(self, f: Follow) -> bool:
        """Store or replace the follow of that name; True when it is new."""
        with self.engine.begin() as conn:
            gone = conn.execute(follows.delete().where(_c.name == f.name)).rowcount == 0
            conn.execute(follows.insert().values(
                name=f.name, source=f.source, table_name=f.table, cloud=f.cloud, region=f.region, prefix=f.prefix,
                managed=json.dumps(list(f.managed)), last_report="{}", last_read=None, created_at=self.clock()))
        return gone

    @_guarded
    def list(self) -> list[Follow]:
        with self.engine.connect() as conn:
            return [_follow(r) for r in conn.execute(follows.select().order_by(_c.name))]

    @_guarded
    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(follows.delete().where(_c.name == name)).rowcount == 1

    @_guarded
    def last_report(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            raw = conn.execute(sa.select(_c.last_report).where(_c.name == name)).scalar()
        return json.loads(raw or "{}")

    @_guarded
    def save(self, name: str, managed: list[str], report: FollowReport) -> None:
        with self.engine.begin() as conn:
            conn.execute(follows.update().where(_c.name == name).values(
                managed=json.dumps(sorted(managed)), last_report=json.dumps(report.to_json()),
                last_read=self.clock()))


def _follow(row) -> Follow:
    return Follow(row.name, row.source, row.table_name, row.cloud, row.region, row.prefix,
                  tuple(json.loads(row.managed or "[]")))


def sync_follow(f: Follow, tstore: TargetStore, max_count: int) -> tuple[list[str], FollowReport]:
    """Read the table once and apply it row by row: (the target names it now manages, the report)."""
    report = FollowReport(f.name)
    try:
        rows = read_old_table(f.source, f.table)
    except ImportRefused as exc:
        report.unreadable = str(exc)
        return list(f.managed), report
    made, report.errors = targets_each_row(rows, f.cloud, f.region, f.prefix,
                                           check=lambda t: check_target(t, max_count))
    managed = set(f.managed)
    existing = {r.target.name: r for r in tstore.list()}  # one read, not one per row
    for target, _current in made:
        row = existing.get(target.name)
        if row is None:
            try:
                tstore.add(target)
            except TargetExists:  # another ticker added it first: theirs is the same row
                pass
            report.added.append(target.name)
        elif row.target != target:
            tstore.update(target)
            report.updated.append(target.name)
        else:
            report.unchanged += 1
        managed.add(target.name)
    # A row that is only bad now (a typo in an UPDATE) keeps its target: only a row gone removes one.
    still = {t.name for t, _ in made} | {e.name for e in report.errors if e.name}
    for name in sorted(managed - still):
        tstore.remove(name)
        report.removed.append(name)
        managed.discard(name)
    return sorted(managed), report


def sync_all(engine: sa.Engine, max_count: int) -> list[dict[str, Any]]:
    """Every followed table, each on its own: one that fails is logged (URL masked) and skipped."""
    fstore, tstore = FollowStore(engine), TargetStore(engine)
    reports = []
    for f in fstore.list():
        managed, report = sync_follow(f, tstore, max_count)
        fstore.save(f.name, managed, report)
        if report.unreadable or report.errors:
            log.warning("followed table %s (%s): %s", f.name, f.shown()["source"],
                        report.unreadable or "; ".join(e.message for e in report.errors))
        reports.append(report.to_json())
    return reports
