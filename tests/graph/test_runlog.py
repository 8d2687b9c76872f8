"""The graph run log against a real Neo4j: log nodes, links, idempotence, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orecart.errors import GraphError
from orecart.events import Event, MemberFinished, RunFinished, RunStarted
from orecart.graph.connect import GraphConnection
from orecart.graph.runlog import GraphRunLog, ensure_schema, image_tag
from orecart.model import Graph, Member, MemberRun, MemberStatus, Pipeline, Run, RunStatus
from orecart.secrets import Redactor, secret_values

pytestmark = pytest.mark.neo4j

SECRET = "s3cret-Value-42"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        ensure_schema(connection)
        yield connection


def pipeline() -> Pipeline:
    return Pipeline(
        name="covid",
        source=Path("/p/pipeline.yaml"),
        members=(
            Member(name="users", run=("true",), env={"API_TOKEN": SECRET}),
            Member(name="pubmed", run=("false",)),
            Member(name="genes", run=("true",)),
        ),
        env={"LOG_LEVEL": "info"},
    )


def run(status: RunStatus = RunStatus.RUNNING, finished: datetime | None = None) -> Run:
    return Run(
        id="run-1",
        pipeline="covid",
        status=status,
        params={"release": "2026-03"},
        profile="prod",
        started_at=T0,
        finished_at=finished,
        host="box",
        version="9.9.9",
    )


def member_runs() -> list[MemberRun]:
    # The runner redacts before it emits; build the error the way it does.
    redact = Redactor(secret_values({"API_TOKEN": SECRET}))
    return [
        MemberRun(
            run_id="run-1",
            member="users",
            status=MemberStatus.SUCCEEDED,
            attempts=1,
            exit_code=0,
            fingerprint="fp-users",
            image="registry.example.org/loaders/users:1.2",
            digest="sha256:abc",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=5),
            delta={"nodes": {"User": 3}, "relationships": {}, "added": {}, "removed": {}},
        ),
        MemberRun(
            run_id="run-1",
            member="pubmed",
            status=MemberStatus.FAILED,
            attempts=2,
            exit_code=1,
            error=redact(f"login with {SECRET} refused"),
            started_at=T0 + timedelta(seconds=5),
            finished_at=T0 + timedelta(seconds=9),
        ),
        MemberRun(
            run_id="run-1",
            member="genes",
            status=MemberStatus.SKIPPED,
            reason="the ledger holds a success for this fingerprint",
        ),
    ]


def events() -> list[Event]:
    finished = run(RunStatus.FAILED, T0 + timedelta(seconds=10))
    return [
        RunStarted(run()),
        *(MemberFinished(mr) for mr in member_runs()),
        RunFinished(finished),
    ]


def log_nodes(conn: GraphConnection) -> dict[str, dict[str, Any]]:
    rows = conn.read(
        "MATCH (r:_PipelineLogRun)-[:_HAS_MEMBER_RUN]->(n:_PipelineLogNode) "
        "RETURN r.id AS run, properties(n) AS node"
    )
    return {row["node"]["member"]: {**row["node"], "_run": row["run"]} for row in rows}


def counts(conn: GraphConnection) -> tuple[int, int, int]:
    rows = conn.read(
        "CALL () { MATCH (r:_PipelineLogRun) RETURN count(r) AS runs } "
        "CALL () { MATCH (n:_PipelineLogNode) RETURN count(n) AS nodes } "
        "CALL () { MATCH ()-[l:_HAS_MEMBER_RUN]->() RETURN count(l) AS links } "
        "RETURN runs, nodes, links"
    )
    return rows[0]["runs"], rows[0]["nodes"], rows[0]["links"]


def test_run_and_member_runs_become_linked_log_nodes(conn: GraphConnection) -> None:
    log = GraphRunLog(conn, pipeline())
    for event in events():
        log.emit(event)

    assert log.failures == []
    assert counts(conn) == (1, 3, 3)
    [run_node] = conn.read("MATCH (r:_PipelineLogRun) RETURN properties(r) AS r")
    props = run_node["r"]
    assert props["id"] == "run-1" and props["pipeline"] == "covid"
    assert props["status"] == "failed" and props["profile"] == "prod"
    assert json.loads(props["params"]) == {"release": "2026-03"}
    assert props["orecart_version"] == "9.9.9" and props["host"] == "box"
    assert props["finished_at"].to_native() == T0 + timedelta(seconds=10)

    nodes = log_nodes(conn)
    assert {m: n["status"] for m, n in nodes.items()} == {
        "users": "succeeded",
        "pubmed": "failed",
        "genes": "skipped",
    }
    users = nodes["users"]
    assert users["_run"] == "run-1" and users["pipeline"] == "covid"
    assert users["tag"] == "1.2" and users["digest"] == "sha256:abc"
    assert users["exit_code"] == 0 and users["duration"] == 5.0
    assert json.loads(users["delta"])["nodes"] == {"User": 3}
    assert nodes["pubmed"]["attempts"] == 2 and nodes["pubmed"]["exit_code"] == 1
    assert "started_at" not in nodes["genes"]  # None is not stored
    assert nodes["genes"]["reason"].startswith("the ledger holds")


def test_times_are_stored_as_zoned_datetimes(conn: GraphConnection) -> None:
    log = GraphRunLog(conn, pipeline())
    log.emit(MemberFinished(member_runs()[0]))
    rows = conn.read(
        "MATCH (n:_PipelineLogNode) RETURN valueType(n.started_at) AS t, "
        "n.finished_at > n.started_at AS ordered"
    )
    assert rows == [{"t": "ZONED DATETIME NOT NULL", "ordered": True}]


def test_emitting_again_changes_nothing(conn: GraphConnection) -> None:
    log = GraphRunLog(conn, pipeline())
    for _ in range(2):
        for event in events():
            log.emit(event)
    assert counts(conn) == (1, 3, 3)


def test_a_member_run_without_its_run_started_is_still_linked(conn: GraphConnection) -> None:
    GraphRunLog(conn, pipeline()).emit(MemberFinished(member_runs()[1]))
    assert counts(conn) == (1, 1, 1)
    assert log_nodes(conn)["pubmed"]["_run"] == "run-1"


def test_no_secret_reaches_the_graph(conn: GraphConnection) -> None:
    log = GraphRunLog(conn, pipeline())
    for event in events():
        log.emit(event)
    # Defence in depth: a value the pipeline knows as secret is masked even if an event
    # slipped through unredacted.
    leaked = MemberRun(
        run_id="run-2", member="users", status=MemberStatus.FAILED, error=f"token={SECRET}"
    )
    log.emit(MemberFinished(leaked))

    rows = conn.read(
        "MATCH (n) RETURN properties(n) AS p UNION ALL MATCH ()-[r]->() RETURN properties(r) AS p"
    )
    text = json.dumps([row["p"] for row in rows], default=str)
    assert SECRET not in text
    assert "login with *** refused" in text and "token=***" in text


def test_write_failure_is_reported_not_raised(neo4j_graph: Graph) -> None:
    seen: list[GraphError] = []
    conn = GraphConnection.open(neo4j_graph, wait=30)
    log = GraphRunLog(conn, pipeline(), on_error=seen.append)
    conn.close()

    log.emit(RunStarted(run()))  # must not raise

    assert len(log.failures) == 1 and seen == log.failures
    with pytest.raises(GraphError):
        log.record_run(run())


def test_schema_is_idempotent(conn: GraphConnection) -> None:
    ensure_schema(conn)
    ensure_schema(conn)
    names = {row["name"] for row in conn.read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"orecart_log_run_id", "orecart_log_member_run"} <= names


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("busybox", "latest"),
        ("registry:5000/a/b:1.0", "1.0"),
        ("registry:5000/a/b", "latest"),
        ("a/b@sha256:0123", None),
        ("a/b:2@sha256:0123", "2"),
        (None, None),
    ],
)
def test_image_tag(image: str | None, tag: str | None) -> None:
    assert image_tag(image) == tag
