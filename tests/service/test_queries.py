"""Stored queries on a real Neo4j, through the tools the CLI uses: typed parameters, an
injection attempt that lands only as a parameter, read vs write transactions, a failing
query recorded with its error, secrets masked, and the statistics of several executions."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j import GraphDatabase

from orecart.errors import UsageError
from orecart.model import Graph
from orecart.secrets import MASK
from orecart.service import Tools
from orecart.service.tools import Source

PIPELINE = """\
pipeline: q
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}"}}
members:
  - name: load
    run: [echo, hi]
queries:
  - name: typed
    mode: write
    cypher: |
      CREATE (n:Typed {{s: $s, i: $i, f: $f, b: $b, d: $d, t: $t, l: $l}})
      RETURN valueType(n.s) AS s, valueType(n.i) AS i, valueType(n.f) AS f,
             valueType(n.b) AS b, valueType(n.d) AS d, valueType(n.t) AS t,
             valueType(n.l) AS l
    params: {{s: str, i: int, f: float, b: bool, d: date, t: datetime, l: "list[int]"}}
  - name: launch-ubam
    cypher: "CREATE (:Job {{kind: 'ubam', sample: $sample, group: $read_group}})"
    params: {{sample: str, read_group: str}}
    mode: write
  - name: sneaky-read
    cypher: "CREATE (:Job {{kind: $kind}})"
    params: {{kind: str}}
  - name: jobs
    cypher: "MATCH (j:Job) RETURN j.sample AS sample, j.group AS grp ORDER BY sample"
  - name: broken
    cypher: "MATCH (j:Job) RETURN j.sample AS sample ORDER BY"
  - name: login
    cypher: "RETURN $user AS user, size($token) AS n"
    params: {{user: str, token: str}}
"""


@pytest.fixture
def source(tmp_path: Path, neo4j_graph: Graph) -> Source:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(uri=neo4j_graph.uri))
    return Source(path)


@pytest.fixture
def tools(neo4j_graph: Graph) -> Tools:
    return Tools({"NEO4J_PASSWORD": neo4j_graph.password})


def graph_rows(graph: Graph, cypher: str) -> list[dict[str, object]]:
    with GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password)) as driver:
        records, _, _ = driver.execute_query(cypher)
        return [r.data() for r in records]


def test_parameters_reach_the_server_as_their_declared_types(tools: Tools,
                                                             source: Source) -> None:
    answer = tools.query(source, "typed", {"s": "x", "i": "42", "f": "2.5", "b": "true",
                                           "d": "2024-02-29", "t": "2024-02-29T10:30:00+01:00",
                                           "l": "1, 2,3"})
    assert answer.ok, answer.execution.error
    assert answer.rows == [{"s": "STRING NOT NULL", "i": "INTEGER NOT NULL",
                            "f": "FLOAT NOT NULL", "b": "BOOLEAN NOT NULL",
                            "d": "DATE NOT NULL", "t": "ZONED DATETIME NOT NULL",
                            "l": "LIST<INTEGER NOT NULL> NOT NULL"}]
    assert answer.execution.params["d"] == "2024-02-29"
    assert answer.execution.params["l"] == [1, 2, 3]


def test_a_value_of_the_wrong_type_is_refused_before_the_graph_is_asked(
        tools: Tools, source: Source, neo4j_graph: Graph) -> None:
    with pytest.raises(UsageError, match=r"-p i: expected int, got 'x'"):
        tools.query(source, "typed", {"s": "x", "i": "x", "f": "1", "b": "no",
                                      "d": "2024-01-01", "t": "2024-01-01T00:00", "l": ""})
    with pytest.raises(UsageError, match=r"parameter 'read_group' is needed"):
        tools.query(source, "launch-ubam", {"sample": "s1"})
    assert graph_rows(neo4j_graph, "MATCH (n) RETURN count(n) AS c") == [{"c": 0}]
    assert tools.query_stats(source)[0].count == 0  # refused: never executed


def test_an_injection_attempt_lands_only_as_a_parameter(tools: Tools, source: Source,
                                                         neo4j_graph: Graph) -> None:
    graph_rows(neo4j_graph, "CREATE (:Keep {n: 1}), (:Keep {n: 2})")
    hostile = "x'}) DETACH DELETE (n) //"
    answer = tools.query(source, "launch-ubam", {"sample": hostile, "read_group": "g' OR 1=1"})
    assert answer.ok, answer.execution.error
    assert graph_rows(neo4j_graph, "MATCH (k:Keep) RETURN count(k) AS c") == [{"c": 2}]
    assert tools.query(source, "jobs", {}).rows == [{"sample": hostile, "grp": "g' OR 1=1"}]


def test_a_read_query_runs_in_a_read_transaction(tools: Tools, source: Source,
                                                 neo4j_graph: Graph) -> None:
    refused = tools.query(source, "sneaky-read", {"kind": "x"})
    assert not refused.ok and refused.execution.rows is None
    assert "read" in (refused.execution.error or "").lower()
    assert graph_rows(neo4j_graph, "MATCH (j:Job) RETURN count(j) AS c") == [{"c": 0}]
    written = tools.query(source, "launch-ubam", {"sample": "s1", "read_group": "g1"})
    assert written.ok and written.execution.rows == 0
    assert graph_rows(neo4j_graph, "MATCH (j:Job) RETURN j.sample AS s") == [{"s": "s1"}]


def test_a_failing_query_is_recorded_with_the_servers_message(tools: Tools,
                                                              source: Source) -> None:
    answer = tools.query(source, "broken", {})
    assert not answer.ok and answer.rows == []
    assert "SyntaxError" in (answer.execution.error or "")
    [stats] = [s for s in tools.query_stats(source) if s.query == "broken"]
    assert (stats.count, stats.errors) == (1, 1)


def test_secret_parameters_are_masked_in_the_record(tools: Tools, source: Source) -> None:
    answer = tools.query(source, "login", {"user": "ann", "token": "tok-4b7f9e2a61"})
    assert answer.ok and answer.rows == [{"user": "ann", "n": 14}]
    assert answer.execution.params == {"user": "ann", "token": MASK}


def test_stats_count_every_execution_with_percentiles_and_errors(tools: Tools,
                                                                 source: Source) -> None:
    for sample in ("a", "b", "c", "d"):
        assert tools.query(source, "launch-ubam", {"sample": sample, "read_group": "g"}).ok
    for _ in range(3):
        assert tools.query(source, "jobs", {}).ok
    tools.query(source, "broken", {})
    stats = {s.query: s for s in tools.query_stats(source)}
    assert list(stats) == ["typed", "launch-ubam", "sneaky-read", "jobs", "broken", "login"]
    ubam = stats["launch-ubam"]
    assert (ubam.count, ubam.errors) == (4, 0)
    assert 0 < ubam.p50 <= ubam.p95 <= ubam.max
    assert (stats["jobs"].count, stats["broken"].errors, stats["typed"].count) == (3, 1, 0)
