"""The notification outbox: one row per notification, one per (notification, channel) delivery.

Revision ID: 0003_outbox
Revises: 0001
Create Date: 2026-12-01

A notification row is written in the same transaction as the task state change that causes it,
so a crash can lose neither; delivery rows record what each channel has been sent.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003_outbox"
down_revision: Union[str, Sequence[str], None] = "0002_targets"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "responder_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("task_id", sa.String(40), nullable=True),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("dedupe_key", name="uq_responder_outbox_dedupe_key"),
    )
    op.create_index("ix_responder_outbox_created_at", "responder_outbox", ["created_at"])
    op.create_table(
        "responder_outbox_deliveries",
        sa.Column("outbox_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Double, nullable=False),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("last_error", sa.String(255), nullable=False),
        sa.Column("sent_at", sa.Double, nullable=True),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("responder_outbox_deliveries")
    op.drop_table("responder_outbox")
