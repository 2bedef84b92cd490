"""The first versioned schema: tasks, the capacity ledger, the money-cap slots.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

A database made before migrations existed (by `metadata.create_all`) already has the tasks and
ledger tables: they are kept, and only widened where the old types were too small (task `data`
was TEXT, 64 KB on MySQL; ledger `updated_at` was FLOAT, single precision on MySQL).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# At least a megabyte everywhere: TEXT is unbounded on PostgreSQL and SQLite, 64 KB on MySQL.
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _has(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _has("responder_tasks"):
        if op.get_bind().dialect.name in ("mysql", "mariadb"):
            op.alter_column("responder_tasks", "data", type_=LONG_TEXT, existing_nullable=False)
    else:
        op.create_table(
            "responder_tasks",
            sa.Column("id", sa.String(40), primary_key=True),
            sa.Column("key", sa.String(255), nullable=False),
            sa.Column("cloud", sa.String(16), nullable=False),
            sa.Column("region", sa.String(64), nullable=False),
            sa.Column("instance_id", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("data", LONG_TEXT, nullable=False),
            sa.Column("deliveries", sa.Integer, nullable=False),
            sa.Column("next_at", sa.Double, nullable=False),
            sa.Column("lease_owner", sa.String(64), nullable=True),
            sa.Column("lease_until", sa.Double, nullable=True),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("updated_at", sa.Double, nullable=False),
            sa.UniqueConstraint("key", name="uq_responder_tasks_key"),
        )
        op.create_index("ix_responder_tasks_status", "responder_tasks", ["status"])
        op.create_index("ix_responder_tasks_next_at", "responder_tasks", ["next_at"])

    if _has("responder_capacity_ledger"):
        if op.get_bind().dialect.name in ("mysql", "mariadb"):
            op.alter_column("responder_capacity_ledger", "updated_at", type_=sa.Double, existing_nullable=False)
    else:
        op.create_table(
            "responder_capacity_ledger",
            sa.Column("run_id", sa.String(128), primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("action", sa.String(16), nullable=False),
            sa.Column("instance_type", sa.String(64), nullable=False),
            sa.Column("zone", sa.String(64), nullable=False),
            sa.Column("market", sa.String(16), nullable=False),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("token", sa.String(64), nullable=False),
            sa.Column("holding_id", sa.String(128), nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("result_id", sa.String(128), nullable=False),
            sa.Column("result_total", sa.Integer, nullable=False),
            sa.Column("initial", sa.Integer, nullable=False),
            sa.Column("created_at", sa.String(32), nullable=False),
            sa.Column("error", sa.String(255), nullable=False),
            sa.Column("updated_at", sa.Double, nullable=False),
        )

    op.create_table(
        "responder_spend_slots",
        sa.Column("scope", sa.String(300), primary_key=True),  # "hour" or "event:<claim key>"
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(128), nullable=True),  # NULL: free
        sa.Column("part", sa.Integer, nullable=True),  # which unit of a multi-unit spend
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("claim_key", sa.String(255), nullable=True),
        sa.Column("taken_at", sa.Double, nullable=False),
        # One slot per (scope, token, unit): a token taken twice cannot hold a second slot.
        sa.UniqueConstraint("scope", "token", "part", name="uq_responder_spend_slots_token"),
    )
    op.create_index("ix_responder_spend_slots_token", "responder_spend_slots", ["token"])


def downgrade() -> None:
    op.drop_table("responder_spend_slots")
    op.drop_table("responder_capacity_ledger")
    op.drop_table("responder_tasks")
