"""Standing capacity targets: one row per target, with its lease and statistics.

Revision ID: 0002_targets
Revises: 0001
Create Date: 2026-12-01
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002_targets"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "responder_targets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("cloud", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("spec", LONG_TEXT, nullable=False),
        sa.Column("stats", LONG_TEXT, nullable=False),
        sa.Column("next_at", sa.Double, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_responder_targets_next_at", "responder_targets", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_responder_targets_next_at", table_name="responder_targets")
    op.drop_table("responder_targets")
