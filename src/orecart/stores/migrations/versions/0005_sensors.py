"""Sensors: each sensor's state (cursor, last tick, last error) and every source version
it saw, with its params and latest run (the execution state per version).

Only new tables: the history of an older orecart reads as it did. Graph triggers and
stored queries add their own tables in a later revision.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensors",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("sensor", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cursor", sa.JSON, nullable=False),
        sa.Column("ticked_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("error_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "source_versions",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("sensor", sa.String(200), primary_key=True),
        sa.Column("id", sa.String(400), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Boolean, nullable=False),
    )
    op.create_index("ix_source_versions_position", "source_versions",
                    ["pipeline", "sensor", "position"])


def downgrade() -> None:
    op.drop_index("ix_source_versions_position", "source_versions")
    op.drop_table("source_versions")
    op.drop_table("sensors")
