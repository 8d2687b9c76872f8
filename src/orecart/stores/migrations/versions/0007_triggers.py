"""Graph triggers: each trigger's polling cursor (the highest internal id looked at, the
last poll, its error) and every firing, one per (pipeline, trigger, element), with its
params, status, attempts, error, run and the process carrying it out.

Only new tables: the history of an older orecart reads as it did.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_cursors",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("trigger", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("polled_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("error_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("element", sa.BigInteger),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("params_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("forgotten", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("run_id", sa.String(64)),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("next_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ux_trigger_firings_element", "trigger_firings",
                    ["pipeline", "trigger", "element"], unique=True)
    op.create_index("ix_trigger_firings_due", "trigger_firings",
                    ["pipeline", "status", "next_at"])
    op.create_index("ix_trigger_firings_params", "trigger_firings",
                    ["pipeline", "trigger", "params_key"])


def downgrade() -> None:
    op.drop_index("ix_trigger_firings_params", "trigger_firings")
    op.drop_index("ix_trigger_firings_due", "trigger_firings")
    op.drop_index("ux_trigger_firings_element", "trigger_firings")
    op.drop_table("trigger_firings")
    op.drop_table("trigger_cursors")
