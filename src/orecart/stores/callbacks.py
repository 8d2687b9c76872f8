"""Callback deliveries in the state store (``orecart.callbacks``): a pending row is added
in the same transaction as each status change of a run whose queued request carries a
``callback_url`` (the one payload field the store reads), at most one per run and
status; the deliverer takes due rows, first pending first per run, and records each
attempt."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.callbacks import Attempted, Delivery, DeliveryStatus, body_of
from orecart.stores import queue as queueing
from orecart.stores.schema import callback_deliveries as table
from orecart.stores.schema import member_runs, run_from, runs

_PENDING = str(DeliveryStatus.PENDING)


def on_status(connection: Connection, run_id: str, now: datetime) -> None:
    """Add the pending delivery of the run's status now, when it has a callback URL and
    no delivery of this status yet."""
    payload = queueing.payload(connection, run_id)
    url = payload.get("callback_url") if payload else None
    if not url:
        return
    row = connection.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    if row is None:
        return
    run = run_from(row)
    seen = sa.select(table.c.id).where(table.c.run_id == run_id,
                                       table.c.event == str(run.status))
    if connection.execute(seen).first() is not None:
        return
    body = json.dumps(body_of(run, _member_counts(connection, run_id)), sort_keys=True)
    connection.execute(sa.insert(table).values(
        run_id=run_id, url=str(url), event=str(run.status), body=body, status=_PENDING,
        attempts=0, next_at=now, created_at=now))


def _member_counts(connection: Connection, run_id: str) -> dict[str, int]:
    query = (sa.select(member_runs.c.status, sa.func.count())
             .where(member_runs.c.run_id == run_id).group_by(member_runs.c.status))
    return {str(status): int(count) for status, count in connection.execute(query)}


def of_run(connection: Connection, run_id: str) -> list[Delivery]:
    query = sa.select(table).where(table.c.run_id == run_id).order_by(table.c.id)
    return [_from(row) for row in connection.execute(query).mappings()]


def due(connection: Connection, now: datetime, limit: int) -> list[Delivery]:
    """The first pending delivery of each run, when it is due: a later status of a run
    never goes before an earlier one."""
    firsts = (sa.select(sa.func.min(table.c.id)).where(table.c.status == _PENDING)
              .group_by(table.c.run_id))
    query = (sa.select(table).where(table.c.id.in_(firsts), table.c.next_at <= now)
             .order_by(table.c.id).limit(limit))
    return [_from(row) for row in connection.execute(query).mappings()]


def any_pending(connection: Connection) -> bool:
    """True when some delivery waits to be posted (due or not)."""
    query = sa.select(table.c.id).where(table.c.status == _PENDING).limit(1)
    return connection.execute(query).first() is not None


def take(connection: Connection, delivery: Delivery, now: datetime, until: datetime) -> bool:
    """Hold ``delivery`` for one attempt until ``until``; False when another deliverer
    took it first (or it is no longer due)."""
    changed = connection.execute(
        sa.update(table)
        .where(table.c.id == delivery.id, table.c.status == _PENDING,
               table.c.attempts == delivery.attempts, table.c.next_at <= now)
        .values(next_at=until))
    return changed.rowcount == 1


def attempted(connection: Connection, delivery: Delivery, outcome: Attempted,
              now: datetime) -> bool:
    """Record the attempt of the taken ``delivery``; False (nothing changed) when it is no
    longer as taken: over, or attempted since by another deliverer (a post past its hold)."""
    values: dict[str, Any] = {
        "status": str(outcome.status), "attempts": table.c.attempts + 1,
        "last_status": outcome.code, "last_error": outcome.error, "next_at": outcome.next_at}
    if outcome.status is DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    changed = connection.execute(
        sa.update(table)
        .where(table.c.id == delivery.id, table.c.status == _PENDING,
               table.c.attempts == delivery.attempts)
        .values(values))
    return changed.rowcount == 1


def _from(row: RowMapping) -> Delivery:
    return Delivery(row["id"], row["run_id"], row["url"], row["event"], row["body"],
                    DeliveryStatus(row["status"]), row["attempts"], row["last_status"],
                    row["last_error"], row["next_at"], row["created_at"],
                    row["delivered_at"])
