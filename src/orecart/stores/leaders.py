"""Leadership among the services on one store: per kind of work (``serve``: schedules,
sensors, triggers, recovery), one row naming the service that leads it, a lease.

A row expires ``ttl`` seconds after its last heartbeat (the store's heartbeat renews it
while its holder still holds it: ``orecart.stores.locks.renew``), or when its holder ran
on this host and its process is gone. Another service then takes it at its next ask: a
leader killed with SIGKILL on any host is replaced within the ttl and one tick. A leader
that hung past its ttl finds, at its next ask, that it leads no more; what leaders do is
keyed in the store as well (run keys, cursors, firing claims), so the moment two believe
they lead costs waste, never a second run.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.model import Leadership
from orecart.stores.engine import serialize
from orecart.stores.locks import Term, gone
from orecart.stores.schema import leaders

SERVE = "serve"  # the one kind so far: everything a serve of several does only once


def current(connection: Connection, kind: str) -> RowMapping | None:
    return connection.execute(sa.select(leaders).where(leaders.c.kind == kind)).mappings().first()


def holds(row: RowMapping | None, holder: str, now: datetime) -> bool:
    """True when ``row`` is ``holder``'s and still live."""
    return row is not None and row["holder"] == holder and not gone(row, now)


def free(row: RowMapping | None, now: datetime) -> bool:
    return row is None or gone(row, now)


def take(connection: Connection, kind: str, leader: Leadership, term: Term) -> bool:
    """Take the lead of ``kind`` for ``leader`` unless a live other holder has it; True
    when ``term.holder`` leads now (it may have led already)."""
    serialize(connection, f"leader:{kind}")
    row = current(connection, kind)
    if holds(row, term.holder, term.now):
        return True
    if not free(row, term.now):
        return False
    values = {"service": leader.service, "host": leader.host, "pid": leader.pid,
              "acquired_at": term.now, **term.stamp()}
    if row is None:
        connection.execute(sa.insert(leaders).values(kind=kind, **values))
    else:
        connection.execute(sa.update(leaders).where(leaders.c.kind == kind).values(**values))
    return True


def resign(connection: Connection, kind: str, holder: str) -> None:
    """Give the lead of ``kind`` back, when ``holder`` has it: another takes it at once."""
    connection.execute(sa.delete(leaders).where(leaders.c.kind == kind,
                                                leaders.c.holder == holder))


def live(connection: Connection, now: datetime) -> list[Leadership]:
    """Who leads what now (rows of gone holders left out), by kind."""
    rows = connection.execute(sa.select(leaders).order_by(leaders.c.kind)).mappings()
    return [_leadership(row) for row in rows if not gone(row, now)]


def _leadership(row: RowMapping) -> Leadership:
    return Leadership(row["kind"], row["service"], row["host"], row["pid"],
                      row["acquired_at"], row["expires_at"])
