"""Running a stored query on the graph: its values go as driver parameters (never into the
text), a read query in a read transaction, a write query in a write one. A query the server
refuses is a value (``Answered.error``), as a check that fails is: the caller records it.

Rows come back as plain JSON-ready values (``plain``): a node is its element id, labels and
properties; a relationship its type, ends and properties; a temporal value its ISO text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import neo4j.graph
import neo4j.time

from orecart.errors import GraphError
from orecart.graph.connect import GraphConnection
from orecart.querying import QueryMode, StoredQuery


@dataclass(frozen=True)
class Answered:
    """What one execution gave: its rows (none when it failed), its error, its timing."""

    started_at: datetime
    duration: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def execute(conn: GraphConnection, query: StoredQuery, values: Mapping[str, Any]) -> Answered:
    """Run ``query`` with ``values`` (already of their declared types)."""
    transaction = conn.write if query.mode is QueryMode.WRITE else conn.read
    started_at, clock = datetime.now(UTC), time.perf_counter()
    try:
        rows = transaction(query.cypher, **values)
    except GraphError as exc:
        return Answered(started_at, time.perf_counter() - clock, error=str(exc))
    duration = time.perf_counter() - clock
    return Answered(started_at, duration, [{k: plain(v) for k, v in r.items()} for r in rows])


def plain(value: Any) -> Any:
    """A driver value as JSON-ready data."""
    if isinstance(value, neo4j.graph.Node):
        return {"id": value.element_id, "labels": sorted(value.labels),
                "properties": plain(dict(value))}
    if isinstance(value, neo4j.graph.Relationship):
        return {"id": value.element_id, "type": value.type, "properties": plain(dict(value)),
                "start": value.start_node.element_id if value.start_node else None,
                "end": value.end_node.element_id if value.end_node else None}
    if isinstance(value, neo4j.graph.Path):
        return {"nodes": plain(list(value.nodes)),
                "relationships": plain(list(value.relationships))}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, neo4j.time.Date | neo4j.time.DateTime | neo4j.time.Time
                  | neo4j.time.Duration):
        return value.iso_format()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # points, and whatever a newer driver adds
