"""Alembic revisions of the state store's schema, one file per step under ``versions/``.

``orecart.stores.migrate`` runs them when a store opens for writing. A schema change is a
new revision file (copy the newest, set ``revision`` and ``down_revision``) plus the change
in ``orecart.stores.schema`` and a new ``migrate.HEAD``; ``tests/stores/test_migrations.py``
fails while the revisions and the declared tables disagree.
"""
