"""The queue and the services: a run's key, origin, labels and queue times; the requests
waiting in FIFO order with their payloads; and the registry of running services.

Every new column of ``runs`` is nullable or has a server default, so the rows of an older
orecart read as runs that nobody queued (no key, no origin).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RUN_COLUMNS = ("key", "origin", "labels", "queued_at", "cancel_requested_at")


def upgrade() -> None:
    with op.batch_alter_table("runs") as runs:  # only added columns: SQLite alters in place
        runs.add_column(sa.Column("key", sa.String(200)))
        runs.add_column(sa.Column("origin", sa.String(32), nullable=False, server_default=""))
        runs.add_column(sa.Column("labels", sa.JSON))
        runs.add_column(sa.Column("queued_at", sa.DateTime(timezone=True)))
        runs.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True)))
    op.create_index("ix_runs_pipeline_key", "runs", ["pipeline", "key"])
    op.create_table(
        "requests",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("services")
    op.drop_table("requests")
    op.drop_index("ix_runs_pipeline_key", "runs")
    with op.batch_alter_table("runs") as runs:
        for name in _RUN_COLUMNS:
            runs.drop_column(name)
