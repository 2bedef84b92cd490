"""The capacity engine's ledger in SQL: one row per cloud call, intent before, result after.

Parts: ledger (the table, on responder.store.metadata; revision 0001 in responder.migrations
builds it), SqlLedger (implements responder.capacity.engine.Ledger over a SQLAlchemy engine or
URL, with the store's schema policy: a SQLite ledger upgrades itself, a server one must be at
head), sqlite_url (a path or URL → URL).

A run interrupted anywhere (Ctrl+C, kill -9, a lost Lambda) is resumed by building the engine with
the same run_id: holdings come back from `ok` rows and a `pending` row is re-issued with its
ClientToken, so the cloud hands back what it already made instead of selling it again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Union

import sqlalchemy as sa

from responder import migrations
from responder.capacity.engine import LedgerEntry
from responder.model import Market, Offering
from responder.store import make_engine, metadata

ledger = sa.Table(
    "responder_capacity_ledger",
    metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("instance_type", sa.String(64), nullable=False),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("market", sa.String(16), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("holding_id", sa.String(128), nullable=False, default=""),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result_id", sa.String(128), nullable=False, default=""),
    sa.Column("result_total", sa.Integer, nullable=False, default=0),
    sa.Column("initial", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.String(32), nullable=False, default=""),
    sa.Column("error", sa.String(255), nullable=False, default=""),
    sa.Column("updated_at", sa.Double, nullable=False),  # epoch seconds: FLOAT is single precision on MySQL
)


def sqlite_url(path_or_url: str) -> str:
    """`--ledger` takes a SQLAlchemy URL or a plain file path (then SQLite)."""
    if "://" in path_or_url:
        return path_or_url
    return "sqlite:///" + str(Path(path_or_url).expanduser().resolve())


class SqlLedger:
    def __init__(self, target: Union[str, sa.Engine], upgrade: bool | None = None):
        self.engine = make_engine(sqlite_url(target)) if isinstance(target, str) else target
        url = sqlite_url(target) if isinstance(target, str) else target.url.render_as_string(hide_password=False)
        migrations.open_schema(self.engine, url, upgrade, "capacity ledger")

    def entries(self, run_id: str) -> list[LedgerEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ledger).where(ledger.c.run_id == run_id).order_by(ledger.c.seq)).all()
        return [LedgerEntry(
            run_id=r.run_id, seq=r.seq, action=r.action,
            offering=Offering(r.instance_type, r.zone, Market(r.market)), count=r.count, token=r.token,
            holding_id=r.holding_id, total=r.total, status=r.status, result_id=r.result_id,
            result_total=r.result_total, initial=r.initial, created_at=r.created_at, error=r.error,
        ) for r in rows]

    def _values(self, e: LedgerEntry) -> dict:
        return dict(action=e.action, instance_type=e.offering.instance_type, zone=e.offering.zone,
                    market=e.offering.market.value, count=e.count, token=e.token, holding_id=e.holding_id,
                    total=e.total, status=e.status, result_id=e.result_id, result_total=e.result_total,
                    initial=e.initial, created_at=e.created_at, error=e.error[:255], updated_at=time.time())

    def intend(self, entry: LedgerEntry) -> None:
        # A re-issued call (resume, throttled retry) already has its row: update, never duplicate.
        with self.engine.begin() as conn:
            key = (ledger.c.run_id == entry.run_id) & (ledger.c.seq == entry.seq)
            if conn.execute(sa.select(ledger.c.seq).where(key)).first() is None:
                conn.execute(ledger.insert().values(run_id=entry.run_id, seq=entry.seq, **self._values(entry)))

    def settle(self, entry: LedgerEntry) -> None:
        with self.engine.begin() as conn:
            key = (ledger.c.run_id == entry.run_id) & (ledger.c.seq == entry.seq)
            conn.execute(ledger.update().where(key).values(**self._values(entry)))

    def runs(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(ledger.c.run_id).distinct())]
