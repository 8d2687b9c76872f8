"""Leadership among the services on one store: per kind of work, one row naming the
service that leads it, a lease. ``orecart serve`` asks for ``recovery`` (the runs and
firings of dead serves) and ``pipeline:<name>`` for each pipeline it serves (its
schedule, sensors, triggers and ``max_age``), so serves that serve different pipelines
on one store each lead their own.

A row expires ``ttl`` seconds after its last heartbeat (the store's heartbeat renews it
while its holder still holds it: ``orecart.stores.locks.renew``), or when its holder ran
on this host and its process is gone. Another service then takes it at its next ask: a
leader killed with SIGKILL on any host is replaced within the ttl and one tick. A leader
that hung past its ttl finds, at its next ask, that it leads no more; what leaders do is
keyed in the store as well (run keys, cursors, firing claims), so the moment two believe
they lead costs waste, never a second run.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.model import Leadership, ServiceEntry
from orecart.stores.engine import serialize
from orecart.stores.locks import Term, gone
from orecart.stores.schema import leaders

RECOVERY = "recovery"  # the runs and trigger firings of dead serves, on any host


def pipeline_kind(name: str) -> str:
    """The lead of a pipeline's schedule, sensors, triggers and ``max_age``."""
    return f"pipeline:{name}"


def rows(connection: Connection, kinds: Collection[str]) -> dict[str, RowMapping]:
    query = sa.select(leaders).where(leaders.c.kind.in_(sorted(kinds)))
    return {row["kind"]: row for row in connection.execute(query).mappings()}


def holds(row: RowMapping | None, holder: str, now: datetime) -> bool:
    """True when ``row`` is ``holder``'s and still live."""
    return row is not None and row["holder"] == holder and not gone(row, now)


def free(row: RowMapping | None, now: datetime) -> bool:
    return row is None or gone(row, now)


def take(connection: Connection, kinds: Collection[str], entry: ServiceEntry,
         term: Term) -> set[str]:
    """Take the lead of each of ``kinds`` no live other holder has, for ``entry``; the
    kinds ``term.holder`` leads now (some it may have led already)."""
    taken = set()
    for kind in sorted(kinds):  # one order: two takers never wait on each other
        serialize(connection, f"leader:{kind}")
        row = rows(connection, [kind]).get(kind)
        if holds(row, term.holder, term.now):
            taken.add(kind)
        elif free(row, term.now):
            _write(connection, kind, row is None, entry, term)
            taken.add(kind)
    return taken


def _write(connection: Connection, kind: str, new: bool, entry: ServiceEntry,
           term: Term) -> None:
    values = {"service": entry.id, "host": entry.host, "pid": entry.pid,
              "acquired_at": term.taken_at, **term.stamp()}
    if new:
        connection.execute(sa.insert(leaders).values(kind=kind, **values))
    else:
        connection.execute(sa.update(leaders).where(leaders.c.kind == kind).values(**values))


def renew(connection: Connection, kinds: Collection[str], term: Term) -> None:
    """Push the expiry of the leads of ``kinds`` that ``term.holder`` still holds, in one
    statement."""
    statement = sa.update(leaders).where(leaders.c.kind.in_(sorted(kinds)),
                                         leaders.c.holder == term.holder)
    connection.execute(statement.values(heartbeat_at=term.now, expires_at=term.expires_at))


def resign(connection: Connection, kinds: Collection[str], holder: str) -> None:
    """Give the leads of ``kinds`` back, those ``holder`` has: another takes them at once."""
    connection.execute(sa.delete(leaders).where(leaders.c.kind.in_(sorted(kinds)),
                                                leaders.c.holder == holder))


def live(connection: Connection, now: datetime) -> list[Leadership]:
    """Who leads what now (rows of gone holders left out), by kind."""
    found = connection.execute(sa.select(leaders).order_by(leaders.c.kind)).mappings()
    return [_leadership(row) for row in found if not gone(row, now)]


def _leadership(row: RowMapping) -> Leadership:
    return Leadership(row["kind"], row["service"], row["host"], row["pid"],
                      row["acquired_at"], row["expires_at"])
