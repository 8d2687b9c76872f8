"""Stored queries: every execution of one (``orecart query``, later graph triggers), with
its duration, rows, error, origin and params (secret values masked), for ``orecart
queries --stats``.

Only a new table: the history of an older orecart reads as it did.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("query", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("rows", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
    )
    op.create_index("ix_query_runs_query", "query_runs", ["pipeline", "query", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_query_runs_query", "query_runs")
    op.drop_table("query_runs")
