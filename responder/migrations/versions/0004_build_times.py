"""Observed build times: how long images and launches took, per kind, for the race's plan.

Revision ID: 0004_build_times
Revises: 0003_outbox
Create Date: 2026-12-07

One row per observation (responder/replace/build_times.py): an image keyed by cloud, region, its
largest disk's category and size bucket and whether its snapshots were incremental; a launch by
cloud, region and instance family. Unique per (claim key, kind): a task observes each once.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004_build_times"
down_revision: Union[str, Sequence[str], None] = "0003_outbox"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "responder_build_times",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cloud", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("size_bucket", sa.Integer, nullable=False),
        sa.Column("incremental", sa.Boolean, nullable=False),
        sa.Column("seconds", sa.Double, nullable=False),
        sa.Column("observed_at", sa.Double, nullable=False),
        sa.UniqueConstraint("claim_key", "kind", name="uq_responder_build_times_claim"),
    )
    op.create_index("ix_responder_build_times_key", "responder_build_times",
                    ["kind", "cloud", "region", "category", "size_bucket", "incremental", "observed_at"])


def downgrade() -> None:
    op.drop_table("responder_build_times")
