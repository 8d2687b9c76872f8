"""The graph guard against a real Neo4j: snapshots of writing members, post-checks, failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orecart.graph.connect import GraphConnection
from orecart.graph.guard import GraphGuard, SnapshotFailed, writes_graph
from orecart.graph.snapshot import Snapshot
from orecart.model import Check, Graph, Member, MemberStatus, Pipeline, Result
from tests.fixtures import make_task

pytestmark = pytest.mark.neo4j

OK = Result(status=MemberStatus.SUCCEEDED, exit_code=0)
FAILED = Result(status=MemberStatus.FAILED, exit_code=1, error="exit code 1")
LOAD = "UNWIND ['g1', 'g2'] AS id CREATE (:Gene {id: id})-[:IN]->(:Cell)"
GENES_LOADED = Check("genes", "MATCH (g:Gene) RETURN count(g) > 0")
TOO_MANY = Check("gene-count", "MATCH (g:Gene) RETURN count(g)", expect=100)


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        yield connection


def guard(conn: GraphConnection, *members: Member) -> GraphGuard:
    pipeline = Pipeline(name="test", source=Path("/p.yaml"), members=members, keys={"Gene": "id"})
    return GraphGuard(conn, pipeline)


def member(name: str = "genes", **fields: Any) -> Member:
    return Member(name=name, run=("true",), **fields)


def attempt(g: GraphGuard, conn: GraphConnection, m: Member, tmp: Path, result: Result) -> Result:
    """What the runner does: before, the loader writes, after."""
    task = make_task(tmp, m)
    token = g.before(task)
    conn.write(LOAD)
    return g.after(task, token, result)


def test_non_writing_member_takes_no_snapshot(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(pool="cpu")
    g = guard(conn, m)
    assert not writes_graph(m)
    assert g.before(make_task(tmp_path, m)) is None
    assert attempt(g, conn, m, tmp_path, OK) == OK


def test_writing_member_gets_its_delta(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(pool="neo4j-write", checks=(GENES_LOADED,))
    g = guard(conn, m)
    assert isinstance(g.before(make_task(tmp_path, m)), Snapshot)

    result = attempt(g, conn, m, tmp_path, OK)

    assert result.status is MemberStatus.SUCCEEDED and result.error is None
    assert result.delta == {
        "nodes": {"Cell": 2, "Gene": 2},
        "relationships": {"IN": 2},
        "added": {"Gene": ["g1", "g2"]},
        "removed": {},
    }


def test_snapshot_flag_makes_a_member_writing(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(snapshot=True)
    assert writes_graph(m)
    result = attempt(guard(conn, m), conn, m, tmp_path, OK)
    assert result.delta is not None and result.delta["nodes"]["Gene"] == 2


def test_failing_check_turns_success_into_failure(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(pool="neo4j-write", checks=(GENES_LOADED, TOO_MANY))
    result = attempt(guard(conn, m), conn, m, tmp_path, OK)
    assert result.status is MemberStatus.FAILED
    assert result.error == "check 'gene-count' failed: got 2, expected 100"
    assert result.exit_code == 0
    assert result.delta is not None and result.delta["nodes"]["Gene"] == 2


def test_each_post_check_is_kept_passed_or_not_with_secrets_redacted(
    conn: GraphConnection, tmp_path: Path
) -> None:
    leaky = Check("leaky", "RETURN 'tok-' + 'en-4711'", expect="other")
    m = member(checks=(GENES_LOADED, leaky))
    g = guard(conn, m)
    task = make_task(tmp_path, m, secrets=frozenset({"tok-en-4711"}))
    token = g.before(task)
    conn.write(LOAD)
    result = g.after(task, token, OK)
    assert [(c.name, c.passed, c.member) for c in result.checks] == [
        ("genes", True, "genes"), ("leaky", False, "genes")]
    assert "tok-en-4711" not in result.checks[1].message
    assert result.error == result.checks[1].message  # the failure the member run records


def test_checks_do_not_run_on_failure(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(pool="neo4j-write", checks=(TOO_MANY,))
    result = attempt(guard(conn, m), conn, m, tmp_path, FAILED)
    assert replace(result, delta=None) == FAILED  # its own error kept
    assert result.delta is not None and result.delta["added"] == {"Gene": ["g1", "g2"]}


def test_checks_run_for_non_writing_members(conn: GraphConnection, tmp_path: Path) -> None:
    m = member(checks=(TOO_MANY,))
    result = attempt(guard(conn, m), conn, m, tmp_path, OK)
    assert result.status is MemberStatus.FAILED and result.delta is None


def test_unreachable_graph_is_not_success(neo4j_graph: Graph, tmp_path: Path) -> None:
    m = member(pool="neo4j-write", checks=(GENES_LOADED,))
    conn = GraphConnection.open(neo4j_graph, wait=30)
    g = guard(conn, m)
    task = make_task(tmp_path, m)
    token = g.before(task)
    conn.close()  # the graph goes away while the member runs

    result = g.after(task, token, OK)

    assert result.status is MemberStatus.FAILED and result.delta is None
    assert result.error is not None
    assert "check 'genes' failed: query error" in result.error
    assert "graph snapshot after the member ran failed" in result.error

    failed_before = g.before(task)
    assert isinstance(failed_before, SnapshotFailed)
    assert g.after(task, failed_before, FAILED) == FAILED
