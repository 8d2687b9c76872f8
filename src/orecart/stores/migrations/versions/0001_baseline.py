"""The baseline: the schema of orecart 0.1.0, the release before schema migrations.

A database that release made has these tables and no version table: it is stamped with
this revision, then upgraded.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _run_id(primary_key: bool = True) -> sa.Column[object]:
    run = sa.ForeignKey("runs.id", ondelete="CASCADE")
    return sa.Column("run_id", sa.String(64), run, primary_key=primary_key, nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("profile", sa.String(200)),
        _when("started_at"),
        _when("finished_at"),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("backups", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_runs_pipeline_started", "runs", ["pipeline", "started_at"])
    op.create_index("ix_runs_host_status", "runs", ["host", "status"])
    op.create_table(
        "member_runs",
        _run_id(),
        sa.Column("member", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("fingerprint", sa.String(128)),
        sa.Column("image", sa.Text),
        sa.Column("digest", sa.String(200)),
        sa.Column("log_path", sa.Text),
        sa.Column("artifacts", sa.Text),
        _when("started_at"),
        _when("finished_at"),
        sa.Column("delta", sa.JSON),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_table(
        "attempts",
        _run_id(),
        sa.Column("member", sa.String(200), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error", sa.Text),
        _when("started_at"),
        _when("finished_at"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(primary_key=False),
        _when("at", nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_run", "events", ["run_id", "id"])
    op.create_table(
        "ledger",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("member", sa.String(200), primary_key=True),
        _run_id(primary_key=False),
        sa.Column("fingerprint", sa.String(128)),
        sa.Column("digest", sa.String(200)),
        _when("started_at"),
        _when("finished_at"),
    )
    op.create_index("ix_ledger_run", "ledger", ["run_id"])
    op.create_table(
        "locks",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        _when("acquired_at", nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("pool", sa.String(200), primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("member", sa.String(200), primary_key=True),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        _when("acquired_at", nullable=False),
    )
    op.create_index("ix_leases_run", "leases", ["run_id"])


def downgrade() -> None:
    for table in ("leases", "locks", "ledger", "events", "attempts", "member_runs", "runs"):
        op.drop_table(table)
