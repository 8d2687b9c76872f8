"""Post-checks and complete_when against a real Neo4j: values, shapes, errors as messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orecart.graph.checks import Completion, complete, run_checks, same_value
from orecart.graph.connect import GraphConnection
from orecart.model import Check, Graph

pytestmark = pytest.mark.neo4j

HLA_COUNT = "MATCH (h:Hla) RETURN count(h)"


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        connection.write("UNWIND range(1, 3) AS i CREATE (:Hla {id: i})")
        yield connection


def test_passing_checks_give_no_messages(conn: GraphConnection) -> None:
    checks = [
        Check("hla-exists", "MATCH (h:Hla) RETURN count(h) > 0"),
        Check("hla-count", HLA_COUNT, expect=3),
        Check("hla-name", "RETURN 'ok' AS v", expect="ok"),
        Check("nothing", "MATCH (x:Nothing) RETURN count(x) = 0 AS empty"),
    ]
    assert run_checks(conn, checks) == []


def test_wrong_values_are_named(conn: GraphConnection) -> None:
    checks = [
        Check("hla-count", "MATCH (h:Nope) RETURN count(h)"),
        Check("hla-five", HLA_COUNT, expect=5),
        Check("no-genes", "MATCH (g:Gene) RETURN count(g) > 0"),
    ]
    assert run_checks(conn, checks) == [
        "check 'hla-count' failed: got 0, expected true",
        "check 'hla-five' failed: got 3, expected 5",
        "check 'no-genes' failed: got false, expected true",
    ]


def test_a_number_is_not_a_boolean(conn: GraphConnection) -> None:
    [message] = run_checks(conn, [Check("one", "RETURN 1")])
    assert message == "check 'one' failed: got 1, expected true"


def test_shape_and_query_errors_are_messages(conn: GraphConnection) -> None:
    checks = [
        Check("rows", "MATCH (h:Hla) RETURN h.id"),
        Check("none", "MATCH (h:Nope) RETURN h.id"),
        Check("columns", "RETURN 1 AS a, 2 AS b", expect=1),
        Check("syntax", "MATCH (h:Hla RETURN h"),
        Check("writes", "CREATE (x:Sneaky) RETURN true"),
    ]
    messages = run_checks(conn, checks)
    assert messages[0] == "check 'rows' failed: returned 3 rows, expected one row with one value"
    assert messages[1] == "check 'none' failed: returned no rows, expected one row with one value"
    assert messages[2].startswith("check 'columns' failed: returned one row with 2 values")
    assert messages[3].startswith("check 'syntax' failed: query error:")
    assert messages[4].startswith("check 'writes' failed: query error:")
    assert conn.read("MATCH (x:Sneaky) RETURN count(x) AS n") == [{"n": 0}]  # read-only


def test_complete_when(conn: GraphConnection) -> None:
    done = complete(conn, "MATCH (h:Hla) RETURN count(h) = 3")
    assert done and done == Completion(True)

    not_yet = complete(conn, "MATCH (h:Hla) RETURN count(h) > 10")
    assert not not_yet and not_yet.reason == "complete_when: got false, expected true"

    assert not complete(conn, "RETURN 1")
    assert not complete(conn, "MATCH (h:Hla) RETURN true")
    broken = complete(conn, "RETURN nope(")
    assert not broken and broken.reason.startswith("complete_when: query error:")


def test_same_value_keeps_booleans_apart() -> None:
    assert same_value(True, True) and same_value(3, 3) and same_value(3, 3.0)
    assert not same_value(1, True) and not same_value(True, 1) and not same_value(0, False)
