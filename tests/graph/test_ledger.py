"""The graph ledger against a real Neo4j: latest success per member, wiped graph is empty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orecart.graph.backup import backup, restore
from orecart.graph.connect import GraphConnection
from orecart.graph.ledger import GraphLedger
from orecart.graph.runlog import GraphRunLog, ensure_schema
from orecart.model import Graph, Member, MemberRun, MemberStatus, Pipeline

pytestmark = pytest.mark.neo4j

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        yield connection


def pipeline(name: str = "covid") -> Pipeline:
    members = tuple(Member(name=n, run=("true",)) for n in ("users", "pubmed", "genes"))
    return Pipeline(name=name, source=Path("/p/pipeline.yaml"), members=members)


def member_run(run_id: str, member: str, status: MemberStatus, minutes: int) -> MemberRun:
    return MemberRun(
        run_id=run_id,
        member=member,
        status=status,
        attempts=1,
        exit_code=0 if status is MemberStatus.SUCCEEDED else 1,
        fingerprint=f"fp-{member}-{run_id}",
        image=f"loaders/{member}:1",
        digest=f"sha256:{member}{run_id}",
        started_at=T0 + timedelta(minutes=minutes - 1),
        finished_at=T0 + timedelta(minutes=minutes),
        delta={"nodes": {"X": minutes}, "relationships": {}, "added": {}, "removed": {}},
    )


def record(conn: GraphConnection, *runs: MemberRun, pipeline_name: str = "covid") -> None:
    log = GraphRunLog(conn, pipeline(pipeline_name))
    for mr in runs:
        log.record_member_run(mr)


def test_new_graph_has_no_successes(conn: GraphConnection) -> None:
    assert GraphLedger(conn).successes("covid") == {}


def test_latest_success_per_member(conn: GraphConnection) -> None:
    ensure_schema(conn)
    record(
        conn,
        member_run("run-2", "users", MemberStatus.SUCCEEDED, 20),
        member_run("run-1", "users", MemberStatus.SUCCEEDED, 10),
        member_run("run-3", "users", MemberStatus.SKIPPED, 30),  # did not run: no change
        member_run("run-1", "pubmed", MemberStatus.SUCCEEDED, 11),
        member_run("run-3", "genes", MemberStatus.SKIPPED, 31),
    )
    record(conn, member_run("other-1", "genes", MemberStatus.SUCCEEDED, 5), pipeline_name="x")

    successes = GraphLedger(conn).successes("covid")

    assert set(successes) == {"users", "pubmed"}
    users = successes["users"]
    assert users == member_run("run-2", "users", MemberStatus.SUCCEEDED, 20)
    assert users.finished_at is not None and users.finished_at.tzinfo is not None
    assert successes["pubmed"].run_id == "run-1"
    assert set(GraphLedger(conn).successes("x")) == {"genes"}


@pytest.mark.parametrize("status", ["failed", "errored", "aborted", "running"])
def test_a_later_run_without_success_undoes_the_success(
    conn: GraphConnection, status: str
) -> None:
    ensure_schema(conn)
    record(
        conn,
        member_run("run-1", "users", MemberStatus.SUCCEEDED, 10),
        member_run("run-2", "users", MemberStatus(status), 20),
    )
    assert GraphLedger(conn).successes("covid") == {}  # it may have undone what it made


def test_times_come_back_in_utc(conn: GraphConnection) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = MemberRun(
        run_id="run-1",
        member="users",
        status=MemberStatus.SUCCEEDED,
        started_at=datetime(2026, 3, 1, 14, 0, tzinfo=plus_two),
        finished_at=datetime(2026, 3, 1, 14, 5, tzinfo=plus_two),
    )
    record(conn, local)
    got = GraphLedger(conn).successes("covid")["users"]
    assert got.started_at == T0 and got.started_at.utcoffset() == timedelta(0)
    assert got.finished_at == T0 + timedelta(minutes=5)


def test_a_success_without_finish_time_loses_to_one_with(conn: GraphConnection) -> None:
    undated = MemberRun(run_id="run-9", member="users", status=MemberStatus.SUCCEEDED)
    record(conn, undated, member_run("run-1", "users", MemberStatus.SUCCEEDED, 10))
    assert GraphLedger(conn).successes("covid")["users"].run_id == "run-1"


def test_wiped_graph_means_rerun_everything(conn: GraphConnection) -> None:
    ensure_schema(conn)
    record(conn, member_run("run-1", "users", MemberStatus.SUCCEEDED, 10))
    assert set(GraphLedger(conn).successes("covid")) == {"users"}

    conn.write("MATCH (n) DETACH DELETE n")

    assert GraphLedger(conn).successes("covid") == {}


def test_restored_graph_holds_its_own_ledger(conn: GraphConnection, tmp_path: Path) -> None:
    ensure_schema(conn)
    record(conn, member_run("run-1", "users", MemberStatus.SUCCEEDED, 10))
    saved = tmp_path / "graph.backup"
    backup(conn, saved)
    record(conn, member_run("run-2", "pubmed", MemberStatus.SUCCEEDED, 20))
    assert set(GraphLedger(conn).successes("covid")) == {"users", "pubmed"}

    restore(conn, saved, force=True)

    restored = GraphLedger(conn).successes("covid")
    assert set(restored) == {"users"}
    assert restored["users"] == member_run("run-1", "users", MemberStatus.SUCCEEDED, 10)
