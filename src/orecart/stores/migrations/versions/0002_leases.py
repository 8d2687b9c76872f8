"""Leases that expire: each lock and lease row names its holder, when it last beat, and when
it expires; a lease also keeps the pool limit its holder declared.

``leases.pool_limit`` came first, before migrations, as an ad-hoc column added on open: a
database that already has it keeps it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _holding() -> list[sa.Column[object]]:
    return [
        sa.Column("holder", sa.String(255)),  # NULL: taken by an orecart without heartbeats
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    ]


def upgrade() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("leases")}
    with op.batch_alter_table("leases") as leases:
        if "pool_limit" not in present:
            leases.add_column(sa.Column("pool_limit", sa.Integer))
        for column in _holding():
            leases.add_column(column)
    with op.batch_alter_table("locks") as locks:
        for column in _holding():
            locks.add_column(column)


def downgrade() -> None:
    for table in ("locks", "leases"):
        with op.batch_alter_table(table) as batch:
            for column in _holding():
                batch.drop_column(column.name)
    with op.batch_alter_table("leases") as leases:
        leases.drop_column("pool_limit")
