"""The Cypher of trigger patterns against a real Neo4j: windows by internal id, ``top``,
conditions and mapped values from each part, odd names, injections that stay data, and
plans that seek by id instead of scanning a label."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orecart.graph.connect import GraphConnection
from orecart.graph.patterns import one, window
from orecart.model import Graph
from orecart.triggering import Match, RunAction, Trigger, TriggerKind
from tests.graph.plans import operators

pytestmark = pytest.mark.neo4j

RUN = RunAction()


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        yield connection


def node_trigger(match: Match) -> Trigger:
    return Trigger("t", TriggerKind.NODE, RUN, node=match)


def rel_trigger(start: Match, rel: Match, end: Match) -> Trigger:
    return Trigger("t", TriggerKind.RELATIONSHIP, RUN, start=start, relationship=rel, end=end)


def poll(conn: GraphConnection, trigger: Trigger, low: int, high: int) -> dict[str, Any]:
    text, params = window(trigger, low, high)
    (row,) = conn.read(text, **params)
    return row


def ids(conn: GraphConnection, query: str, **params: Any) -> list[int]:
    return [row["id"] for row in conn.write(query, **params)]


def test_a_node_window_gives_top_and_the_matching_nodes_values(conn: GraphConnection) -> None:
    made = ids(conn, "UNWIND range(0, 5) AS i CREATE (n:Fastq {sample: 's' + i, kind: "
                     "CASE WHEN i % 2 = 0 THEN 'x' ELSE 'y' END, i: i}) RETURN id(n) AS id "
                     "ORDER BY i")
    other = ids(conn, "CREATE (n:Other {kind: 'x', sample: 'o'}) RETURN id(n) AS id")
    every = made + other  # ids are reused after deletes: not in creation order
    trigger = node_trigger(Match("Fastq", {"kind": "x"}, {"sample": "sample", "i": "index"}))
    row = poll(conn, trigger, min(every), max(every))
    assert row["top"] == max(every)
    hits = sorted(row["hits"], key=lambda hit: hit["values"]["index"])
    assert [hit["id"] for hit in hits] == [made[0], made[2], made[4]]
    assert [hit["values"] for hit in hits] == [{"sample": f"s{i}", "index": i} for i in (0, 2, 4)]
    assert all(hit["element"].endswith(f":{hit['id']}") for hit in hits)
    # the bounds are inclusive, and nothing outside them is read
    inner = poll(conn, trigger, made[0], made[0])
    assert inner["top"] == made[0] and [hit["id"] for hit in inner["hits"]] == [made[0]]
    assert poll(conn, trigger, made[1], made[1]) == {"top": made[1], "fresh": 1, "hits": []}


def test_top_is_the_highest_id_even_when_nothing_matches_and_null_past_the_end(
        conn: GraphConnection) -> None:
    made = ids(conn, "UNWIND range(1, 3) AS i CREATE (n:Fastq {kind: 'y'}) RETURN id(n) AS id")
    trigger = node_trigger(Match("Fastq", {"kind": "x"}))
    assert poll(conn, trigger, min(made), max(made) + 10) == {
        "top": max(made), "fresh": len(made), "hits": []}
    assert poll(conn, trigger, max(made) + 1, max(made) + 10) == {
        "top": None, "fresh": 0, "hits": []}


def test_a_relationship_pattern_reads_each_part_and_the_relationships_own_properties(
        conn: GraphConnection) -> None:
    rows = conn.write(
        "CREATE (p:PersonalisSequencing {run: 'r1', lab: 'a'})"
        "-[g:GENERATED {p: 'from-rel', ok: true}]->(f:Fastq {p: 'from-end', sample: 's1'}), "
        "(p)-[h:GENERATED {p: 'rel-2', ok: false}]->(:Fastq {p: 'end-2', sample: 's2'}), "
        "(p)-[k:OTHER {p: 'rel-3', ok: true}]->(:Fastq {p: 'end-3', sample: 's3'}), "
        "(:Wrong {lab: 'a'})-[w:GENERATED {p: 'rel-4', ok: true}]->(:Fastq {sample: 's4'}) "
        "RETURN [id(g), id(h), id(k), id(w)] AS ids")
    rel_ids = rows[0]["ids"]
    trigger = rel_trigger(
        Match("PersonalisSequencing", {"lab": "a"}, {"run": "run"}),
        Match("GENERATED", {"ok": True}, {"p": "rel_p"}),
        Match("Fastq", {"sample": "s1"}, {"p": "end_p", "sample": "sample"}),
    )
    row = poll(conn, trigger, min(rel_ids), max(rel_ids))
    assert row["top"] == max(rel_ids)
    (hit,) = row["hits"]
    assert hit["id"] == rel_ids[0]
    assert hit["values"] == {"run": "r1", "rel_p": "from-rel", "end_p": "from-end",
                             "sample": "s1"}
    # without conditions on the end, the wrong start and type still keep w and k out
    loose = rel_trigger(Match("PersonalisSequencing"), Match("GENERATED"), Match())
    hits = poll(conn, loose, min(rel_ids), max(rel_ids))["hits"]
    assert sorted(hit["id"] for hit in hits) == sorted(rel_ids[:2])


def test_odd_labels_types_and_property_names_work(conn: GraphConnection) -> None:
    label, prop, rel = "we`ird label ü", "a `b` c-ß", "HAS `odd` type"
    (row,) = conn.write("CREATE (n:`we``ird label ü` {`a ``b`` c-ß`: 'v'})"
                        "-[r:`HAS ``odd`` type` {`a ``b`` c-ß`: 'rv'}]->(:Plain) "
                        "RETURN id(n) AS n, id(r) AS r")
    trigger = node_trigger(Match(label, {prop: "v"}, {prop: "value"}))
    hit, = poll(conn, trigger, row["n"], row["n"] + 1)["hits"]
    assert hit["values"] == {"value": "v"}
    trigger = rel_trigger(Match(label), Match(rel, {prop: "rv"}, {prop: "odd.param-x"}), Match())
    hit, = poll(conn, trigger, row["r"], row["r"])["hits"]
    assert hit["values"] == {"odd.param-x": "rv"}


INJECTIONS = ["x' OR true //", "x\" OR true //", "x}) DETACH DELETE n //",
              "`) MATCH (m) DETACH DELETE m //", "n.name = $w0 //"]


def test_injections_through_where_literals_and_stored_values_stay_data(
        conn: GraphConnection) -> None:
    made = ids(conn, "UNWIND $texts + ['x'] AS t CREATE (n:Fastq {name: t}) RETURN id(n) AS id",
               texts=INJECTIONS)
    for text in INJECTIONS:
        trigger = node_trigger(Match("Fastq", {"name": text}, {"name": "name"}))
        cypher, params = window(trigger, min(made), max(made))
        assert text not in cypher
        (hit,) = conn.read(cypher, **params)[0]["hits"]
        assert hit["values"] == {"name": text}  # a stored hostile value comes back verbatim
    assert conn.read("MATCH (n:Fastq) RETURN count(n) AS n") == [{"n": len(INJECTIONS) + 1}]


def test_one_reads_an_element_again_while_it_matches(conn: GraphConnection) -> None:
    (row,) = conn.write("CREATE (a:S)-[r:T {v: 1, ok: true}]->(b:E) RETURN elementId(r) AS r,"
                        " id(r) AS id, elementId(a) AS a")
    trigger = rel_trigger(Match("S"), Match("T", {"ok": True}, {"v": "v"}), Match("E"))
    text, params = one(trigger, row["r"])
    assert conn.read(text, **params) == [
        {"hit": {"id": row["id"], "element": row["r"], "values": {"v": 1}}}]
    conn.write("MATCH ()-[r:T]->() SET r.v = 2")
    assert conn.read(text, **params)[0]["hit"]["values"] == {"v": 2}  # current values
    conn.write("MATCH ()-[r:T]->() SET r.ok = false")
    assert conn.read(text, **params) == []  # no longer matches
    nodes = node_trigger(Match("S"))
    text, params = one(nodes, row["a"])
    assert len(conn.read(text, **params)) == 1
    conn.write("MATCH (n) DETACH DELETE n")
    assert conn.read(text, **params) == []  # gone


def test_a_window_seeks_by_id_instead_of_scanning_a_label(conn: GraphConnection) -> None:
    conn.write("UNWIND range(1, 200) AS i CREATE (:Fastq {kind: 'x'})-[:GENERATED]->(:Fastq)")
    conn.run("CREATE INDEX fastq_kind IF NOT EXISTS FOR (n:Fastq) ON (n.kind)")
    node = operators(conn, *window(node_trigger(Match("Fastq", {"kind": "x"})), 10, 20))
    assert "NodeByIdSeek" in node
    assert not node & {"NodeByLabelScan", "AllNodesScan", "NodeIndexSeek"}, node
    rel = operators(conn, *window(rel_trigger(Match("Fastq"), Match("GENERATED"), Match()),
                                  10, 20))
    assert rel & {"DirectedRelationshipByIdSeek", "UndirectedRelationshipByIdSeek"}, rel
    assert not rel & {"NodeByLabelScan", "AllNodesScan", "DirectedRelationshipTypeScan"}, rel
    element = operators(conn, *one(node_trigger(Match("Fastq")), "4:abc:1"))
    assert "NodeByElementIdSeek" in element, element
    element = operators(conn, *one(rel_trigger(Match(), Match("GENERATED"), Match()), "5:a:1"))
    assert "DirectedRelationshipByElementIdSeek" in element, element
    conn.run("DROP INDEX fastq_kind")
