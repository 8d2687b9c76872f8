"""Graph snapshots against a real Neo4j: count-store counts, key sets, and their delta."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orecart.errors import GraphError
from orecart.events import MemberFinished
from orecart.graph.connect import GraphConnection
from orecart.graph.runlog import GraphRunLog
from orecart.graph.schema import quote
from orecart.graph.snapshot import count_query, delta, take_snapshot
from orecart.model import Graph, MemberRun, MemberStatus, Pipeline

pytestmark = pytest.mark.neo4j


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        yield connection


def test_empty_graph(conn: GraphConnection) -> None:
    snap = take_snapshot(conn, {"Gene": "id"})
    assert snap.nodes == {} and snap.relationships == {}
    assert snap.keys == {"Gene": frozenset()}


def test_counts_per_label_and_type(conn: GraphConnection) -> None:
    conn.write(
        "UNWIND range(1, 4) AS i CREATE (g:Gene {id: 'g' + i})-[:CODES]->(:Protein:Thing) "
        "WITH g CREATE (g)-[:`odd type`]->(:`we``ird label`)"
    )
    snap = take_snapshot(conn)
    assert snap.nodes == {"Gene": 4, "Protein": 4, "Thing": 4, "we`ird label": 4}
    assert snap.relationships == {"CODES": 4, "odd type": 4}


def test_orecart_log_nodes_are_left_out(conn: GraphConnection) -> None:
    pipeline = Pipeline(name="p", source=Path("/p.yaml"), members=())
    run = MemberRun(run_id="r", member="m", status=MemberStatus.SUCCEEDED)
    GraphRunLog(conn, pipeline).emit(MemberFinished(run))
    snap = take_snapshot(conn)
    assert snap.nodes == {} and snap.relationships == {}


def test_delta_counts_and_keys(conn: GraphConnection) -> None:
    conn.write("UNWIND range(1, 5) AS i CREATE (:Gene {id: 'g' + i})")
    conn.write("CREATE (:Pathway {name: 'p1'}), (:Pathway {name: 'p2'})")
    keys = {"Gene": "id", "Pathway": "name"}
    before = take_snapshot(conn, keys)

    conn.write("MATCH (g:Gene) WHERE g.id IN ['g1', 'g2'] DETACH DELETE g")
    conn.write("UNWIND ['g6', 'g7', 'g8'] AS id CREATE (:Gene {id: id})-[:IN]->(:Cell)")
    after = take_snapshot(conn, keys)

    change = delta(before, after)
    assert change == {
        "nodes": {"Cell": 3, "Gene": 1},
        "relationships": {"IN": 3},
        "added": {"Gene": ["g6", "g7", "g8"]},
        "removed": {"Gene": ["g1", "g2"]},
    }
    assert json.loads(json.dumps(change)) == change
    assert delta(after, after) == {"nodes": {}, "relationships": {}, "added": {}, "removed": {}}


def test_keys_of_any_type_stay_serialisable(conn: GraphConnection) -> None:
    before = take_snapshot(conn, {"Thing": "key"})
    conn.write(
        "CREATE (:Thing {key: 1}), (:Thing {key: 'a'}), (:Thing {key: [1, 2]}), "
        "(:Thing {key: date('2026-03-01')}), (:Thing)"
    )
    change = delta(before, take_snapshot(conn, {"Thing": "key"}))
    assert change["nodes"] == {"Thing": 5}
    assert len(change["added"]["Thing"]) == 4
    json.dumps(change)


def test_quote() -> None:
    assert quote("Gene") == "`Gene`"
    assert quote("a`b") == "`a``b`"
    with pytest.raises(GraphError):
        quote("")


def test_bad_key_property_is_a_graph_error(conn: GraphConnection) -> None:
    with pytest.raises(GraphError):
        take_snapshot(conn, {"Gene": ""})


def test_counts_come_from_the_count_store(conn: GraphConnection) -> None:
    conn.write("CREATE (:Gene)-[:CODES]->(:Protein)")
    query, params = count_query(["Gene", "Protein"], ["CODES"])
    with conn.session() as session:
        plan = session.run("EXPLAIN " + query, params).consume().plan
    assert plan is not None
    operators = _operators(plan)
    assert operators.count("NodeCountFromCountStore") == 2
    assert operators.count("RelationshipCountFromCountStore") == 1
    assert not any("Scan" in op for op in operators)


def _operators(plan: dict[str, Any]) -> list[str]:
    found = [str(plan["operatorType"]).split("@")[0]]
    for child in plan.get("children", []):
        found += _operators(child)
    return found
