"""Executions of stored queries in the state store: one row per execution, appended; the
statistics of ``orecart queries --stats`` are computed from them (nearest-rank
percentiles, ``orecart.querying.stats_of``), per query, first name first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from orecart.querying import QueryExecution, QueryStats, stats_of
from orecart.stores.schema import query_runs


def record(connection: Connection, execution: QueryExecution) -> None:
    connection.execute(sa.insert(query_runs).values(_values(execution)))


def executions(connection: Connection, pipeline: str, query: str | None = None,
               limit: int | None = None) -> list[QueryExecution]:
    """The executions of ``pipeline``'s queries (of one, or all), newest first."""
    select = sa.select(query_runs).where(query_runs.c.pipeline == pipeline)
    if query is not None:
        select = select.where(query_runs.c.query == query)
    select = select.order_by(query_runs.c.started_at.desc(), query_runs.c.id.desc())
    if limit is not None:
        select = select.limit(limit)
    return [_from(row) for row in connection.execute(select).mappings()]


def stats(connection: Connection, pipeline: str) -> list[QueryStats]:
    """Per query of ``pipeline`` that ran: count, p50, p95, max duration and errors."""
    select = (sa.select(query_runs.c.query, query_runs.c.duration, query_runs.c.error)
              .where(query_runs.c.pipeline == pipeline))
    durations: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for name, duration, error in connection.execute(select):
        durations.setdefault(name, []).append(duration)
        errors[name] = errors.get(name, 0) + (error is not None)
    return [stats_of(name, durations[name], errors[name]) for name in sorted(durations)]


def _values(execution: QueryExecution) -> dict[str, Any]:
    return {"pipeline": execution.pipeline, "query": execution.query,
            "started_at": execution.started_at, "duration": execution.duration,
            "rows": execution.rows, "error": execution.error, "origin": execution.origin,
            "params": dict(execution.params)}


def _from(row: RowMapping) -> QueryExecution:
    return QueryExecution(row["pipeline"], row["query"], row["started_at"], row["duration"],
                          row["origin"], row["rows"], row["error"], row["params"] or {})
