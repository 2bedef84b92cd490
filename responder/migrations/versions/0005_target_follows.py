"""Followed tables: an old tool's capacity table that every tick re-reads (`targets import --follow`).

Revision ID: 0005_target_follows
Revises: 0004_build_times
Create Date: 2026-12-07

One row per followed table: where it is (the URL may carry the old database's password: it is
never logged or printed), which targets it made (so a deleted row removes its target), and what
the last read found (per-row errors).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005_target_follows"
down_revision: Union[str, Sequence[str], None] = "0004_build_times"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "responder_target_follows",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("source", LONG_TEXT, nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("cloud", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(64), nullable=False),
        sa.Column("managed", LONG_TEXT, nullable=False),
        sa.Column("last_report", LONG_TEXT, nullable=False),
        sa.Column("last_read", sa.Double, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("responder_target_follows")
