"""Reclaims per pool: the churn guard's history (responder/replace/churn_store.py).

Revision ID: 0006_churn_reclaims
Revises: 0005_target_follows
Create Date: 2026-12-07

One row per task that saw a verified interruption: the pool (cloud, region, zone, type, market),
the instance and the first instance of its replacement chain, and when. Unique per claim key. The
index serves the guard's one query per plan: a region's reclaims since a time.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_churn_reclaims"
down_revision: Union[str, Sequence[str], None] = "0005_target_follows"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "responder_reclaims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("claim_key", sa.String(255), nullable=False),
        sa.Column("cloud", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("instance_type", sa.String(64), nullable=False),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("instance_id", sa.String(128), nullable=False),
        sa.Column("lineage", sa.String(128), nullable=False),
        sa.Column("reclaimed_at", sa.Double, nullable=False),
        sa.UniqueConstraint("claim_key", name="uq_responder_reclaims_claim"),
    )
    op.create_index("ix_responder_reclaims_recent", "responder_reclaims", ["cloud", "region", "reclaimed_at"])


def downgrade() -> None:
    op.drop_table("responder_reclaims")
