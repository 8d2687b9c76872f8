"""Backup and restore against the real Neo4j: a round trip gives back the identical graph."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orecart.errors import GraphError
from orecart.graph.backup import (
    NODE_PAGE,
    RELATIONSHIP_PAGE,
    SUFFIX,
    backup,
    backup_path,
    prune_backups,
    read_header,
    restore,
)
from orecart.graph.connect import GraphConnection
from orecart.graph.schema import read_schema, wipe
from orecart.model import Graph
from tests.graph.plans import operators

EVERY_TYPE = """
CREATE (a:Person:Employee:`Odd Label` {
  name: 'Ada', age: 36, height: 1.68, active: true, nothing_false: false,
  big: 9007199254740993, negative: -42, tiny: 1.0e-300, zero: -0.0, unicode: 'grüß 你好 🚀',
  quote: $quote, empty_string: '',
  bytes: $bytes, empty_list: [],
  ints: [1, 2, 3], floats: [1.5, -2.25], strings: ['a', 'b'], bools: [true, false],
  born: date('1815-12-10'), wakes: time('07:30:15.123456789+01:00'),
  lunch: localtime('12:00:00.5'), lunch_zoned: time('12:00:00Z'),
  met: datetime('2024-03-31T02:30:00.000000001[Europe/Berlin]'),
  fold: datetime('2023-10-29T02:30:00+01:00[Europe/Berlin]'),
  fold_early: datetime('2023-10-29T02:30:00+02:00[Europe/Berlin]'),
  offset: datetime('2024-01-01T10:00:00-05:30'), utc: datetime('2024-01-01T10:00:00Z'),
  odd_offset: datetime('2024-01-01T10:00:00+05:45'),
  local: localdatetime('2024-01-01T10:00:00.999999999'),
  took: duration('P1Y2M3DT4H5M6.007008009S'), negative_took: duration('-PT1.5S'),
  home: point({x: 1.5, y: -2.0}), cube: point({x: 1, y: 2, z: 3}),
  city: point({longitude: 13.4, latitude: 52.5}),
  peak: point({longitude: 7, latitude: 46, height: 4478.0}),
  dates: [date('2020-01-01'), date('2021-02-03')],
  times: [localtime('01:02:03'), localtime('04:05:06')],
  zoned_times: [time('01:02:03+02:00')],
  datetimes: [datetime('2020-01-01T00:00:00[America/New_York]')],
  local_datetimes: [localdatetime('2020-01-01T00:00:00')],
  durations: [duration('PT1S'), duration('P1D')],
  points: [point({x: 1, y: 2}), point({x: 3, y: 4})]
})
CREATE (b:Person {name: 'Bob'})
CREATE (c)
CREATE (d:Thing)
CREATE (a)-[:KNOWS {since: date('2001-01-01'), weight: 0.5}]->(b)
CREATE (a)-[:KNOWS {since: date('2001-01-01'), weight: 0.5}]->(b)
CREATE (a)-[:KNOWS]->(b)
CREATE (b)-[:KNOWS]->(a)
CREATE (a)-[:SELF {loop: true}]->(a)
CREATE (c)-[:`WEIRD type`]->(d)
CREATE (d)-[:LIKES {bytes: $bytes}]->(c)
"""

SCHEMA = [
    "CREATE CONSTRAINT person_name FOR (p:Person) REQUIRE p.name IS UNIQUE",
    "CREATE CONSTRAINT composite FOR (p:Employee) REQUIRE (p.name, p.age) IS UNIQUE",
    "CREATE CONSTRAINT rel_unique FOR ()-[r:LIKES]-() REQUIRE r.key IS UNIQUE",
    "CREATE INDEX person_age FOR (p:Person) ON (p.age)",
    "CREATE INDEX composite_idx FOR (p:Person) ON (p.age, p.height)",
    "CREATE INDEX knows_since FOR ()-[r:KNOWS]-() ON (r.since)",
    "CREATE TEXT INDEX person_text FOR (p:Person) ON (p.unicode)",
    "CREATE POINT INDEX person_home FOR (p:Person) ON (p.home) "
    "OPTIONS {indexConfig: {`spatial.cartesian.min`: [-100.0, -100.0], "
    "`spatial.cartesian.max`: [100.0, 100.0]}}",
    "CREATE FULLTEXT INDEX names FOR (n:Person|Thing) ON EACH [n.name, n.quote]",
    "CREATE FULLTEXT INDEX rel_text FOR ()-[r:KNOWS|LIKES]-() ON EACH [r.note]",
    "CREATE INDEX `we``ird` FOR (n:`Odd Label`) ON (n.`odd prop`)",
    "CREATE VECTOR INDEX embeddings FOR (n:Thing) ON n.embedding "
    "OPTIONS {indexConfig: {`vector.dimensions`: 3, `vector.similarity_function`: 'cosine'}}",
]

NODES = (
    "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props, "
    "[k IN keys(n) | k + ': ' + valueType(n[k])] AS types, "
    "[k IN keys(n) WHERE valueType(n[k]) CONTAINS 'TIME' AND NOT valueType(n[k]) STARTS WITH 'LIST'"
    " | k + '=' + toString(n[k])] AS texts, elementId(n) AS id"
)
RELATIONSHIPS = (
    "MATCH (a)-[r]->(b) RETURN elementId(a) AS a, elementId(b) AS b, type(r) AS type, "
    "properties(r) AS props, [k IN keys(r) | k + ': ' + valueType(r[k])] AS types"
)


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph) as conn:
        yield conn


def canonical(conn: GraphConnection) -> tuple[list[str], list[str], Any]:
    """The graph with internal ids replaced by node content, as sorted lists; plus schema."""
    nodes = {}
    for row in conn.read(NODES):
        key = repr((sorted(row["labels"]), sorted(row["props"].items()), sorted(row["types"])))
        nodes[row["id"]] = key + repr(sorted(row["texts"]))
    rels = [
        repr(
            (
                nodes[row["a"]],
                row["type"],
                nodes[row["b"]],
                sorted(row["props"].items()),
                sorted(row["types"]),
            )
        )
        for row in conn.read(RELATIONSHIPS)
    ]
    return sorted(nodes.values()), sorted(rels), read_schema(conn)


def build(conn: GraphConnection) -> None:
    conn.write(EVERY_TYPE, bytes=bytes(range(256)), quote='it\'s `back` "ticked"')
    conn.write(
        "UNWIND range(1, 2500) AS i CREATE (:Bulk {i: i})-[:NEXT {i: i}]->(:Bulk:Tail {i: -i})"
    )
    conn.write("MATCH (t:Thing) SET t.embedding = [0.1, 0.2, 0.3]")
    for statement in SCHEMA:
        conn.run(statement)
    conn.run("CALL db.awaitIndexes(300)")


def test_round_trip_is_identical(conn: GraphConnection, tmp_path: Path) -> None:
    build(conn)
    before = canonical(conn)
    calls: list[tuple[int, int]] = []
    path = tmp_path / "g.graph.jsonl.gz"

    info = backup(conn, path, lambda done, total: calls.append((done, total)))

    assert (info.nodes, info.relationships) == (5004, 2507)
    assert (info.constraints, info.indexes) == (3, 9)
    assert calls and calls[-1] == (7511, 7511)
    assert all(a <= b for (a, _), (b, _) in zip(calls, calls[1:], strict=False))
    assert not list(tmp_path.glob("*.partial"))

    wipe(conn)
    assert canonical(conn) == ([], [], ([], []))
    calls.clear()
    restored = restore(conn, path, lambda done, total: calls.append((done, total)))

    assert (restored.nodes, restored.relationships) == (5004, 2507)
    assert calls and calls[-1] == (7511, 7511)
    assert canonical(conn) == before
    leftovers = conn.read("MATCH (n:_OrecartRestore) RETURN count(n) AS n")
    assert leftovers == [{"n": 0}]
    assert conn.read("MATCH (n) WHERE n._orecart_restore_id IS NOT NULL RETURN count(n) AS n") == [
        {"n": 0}
    ]
    assert read_header(path).created_at == info.created_at


def test_restore_refuses_a_database_that_is_not_empty(
    conn: GraphConnection, tmp_path: Path
) -> None:
    conn.write("CREATE (:Kept {v: 1})")
    path = backup(conn, tmp_path / "a" / SUFFIX.lstrip(".")).path
    with pytest.raises(GraphError, match="not empty"):
        restore(conn, path)
    restore(conn, path, force=True)
    assert conn.read("MATCH (n) RETURN n.v AS v") == [{"v": 1}]


def test_restore_refuses_a_schema_only_database(conn: GraphConnection, tmp_path: Path) -> None:
    path = backup(conn, tmp_path / "empty.graph.jsonl.gz").path
    conn.run("CREATE INDEX lonely FOR (n:X) ON (n.y)")
    with pytest.raises(GraphError, match="not empty"):
        restore(conn, path)


def test_incomplete_backup_is_refused(conn: GraphConnection, tmp_path: Path) -> None:
    conn.write("UNWIND range(1, 10) AS i CREATE (:N {i: i})")
    path = backup(conn, tmp_path / "full.graph.jsonl.gz").path
    lines = gzip.open(path, "rt").read().splitlines(keepends=True)
    cut = tmp_path / "cut.graph.jsonl.gz"
    with gzip.open(cut, "wt") as out:
        out.writelines(lines[:-3])
    wipe(conn)
    with pytest.raises(GraphError, match="incomplete"):
        restore(conn, cut)


def test_not_a_backup_is_refused(conn: GraphConnection, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.graph.jsonl.gz"
    with gzip.open(bogus, "wt") as out:
        out.write('{"hello": 1}\n')
    with pytest.raises(GraphError, match="not an orecart graph backup"):
        restore(conn, bogus)
    plain = tmp_path / "plain.graph.jsonl.gz"
    plain.write_text("not gzip")
    with pytest.raises(GraphError, match="cannot read backup"):
        restore(conn, plain)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    paths = [tmp_path / f"b{i}{SUFFIX}" for i in range(5)]
    for age, path in enumerate(reversed(paths)):
        path.write_text("x")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "other.txt").write_text("keep me")
    deleted = prune_backups(tmp_path, keep=2)
    assert deleted == [paths[0], paths[1], paths[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b3" + SUFFIX, "b4" + SUFFIX, "other.txt"]
    assert prune_backups(tmp_path, keep=5) == []


def test_backup_path_sorts_by_time(tmp_path: Path) -> None:
    first, second = backup_path(tmp_path), backup_path(tmp_path, tag="after")
    assert first.name < second.name and second.name.endswith("-after" + SUFFIX)


def test_a_backup_page_seeks_its_ids_instead_of_scanning_every_element(
        conn: GraphConnection) -> None:
    conn.write("UNWIND range(1, 50) AS i CREATE (:P)-[:R]->(:P)")
    page = {"low": 0, "high": 10}
    nodes = operators(conn, NODE_PAGE.format(values="[]"), page)
    assert "NodeByIdSeek" in nodes and "AllNodesScan" not in nodes, nodes
    rels = operators(conn, RELATIONSHIP_PAGE.format(values="[]"), page)
    assert rels & {"DirectedRelationshipByIdSeek", "UndirectedRelationshipByIdSeek"}, rels
    assert not rels & {"DirectedAllRelationshipsScan", "AllNodesScan"}, rels
