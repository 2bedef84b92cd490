"""The account's API windows shared by every process (responder/capacity/shared_windows.py).

Revision ID: 0007_api_windows
Revises: 0006_churn_reclaims
Create Date: 2026-12-07

One row per (cloud:region:API, calendar window): the calls the processes took from the account's
window (ECS's per-API threshold a minute). Rows of past windows are deleted as new ones open.
"""
from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007_api_windows"
down_revision: Union[str, Sequence[str], None] = "0006_churn_reclaims"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "responder_api_windows",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("period", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("used", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("responder_api_windows")
