"""The REST API: its bearer tokens (hashed, with a scope) and the labels of runs as rows,
so ``GET /runs?metadata=k:v`` filters in SQL; an index to page runs newest first.

The labels of runs already saved are copied into ``run_labels``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "run_labels",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_run_labels_name_value", "run_labels", ["name", "value"])
    op.create_index("ix_runs_queued", "runs", ["queued_at", "id"])
    _copy_labels()


def _copy_labels() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, labels FROM runs WHERE labels IS NOT NULL"))
    values = [{"run_id": run_id, "name": name, "value": str(value)}
              for run_id, labels in rows
              for name, value in (_labels(labels)).items()]
    if values:
        bind.execute(sa.text("INSERT INTO run_labels (run_id, name, value) "
                             "VALUES (:run_id, :name, :value)"), values)


def _labels(found: object) -> dict[str, object]:
    if isinstance(found, str):
        found = json.loads(found)
    return found if isinstance(found, dict) else {}


def downgrade() -> None:
    op.drop_index("ix_runs_queued", "runs")
    op.drop_index("ix_run_labels_name_value", "run_labels")
    op.drop_table("run_labels")
    op.drop_table("api_tokens")
