"""What the graph holds right now: server, counts per label and type, and the last runs.

Counts come from Neo4j's count store (``MATCH (n:`Label`) RETURN count(n)`` is answered
without touching a node), so a status is cheap on any graph size. The last runs are read
from the ``:_PipelineLogRun`` nodes ``orecart.graph.runlog`` writes; they are read
defensively (missing or oddly typed properties become ``None``), since the nodes may come
from an older orecart or have been edited by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orecart.graph.connect import GraphConnection
from orecart.graph.runlog import RUN_LABEL
from orecart.graph.schema import quote


@dataclass(frozen=True)
class RunSummary:
    id: str
    pipeline: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class GraphStatus:
    server_version: str
    edition: str
    database: str
    nodes: int
    relationships: int
    labels: Mapping[str, int] = field(default_factory=dict)  # label -> node count
    relationship_types: Mapping[str, int] = field(default_factory=dict)  # type -> count
    runs: tuple[RunSummary, ...] = ()  # newest first


def graph_status(
    conn: GraphConnection, *, runs: int = 10, pipeline: str | None = None
) -> GraphStatus:
    """The status of ``conn``'s database with its last ``runs`` runs (of ``pipeline``)."""
    info = conn.server()
    return GraphStatus(
        server_version=info.version,
        edition=info.edition,
        database=conn.database,
        nodes=_count(conn, "MATCH (n) RETURN count(n) AS n"),
        relationships=_count(conn, "MATCH ()-[r]->() RETURN count(r) AS n"),
        labels=label_counts(conn),
        relationship_types=type_counts(conn),
        runs=last_runs(conn, runs, pipeline),
    )


def label_counts(conn: GraphConnection) -> dict[str, int]:
    """Nodes per label, labels in name order; labels without nodes left out."""
    labels = sorted(str(row["label"]) for row in conn.read("CALL db.labels() YIELD label"))
    counts = {
        label: _count(conn, f"MATCH (n:{quote(label)}) RETURN count(n) AS n") for label in labels
    }
    return {label: n for label, n in counts.items() if n}


def type_counts(conn: GraphConnection) -> dict[str, int]:
    """Relationships per type, types in name order; types without relationships left out."""
    kinds = sorted(
        str(row["relationshipType"])
        for row in conn.read("CALL db.relationshipTypes() YIELD relationshipType")
    )
    counts = {
        kind: _count(conn, f"MATCH ()-[r:{quote(kind)}]->() RETURN count(r) AS n") for kind in kinds
    }
    return {kind: n for kind, n in counts.items() if n}


def last_runs(
    conn: GraphConnection, limit: int, pipeline: str | None = None
) -> tuple[RunSummary, ...]:
    """The newest ``limit`` runs recorded in the graph, newest first."""
    rows = conn.read(
        f"MATCH (r:{quote(RUN_LABEL)}) WHERE $pipeline IS NULL OR r.pipeline = $pipeline "
        "RETURN r.id AS id, r.pipeline AS pipeline, r.status AS status, "
        "r.started_at AS started_at, r.finished_at AS finished_at "
        "ORDER BY coalesce(r.started_at, r.finished_at) DESC, r.id DESC LIMIT $limit",
        pipeline=pipeline,
        limit=limit,
    )
    return tuple(_summary(row) for row in rows)


def _summary(row: dict[str, Any]) -> RunSummary:
    return RunSummary(
        id="" if row["id"] is None else str(row["id"]),
        pipeline=_text(row["pipeline"]),
        status=_text(row["status"]),
        started_at=_when(row["started_at"]),
        finished_at=_when(row["finished_at"]),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _when(value: object) -> datetime | None:
    """A driver DateTime, a Python datetime or an ISO string as a datetime; else None."""
    if isinstance(value, datetime):
        return value
    to_native = getattr(value, "to_native", None)
    if callable(to_native):
        try:
            native = to_native()
        except (ValueError, OverflowError):
            return None
        return native if isinstance(native, datetime) else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _count(conn: GraphConnection, query: str) -> int:
    return int(conn.read(query)[0]["n"])
