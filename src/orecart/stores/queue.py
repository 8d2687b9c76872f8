"""The queue in the state store: requests waiting in FIFO order, one run per run key, and
claiming or cancelling a queued run so that exactly one of them wins.

A request is a ``queued`` run plus a ``requests`` row (its FIFO ``seq`` and the payload
the service needs to run it). The row stays after the run starts, so a run that was
aborted can be queued again with what it was asked to do. Every writing function here
runs inside the caller's write transaction; ``enqueue`` serializes on the run key first,
so two submits of one key at the same moment, from any process, give one run.

A key is *held* while its latest run is queued, running (and its process alive, as
history reads judge it: ``orecart.stores.orphans``) or succeeded: asking again returns
that run. A key whose latest run failed, was cancelled or aborted is queued again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.model import Run, RunStatus
from orecart.stores import Holder
from orecart.stores.engine import serialize
from orecart.stores.orphans import as_seen
from orecart.stores.schema import requests, run_from, run_values, runs

QUEUED = str(RunStatus.QUEUED)
RUNNING = str(RunStatus.RUNNING)
#: A key whose latest run has one of these statuses is not queued again.
HELD = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED})
CANCELLED_BEFORE_START = "cancelled before it started"


def latest_of_key(
    connection: Connection, columns: Sequence[sa.Column[Any]], pipeline: str, key: str
) -> Run | None:
    """The latest run of ``key`` in ``pipeline``: the last one queued (a run saved without
    being queued counts by its start)."""
    query = (
        sa.select(*columns)
        .where(runs.c.pipeline == pipeline, runs.c.key == key)
        .order_by(
            runs.c.queued_at.desc().nulls_last(),
            runs.c.started_at.desc().nulls_first(),
            runs.c.id.desc(),
        )
        .limit(1)
    )
    row = connection.execute(query).mappings().first()
    return run_from(row) if row else None


def enqueue(
    connection: Connection, run: Run, payload: Mapping[str, Any], now: datetime
) -> tuple[Run, bool]:
    """Queue ``run`` with ``payload`` unless its key is held: (the run, True) when queued,
    (the key's run, False) when not."""
    if run.status is not RunStatus.QUEUED:
        raise ValueError(f"only a queued run can be enqueued, not a {run.status} one")
    if run.key is not None:
        serialize(connection, f"key:{run.pipeline}:{run.key}")
        latest = latest_of_key(connection, list(runs.columns), run.pipeline, run.key)
        if latest is not None and as_seen(latest).status in HELD:
            return as_seen(latest), False
    if run.queued_at is None:
        run = replace(run, queued_at=now)
    connection.execute(sa.insert(runs).values(run_values(run)))
    connection.execute(sa.insert(requests).values(run_id=run.id, payload=dict(payload)))
    return run, True


def queued_query(
    columns: Sequence[sa.Column[Any]], pipeline: str | None, limit: int | None
) -> sa.Select[Any]:
    """The queued runs (of one pipeline, or of all), first asked first."""
    query = sa.select(*columns).select_from(runs.join(requests, requests.c.run_id == runs.c.id))
    query = query.where(runs.c.status == QUEUED).order_by(requests.c.seq)
    if pipeline is not None:
        query = query.where(runs.c.pipeline == pipeline)
    return query.limit(limit) if limit is not None else query


def heads_query(columns: Sequence[sa.Column[Any]]) -> sa.Select[Any]:
    """The oldest queued run of each pipeline, first asked first: what a dispatcher may
    start now (FIFO per pipeline). It reads one row per pipeline, however long the queue
    is (a service dispatches after every run: reading all 1,000 queued runs each time
    cost more than running one)."""
    queued = runs.join(requests, requests.c.run_id == runs.c.id)
    firsts = (
        sa.select(sa.func.min(requests.c.seq))
        .select_from(queued)
        .where(runs.c.status == QUEUED)
        .group_by(runs.c.pipeline)
    )
    query = sa.select(*columns).select_from(queued)
    return query.where(runs.c.status == QUEUED, requests.c.seq.in_(firsts)).order_by(requests.c.seq)


def claim(connection: Connection, run_id: str, holder: Holder, now: datetime) -> Run | None:
    """Make the queued run ``run_id`` running, held by ``holder``'s process; None when it
    is not queued any more (claimed or cancelled first: the row decides, not a read)."""
    changed = connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == QUEUED)
        .values(status=RUNNING, host=holder.host, pid=holder.pid, started_at=now)
    )
    if changed.rowcount != 1:
        return None
    row = connection.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one()
    return run_from(row)


def request_cancel(connection: Connection, run_id: str, now: datetime) -> None:
    """Cancel the queued run ``run_id`` at once, or ask its runner to stop it when it runs;
    a finished run stays as it is. Atomic against ``claim``: one of the two wins."""
    cancelled = connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == QUEUED)
        .values(
            status=str(RunStatus.CANCELLED),
            finished_at=now,
            cancel_requested_at=now,
            error=CANCELLED_BEFORE_START,
        )
    )
    if cancelled.rowcount == 1:
        return
    connection.execute(
        sa.update(runs)
        .where(runs.c.id == run_id, runs.c.status == RUNNING, runs.c.cancel_requested_at.is_(None))
        .values(cancel_requested_at=now)
    )


def cancel_requested(connection: Connection, run_ids: Sequence[str]) -> set[str]:
    """Which of ``run_ids`` have a cancel asked."""
    if not run_ids:
        return set()
    query = sa.select(runs.c.id).where(
        runs.c.id.in_(list(run_ids)), runs.c.cancel_requested_at.is_not(None)
    )
    return set(connection.execute(query).scalars())


def payload(connection: Connection, run_id: str) -> dict[str, Any] | None:
    """The payload of the request of ``run_id``; None when it has none."""
    query = sa.select(requests.c.payload).where(requests.c.run_id == run_id)
    found = connection.execute(query).scalar()
    return dict(found) if found is not None else None
