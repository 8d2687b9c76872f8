"""Runs listed page by page, newest first, filtered in SQL: by pipeline, status, labels
(``run_labels``) and queue time. A page ends with an opaque cursor of the last run's
(queued_at, id), so the next page starts exactly after it however many runs arrive."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.errors import UsageError
from orecart.model import Run, RunStatus
from orecart.stores.schema import (
    callback_deliveries,
    member_runs,
    run_labels,
    runs,
    trigger_firings,
)


@dataclass(frozen=True)
class RunFilter:
    pipeline: str | None = None
    status: RunStatus | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # every one must match
    since: datetime | None = None  # queued at or after
    limit: int = 50
    cursor: str | None = None  # ``Page.next`` of the page before


@dataclass(frozen=True)
class Page:
    runs: list[Run]
    next: str | None  # the cursor of the next page; None: this is the last


@dataclass(frozen=True)
class Counts:
    """How many runs and member runs the store holds, by status."""

    runs: Mapping[str, int]
    member_runs: Mapping[str, int]
    #: (pipeline, status) -> runs; callback deliveries and trigger firings by status
    runs_by_pipeline: Mapping[tuple[str, str], int] = field(default_factory=dict)
    deliveries: Mapping[str, int] = field(default_factory=dict)
    firings: Mapping[str, int] = field(default_factory=dict)


def counts(connection: Connection, missing: Collection[str] = ()) -> Counts:
    """Grouped counts, one query per table (``missing``: tables an older store lacks)."""
    def by_status(table: sa.Table) -> dict[str, int]:
        if table.name in missing:
            return {}
        query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        return {status: int(n) for status, n in connection.execute(query)}

    per_pipeline = sa.select(runs.c.pipeline, runs.c.status, sa.func.count()).group_by(
        runs.c.pipeline, runs.c.status)
    by_pipeline = {(p, s): int(n) for p, s, n in connection.execute(per_pipeline)}
    return Counts(by_status(runs), by_status(member_runs), by_pipeline,
                  by_status(callback_deliveries), by_status(trigger_firings))


def select(columns: Sequence[sa.Column[Any]], wanted: RunFilter) -> sa.Select[Any]:
    """The rows of one page, plus one more (it tells whether a next page exists)."""
    query = sa.select(*columns)
    if wanted.pipeline is not None:
        query = query.where(runs.c.pipeline == wanted.pipeline)
    if wanted.status is not None:
        query = query.where(runs.c.status == str(wanted.status))
    if wanted.since is not None:
        query = query.where(runs.c.queued_at >= wanted.since)
    for name, value in sorted(wanted.labels.items()):
        labelled = sa.select(run_labels.c.run_id).where(
            run_labels.c.name == name, run_labels.c.value == value)
        query = query.where(runs.c.id.in_(labelled))
    if wanted.cursor is not None:
        query = query.where(_after(*decode(wanted.cursor)))
    order = (runs.c.queued_at.desc().nulls_last(), runs.c.id.desc())
    return query.order_by(*order).limit(wanted.limit + 1)


def _after(queued_at: datetime | None, run_id: str) -> sa.ColumnElement[bool]:
    if queued_at is None:
        return sa.and_(runs.c.queued_at.is_(None), runs.c.id < run_id)
    return sa.or_(runs.c.queued_at < queued_at,
                  sa.and_(runs.c.queued_at == queued_at, runs.c.id < run_id),
                  runs.c.queued_at.is_(None))


def page(found: list[Run], limit: int) -> Page:
    if len(found) <= limit:
        return Page(found, None)
    last = found[limit - 1]
    return Page(found[:limit], encode(last.queued_at, last.id))


def encode(queued_at: datetime | None, run_id: str) -> str:
    text = f"{queued_at.isoformat() if queued_at else ''}|{run_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime | None, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, sep, run_id = text.partition("|")
        if not sep or not run_id:
            raise ValueError("no run id")
        return (datetime.fromisoformat(at) if at else None), run_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise UsageError("cursor: not one this server gave out") from exc


def save_labels(connection: Connection, run: Run) -> None:
    """Keep ``run_labels`` equal to the run's labels."""
    connection.execute(sa.delete(run_labels).where(run_labels.c.run_id == run.id))
    if run.labels:
        connection.execute(sa.insert(run_labels), [
            {"run_id": run.id, "name": k, "value": str(v)} for k, v in run.labels.items()])
