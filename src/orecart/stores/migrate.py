"""Where a state database's schema stands, and bringing it up to this orecart's revision.

A new database gets the declared tables and is stamped ``HEAD`` at once. A database at an
older revision is upgraded in place by the Alembic revisions in ``migrations/``; one of
orecart 0.1.0 (its tables, no version table) is stamped as the baseline first. It all runs
in the opener's write transaction, after the schema lock: two processes opening one old
database upgrade it once, and a failed upgrade changes nothing. Alembic is imported only
when there is something to upgrade, so opening a current database costs one SELECT.

Readers never migrate: every revision so far only adds to the history tables (runs, member
runs, attempts, events), so history reads work on any revision: a read-only store leaves
out the columns its database lacks, which read as their defaults, and a table it lacks
(the queue's, the services') reads as empty (``SqlStore._readable``).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.errors import StateError
from orecart.stores.schema import metadata
from orecart.stores.sqlitefile import REQUIRED

HEAD = "0011"  # the newest revision in migrations/versions (a test holds them equal)
BASELINE = "0001"  # the schema of orecart 0.1.0, the release before migrations
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"

# as Alembic declares it, so a store stamped here is one Alembic recognises
_version = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def revision(connection: Connection, tables: Collection[str]) -> str | None:
    """The database's revision; None when it has no version (new, or orecart 0.1.0).
    ``tables``: the names of the tables it has."""
    if VERSION_TABLE not in tables:
        return None
    found: str | None = connection.execute(sa.select(_version.c.version_num)).scalar()
    return found


def upgrade(connection: Connection, tables: Collection[str]) -> None:
    """Bring the database to ``HEAD`` inside the caller's transaction (see the module)."""
    current = revision(connection, tables)
    if current == HEAD:
        return
    if current is None and not REQUIRED <= set(tables):  # new: no orecart tables yet
        metadata.create_all(connection)
        _version.create(connection, checkfirst=True)
        connection.execute(sa.delete(_version))
        connection.execute(sa.insert(_version).values(version_num=HEAD))
        return
    _migrate(connection, current)


def _migrate(connection: Connection, current: str | None) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    try:
        if current is None:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    except CommandError as exc:
        raise StateError(
            f"the state database is at schema revision {current!r}, which this orecart does"
            f" not know (its newest is {HEAD}): a newer orecart wrote it; upgrade orecart"
        ) from exc
