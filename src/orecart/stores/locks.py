"""The pipeline lock and pool leases as rows, and how a dead holder's rows are reclaimed.

A holder is dead when it ran on this host and its process is gone, or its pid now belongs
to a process started after the holder took its row (the pid was reused). A holder on another
host is never judged dead: only that host can tell. Every function here runs inside the
caller's write transaction, after ``serialize`` made it the only writer for that name.
"""

from __future__ import annotations

import socket
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.errors import LockedError
from orecart.stores import Holder
from orecart.stores.engine import serialize
from orecart.stores.schema import leases, locks

CLOCK_SLACK_S = 2.0  # process start times and wall clocks disagree by up to this much


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


def holder_of(row: RowMapping) -> Holder:
    """The holder a ``locks`` or ``leases`` row names."""
    return Holder(row["run_id"], row["pid"], row["host"], row.get("member", ""))


def acquire_lock(connection: Connection, pipeline: str, holder: Holder, now: datetime) -> None:
    """Take the lock of ``pipeline`` for ``holder``, taking it over from a dead holder."""
    serialize(connection, f"lock:{pipeline}")
    row = connection.execute(sa.select(locks).where(locks.c.pipeline == pipeline))
    current = row.mappings().first()
    values = {"run_id": holder.run_id, "pid": holder.pid, "host": holder.host, "acquired_at": now}
    if current is None:
        connection.execute(sa.insert(locks).values(pipeline=pipeline, **values))
        return
    if _same(holder_of(current), holder):
        return
    if not dead(current["host"], current["pid"], current["acquired_at"]):
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


def take_lease(
    connection: Connection, pool: str, limit: int, holder: Holder, now: datetime
) -> bool:
    """Take a slot of ``pool``; False when live holders fill it.

    A pool is a name in this store, shared by every pipeline that uses the store, and
    pipelines may declare it with different limits: the limit that holds is the smallest
    one among the asker and the live holders, so no holder ever runs beside more others
    than its own pipeline allows.
    """
    serialize(connection, f"pool:{pool}")
    rows = connection.execute(sa.select(leases).where(leases.c.pool == pool)).mappings().all()
    live = [row for row in rows if not dead(row["host"], row["pid"], row["acquired_at"])]
    for row in rows:
        if row not in live:
            connection.execute(_lease_row(sa.delete(leases), pool, row["run_id"], row["member"]))
    if any(row["run_id"] == holder.run_id and row["member"] == holder.member for row in live):
        return True  # asking twice must not take two slots
    if len(live) >= min([limit, *(row["pool_limit"] or limit for row in live)]):
        return False
    connection.execute(
        sa.insert(leases).values(
            pool=pool,
            run_id=holder.run_id,
            member=holder.member,
            pid=holder.pid,
            host=holder.host,
            acquired_at=now,
            pool_limit=limit,
        )
    )
    return True


def release_lease(connection: Connection, pool: str, holder: Holder) -> None:
    """Remove the lease ``holder`` (its run and member) has on ``pool``."""
    connection.execute(_lease_row(sa.delete(leases), pool, holder.run_id, holder.member))


def release_run(connection: Connection, run_id: str) -> None:
    """Remove every lock and lease a run holds (it ended or died)."""
    connection.execute(sa.delete(locks).where(locks.c.run_id == run_id))
    connection.execute(sa.delete(leases).where(leases.c.run_id == run_id))


def _lease_row(statement: sa.Delete, pool: str, run_id: str, member: str) -> sa.Delete:
    return statement.where(
        leases.c.pool == pool, leases.c.run_id == run_id, leases.c.member == member
    )


def _same(current: Holder, holder: Holder) -> bool:
    return (current.run_id, current.pid, current.host) == (holder.run_id, holder.pid, holder.host)
