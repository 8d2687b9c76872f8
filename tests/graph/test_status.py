"""graph_status against the real Neo4j: counts per label and type, and the last runs."""

from __future__ import annotations

from datetime import UTC, datetime

from orecart.graph.connect import GraphConnection
from orecart.graph.status import RunSummary, graph_status
from orecart.model import Graph


def test_empty_graph(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn:
        status = graph_status(conn)
    assert (status.nodes, status.relationships) == (0, 0)
    assert status.labels == {} and status.relationship_types == {} and status.runs == ()
    assert status.server_version.startswith("5.") and status.edition == "community"
    assert status.database == "neo4j"


def test_counts_per_label_and_type(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn:
        conn.write("UNWIND range(1, 5) AS i CREATE (:A:`B c` {i: i})-[:R]->(:A)-[:`S t`]->()")
        conn.write("CREATE (x:Gone) DELETE x")  # a label without nodes is left out
        status = graph_status(conn)
    assert (status.nodes, status.relationships) == (15, 10)
    assert status.labels == {"A": 10, "B c": 5}
    assert status.relationship_types == {"R": 5, "S t": 5}


def test_last_runs_newest_first_and_read_defensively(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn:
        conn.write(
            "CREATE (:_PipelineLogRun {id: 'r1', pipeline: 'p', status: 'succeeded', "
            "started_at: datetime('2024-01-01T10:00:00Z'), "
            "finished_at: datetime('2024-01-01T11:00:00Z')}) "
            "CREATE (:_PipelineLogRun {id: 'r2', pipeline: 'p', status: 'failed', "
            "started_at: datetime('2024-02-01T10:00:00Z')}) "
            "CREATE (:_PipelineLogRun {id: 3, pipeline: 'q', started_at: 'not a date'}) "
            "CREATE (:_PipelineLogRun {id: 'r4', pipeline: 'q', "
            "started_at: '2023-05-01T00:00:00+00:00'})"
        )
        status = graph_status(conn, runs=2, pipeline="p")
        everything = graph_status(conn, runs=10)
    assert [run.id for run in status.runs] == ["r2", "r1"]
    assert status.runs[1] == RunSummary(
        id="r1",
        pipeline="p",
        status="succeeded",
        started_at=datetime(2024, 1, 1, 10, tzinfo=UTC),
        finished_at=datetime(2024, 1, 1, 11, tzinfo=UTC),
    )
    odd = [run for run in everything.runs if run.id == "3"][0]
    assert odd.started_at is None and odd.status is None
    r4 = [run for run in everything.runs if run.id == "r4"][0]
    assert r4.started_at == datetime(2023, 5, 1, tzinfo=UTC)
    assert len(everything.runs) == 4
