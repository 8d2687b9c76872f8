"""The registry of running services (``orecart serve``): one row each, so a client finds
the service's address in the state store.

A row expires ``ttl`` seconds after its last heartbeat (the store's heartbeat renews it:
``orecart.stores.locks.renew``), so a service that died or hangs on any host stops being
listed; on this host a row whose process is gone (or whose pid was reused) is not live
either, by the same rules as the locks and leases (``orecart.stores.locks``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.model import ServiceEntry
from orecart.stores.locks import Term, dead
from orecart.stores.schema import service_from, service_values, services


def register(connection: Connection, entry: ServiceEntry, term: Term) -> None:
    """Insert or replace the row of ``entry``, beating now."""
    values = {**service_values(entry), "heartbeat_at": term.now, "expires_at": term.expires_at}
    connection.execute(sa.delete(services).where(services.c.id == entry.id))
    connection.execute(sa.insert(services).values(values))


def unregister(connection: Connection, service_id: str) -> None:
    connection.execute(sa.delete(services).where(services.c.id == service_id))


def live(connection: Connection, now: datetime) -> list[ServiceEntry]:
    """The services that are alive now, oldest first."""
    rows = connection.execute(sa.select(services).order_by(services.c.started_at)).mappings()
    return [service_from(row) for row in rows if not _gone(row, now)]


def _gone(row: RowMapping, now: datetime) -> bool:
    expires_at: datetime = row["expires_at"]
    return expires_at <= now or dead(row["host"], row["pid"], row["started_at"])
