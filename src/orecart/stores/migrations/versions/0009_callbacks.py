"""Callback deliveries: one row per status change of a run with a callback URL, with the
body posted, its attempts, last HTTP status and error (``orecart callbacks``).

Only a new table: the history of an older orecart reads as it did. It revises 0006 for
now; the integrator renumbers it after 0007 and 0008 land.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("run_id", "event", name="uq_callback_deliveries_event"),
    )
    op.create_index("ix_callback_deliveries_due", "callback_deliveries", ["status", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_callback_deliveries_due", "callback_deliveries")
    op.drop_table("callback_deliveries")
