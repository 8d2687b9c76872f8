"""Stored queries as the service runs them: ``run_stored`` executes one on an open graph
connection and records the execution in the state store, whoever asks (``orecart query``
with origin ``cli``; a graph trigger's action with origin ``trigger``).

What is recorded: pipeline, query, start, duration, rows, error, origin, and the params as
JSON with every secret value masked (a secret-looking or declared-secret name, or a value
holding one of the pipeline's secrets, ``orecart.secrets``); the error is redacted the same
way. The rows themselves are never stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from orecart.errors import NotFoundError
from orecart.model import Pipeline
from orecart.querying import QueryExecution, QueryStats, StoredQuery, stats_of
from orecart.secrets import MASK, Redactor, is_secret, known_secrets
from orecart.stores import QueryLog

if TYPE_CHECKING:
    from orecart.graph.connect import GraphConnection


@dataclass(frozen=True)
class QueryAnswer:
    """One execution as recorded, and the rows it returned (none when it failed)."""

    execution: QueryExecution
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.execution.error is None


def find_query(pipeline: Pipeline, name: str) -> StoredQuery:
    for query in pipeline.queries:
        if query.name == name:
            return query
    known = ", ".join(q.name for q in pipeline.queries) or "none"
    raise NotFoundError(f"pipeline {pipeline.name} has no query {name!r} (queries: {known})")


def run_stored(store: QueryLog, conn: GraphConnection, pipeline: Pipeline, query: StoredQuery,
               values: Mapping[str, Any], origin: str) -> QueryAnswer:
    """Run ``query`` with ``values`` (of their declared types) and record the execution;
    a failing query is an answer with its error, recorded too, never an exception."""
    from orecart.graph.queries import execute  # the driver loads with the first query

    answered = execute(conn, query, values)
    params, secret = masked_params(pipeline, values)
    redact = Redactor(known_secrets(pipeline) | secret)
    execution = QueryExecution(
        pipeline.name, query.name, answered.started_at, answered.duration, origin,
        None if answered.error else len(answered.rows),
        redact(answered.error) if answered.error else None, params)
    store.record_query(execution)
    return QueryAnswer(execution, answered.rows)


def masked_params(pipeline: Pipeline, values: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                          set[str]]:
    """``values`` as JSON with the secret ones masked, and the secret texts found."""
    known, shown, secret = known_secrets(pipeline), {}, set()
    for name, value in values.items():
        data = _json(value)
        text = data if isinstance(data, str) else str(data)
        if is_secret(name, text, pipeline.secrets) or any(s in text for s in known):
            shown[name] = MASK
            secret.add(text)
        else:
            shown[name] = data
    return shown, secret


def _json(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def stats_view(pipeline: Pipeline, recorded: Sequence[QueryStats]) -> list[QueryStats]:
    """Stats of every declared query in file order (one never run has count 0), then of
    recorded ones the file no longer declares."""
    by_name = {s.query: s for s in recorded}
    declared = [by_name.pop(q.name) if q.name in by_name else stats_of(q.name, (), 0)
                for q in pipeline.queries]
    return declared + list(by_name.values())
