"""A run's notifications (``notify:``), and the planner's reason code on each member run.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member_runs") as member_runs:
        member_runs.add_column(sa.Column("reason_code", sa.String(32)))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_notifications_run", "notifications", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_run", "notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("member_runs") as member_runs:
        member_runs.drop_column("reason_code")
