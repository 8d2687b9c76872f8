"""The pipeline lock and pool leases as rows, and when a holder's rows may be taken over.

Each row names its holder (the id of the store that took it, ``Term.holder``) and expires
``ttl`` seconds after its last heartbeat (``orecart.stores.heartbeat`` renews it). A row is
gone, and its slot free, when it expired -- its holder died on any host, or hangs -- or
when its holder ran on this host and its process is gone, or its pid now belongs to a
process started after the holder took its row (the pid was reused). A row without an
expiry (taken by an orecart without heartbeats) is judged by its process alone, which only
its own host can see. Every writing function here runs inside the caller's write
transaction, after ``serialize`` made it the only writer for that name.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.errors import LockedError
from orecart.stores import Holder
from orecart.stores.engine import serialize
from orecart.stores.schema import leases, locks, services

_Row = TypeVar("_Row", sa.Delete, sa.Update)
CLOCK_SLACK_S = 2.0  # process start times and wall clocks disagree by up to this much
TTL_S = 60.0  # a lock or lease not renewed for this long is gone (beats come every ttl/4)
#: What a heartbeat renews: ("lock", pipeline, run id), ("lease", pool, run id, member),
#: ("service", service id) or ("leader", kind).
Key = tuple[str, ...]


@dataclass(frozen=True)
class Term:
    """One write's view of holding: the store's holder id, the time now (the database's
    clock on PostgreSQL, so that hosts whose clocks disagree judge expiries alike), and
    the expiry a row taken or renewed now gets. ``local`` is this host's clock, which
    ``acquired_at`` keeps: a pid is judged against its process's start on this host."""

    holder: str
    now: datetime
    ttl: float = TTL_S
    local: datetime | None = None

    @property
    def taken_at(self) -> datetime:
        return self.local or self.now

    @property
    def expires_at(self) -> datetime:
        return self.now + timedelta(seconds=self.ttl)

    def stamp(self) -> dict[str, object]:
        """The holding columns of a row taken or renewed now."""
        return {"holder": self.holder, "heartbeat_at": self.now, "expires_at": self.expires_at}


def this_host() -> str:
    """The name holders on this machine carry; pass it as ``Holder.host``."""
    return socket.gethostname()


def alive(pid: int, since: datetime | None = None) -> bool:
    """True when process ``pid`` runs and, given ``since``, was started no later than that."""
    if pid <= 0:
        return False
    import psutil  # only here: it costs start-up time every command would pay

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists, its age is unknown
        return True
    return since is None or created <= since.timestamp() + CLOCK_SLACK_S


def dead(host: str, pid: int, since: datetime | None = None) -> bool:
    """True when the holder is known to be gone: on this host, and its process is not alive."""
    return host == this_host() and not alive(pid, since)


def gone(row: RowMapping, now: datetime) -> bool:
    """True when the holder of a ``locks`` or ``leases`` row lost it: it expired, or its
    process is known to be gone."""
    expires_at: datetime | None = row.get("expires_at")
    if expires_at is not None and expires_at <= now:
        return True
    return dead(row["host"], row["pid"], row["acquired_at"])


def lost(run_id: str, lock: RowMapping | None, now: datetime) -> bool:
    """True when the pipeline lock ``lock`` shows that running run ``run_id`` is not run
    any more: no lock, an expired one, or another run's. A run holds its pipeline's lock
    from before it is claimed until after its end is recorded, renewed while its process
    lives, so this judges a run of any host. A lock without an expiry (an orecart without
    heartbeats) tells nothing but its holder."""
    if lock is None or lock["run_id"] != run_id:
        return True
    expires_at: datetime | None = lock["expires_at"]
    return expires_at is not None and expires_at <= now


def locks_of(connection: Connection, pipelines: Collection[str]) -> dict[str, RowMapping]:
    """The lock rows of ``pipelines``, by pipeline."""
    if not pipelines:
        return {}
    query = sa.select(locks).where(locks.c.pipeline.in_(sorted(pipelines)))
    return {row["pipeline"]: row for row in connection.execute(query).mappings()}


def holder_of(row: RowMapping) -> Holder:
    """The holder a ``locks`` or ``leases`` row names."""
    return Holder(row["run_id"], row["pid"], row["host"], row.get("member", ""))


def acquire_lock(connection: Connection, pipeline: str, holder: Holder, term: Term) -> None:
    """Take the lock of ``pipeline`` for ``holder``, taking it over from a gone holder."""
    serialize(connection, f"lock:{pipeline}")
    row = connection.execute(sa.select(locks).where(locks.c.pipeline == pipeline))
    current = row.mappings().first()
    values = {"run_id": holder.run_id, "pid": holder.pid, "host": holder.host,
              "acquired_at": term.taken_at, **term.stamp()}
    if current is None:
        connection.execute(sa.insert(locks).values(pipeline=pipeline, **values))
        return
    if _same(holder_of(current), holder):
        return
    if not gone(current, term.now):
        raise LockedError(pipeline, current["run_id"], current["pid"], current["host"])
    connection.execute(sa.update(locks).where(locks.c.pipeline == pipeline).values(**values))


