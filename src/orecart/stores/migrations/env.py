"""Alembic's environment: migrate the connection ``orecart.stores.migrate`` hands over,
inside the transaction that already holds the schema lock."""

from __future__ import annotations

from alembic import context

from orecart.stores.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():  # the caller's transaction: nothing commits early
    context.run_migrations()
