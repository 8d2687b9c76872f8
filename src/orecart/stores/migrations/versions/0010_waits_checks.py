"""Waits and checks: when a member run began to wait for a pool or a place in
``max_parallel`` and for what (on member runs, their latest; on attempts, the wait before
each), and how the checks of a run went (the pipeline's on runs, post-checks on member
runs), for the timeline and the run summary of the API.

Only new nullable columns: the history of an older orecart reads as it did (no waits, no
checks recorded).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _added() -> list[tuple[str, sa.Column[object]]]:
    """(table, column) this revision adds; new objects each time (a column joins a table)."""
    return [
        ("runs", sa.Column("checks", sa.JSON(none_as_null=True))),
        ("member_runs", sa.Column("waited_at", sa.DateTime(timezone=True))),
        ("member_runs", sa.Column("waited_for", sa.String(200))),
        ("member_runs", sa.Column("checks", sa.JSON(none_as_null=True))),
        ("attempts", sa.Column("waited_at", sa.DateTime(timezone=True))),
        ("attempts", sa.Column("waited_for", sa.String(200))),
    ]


def upgrade() -> None:
    for table, column in _added():  # only added columns: SQLite alters in place
        op.add_column(table, column)


def downgrade() -> None:
    for table, column in reversed(_added()):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column.name)