def release_lock(connection: Connection, pipeline: str, holder: Holder) -> None:
    """Remove the lock of ``pipeline`` only when ``holder`` holds it."""
    connection.execute(
        sa.delete(locks).where(
            locks.c.pipeline == pipeline,
            locks.c.run_id == holder.run_id,
            locks.c.pid == holder.pid,
            locks.c.host == holder.host,
        )
    )


def take_lease(connection: Connection, pool: str, limit: int, holder: Holder, term: Term) -> bool:
    """Take a slot of ``pool``; False when live holders fill it. Rows of gone holders are
    removed on the way.

    A pool is a name in this store, shared by every pipeline that uses the store, and
    pipelines may declare it with different limits: the limit that holds is the smallest
    one among the asker and the live holders, so no holder ever runs beside more others
    than its own pipeline allows.
    """
    serialize(connection, f"pool:{pool}")
    rows = connection.execute(sa.select(leases).where(leases.c.pool == pool)).mappings().all()
    live = [row for row in rows if not gone(row, term.now)]
    for row in rows:
        if row not in live:
            connection.execute(_lease_row(sa.delete(leases), pool, row["run_id"], row["member"]))
    if _holds(live, holder):
        return True  # asking twice must not take two slots
    if not _room(live, limit):
        return False
    connection.execute(
        sa.insert(leases).values(
            pool=pool,
            run_id=holder.run_id,
            member=holder.member,
            pid=holder.pid,
            host=holder.host,
            acquired_at=term.taken_at,
            pool_limit=limit,
            **term.stamp(),
        )
    )
    return True


def may_lease(connection: Connection, pool: str, limit: int, holder: Holder, now: datetime) -> bool:
    """Whether ``take_lease`` could grant a slot now, found by reading alone: a waiter asks
    this first, so waiting for a full pool costs no write transaction."""
    rows = connection.execute(sa.select(leases).where(leases.c.pool == pool)).mappings().all()
    live = [row for row in rows if not gone(row, now)]
    return len(live) < len(rows) or _holds(live, holder) or _room(live, limit)


def renew(connection: Connection, keys: Sequence[Key], term: Term) -> list[Key]:
    """Push the expiry of the rows ``keys`` name, where ``term.holder`` still holds them;
    the lock and lease keys it could not renew (another holder took them, or recovery
    removed them): their runs are lost."""
    lost: list[Key] = []
    for key in keys:
        if key[0] == "service":  # a service's registry row (``orecart.stores.registry``)
            statement = sa.update(services).where(services.c.id == key[1])
            connection.execute(statement.values(heartbeat_at=term.now, expires_at=term.expires_at))
            continue
        if key[0] == "leader":  # ``orecart.stores.leaders``, renewed together below
            continue
        if key[0] == "lock":
            statement = sa.update(locks).where(
                locks.c.pipeline == key[1], locks.c.run_id == key[2], locks.c.holder == term.holder
            )
        else:
            statement = _lease_row(sa.update(leases), key[1], key[2], key[3])
            statement = statement.where(leases.c.holder == term.holder)
        if connection.execute(statement.values(**term.stamp())).rowcount == 0:
            lost.append(key)
    return lost


def _holds(live: Sequence[RowMapping], holder: Holder) -> bool:
    return any(row["run_id"] == holder.run_id and row["member"] == holder.member for row in live)


def _room(live: Sequence[RowMapping], limit: int) -> bool:
    return len(live) < min([limit, *(row["pool_limit"] or limit for row in live)])


def release_lease(connection: Connection, pool: str, holder: Holder) -> None:
    """Remove the lease ``holder`` (its run and member) has on ``pool``."""
    connection.execute(_lease_row(sa.delete(leases), pool, holder.run_id, holder.member))


def release_run(connection: Connection, run_id: str) -> None:
    """Remove every lock and lease a run holds (it ended or died)."""
    connection.execute(sa.delete(locks).where(locks.c.run_id == run_id))
    connection.execute(sa.delete(leases).where(leases.c.run_id == run_id))


def _lease_row(statement: _Row, pool: str, run_id: str, member: str) -> _Row:
    return statement.where(
        leases.c.pool == pool, leases.c.run_id == run_id, leases.c.member == member
    )


def _same(current: Holder, holder: Holder) -> bool:
    return (current.run_id, current.pid, current.host) == (holder.run_id, holder.pid, holder.host)
