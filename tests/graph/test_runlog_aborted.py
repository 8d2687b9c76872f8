"""A run whose runner raised before any member had a status is ``aborted`` in the graph's
``:_PipelineLogRun`` too, with its error, never ``succeeded`` with no members."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orecart.events import Fanout
from orecart.graph.connect import GraphConnection
from orecart.graph.runlog import NODE_LABEL, RUN_LABEL, GraphRunLog, ensure_schema
from orecart.model import Graph, Member, Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.runner import Backends, RunConfig, Runner
from tests.runner.test_runner_logic import MemoryLocks, ScriptedExecutor, ok

pytestmark = pytest.mark.neo4j


@pytest.fixture
def conn(neo4j_graph: Graph) -> Iterator[GraphConnection]:
    with GraphConnection.open(neo4j_graph, wait=30) as connection:
        ensure_schema(connection)
        yield connection


def test_a_runner_that_raises_first_is_aborted_in_the_graph(
    conn: GraphConnection, tmp_path: Path
) -> None:
    long_name = "m" * 300  # the filesystem refuses its artifacts folder
    pipeline = Pipeline("abort-graph", tmp_path / "p.yaml", (Member(long_name, run=("true",)),))
    errors: list[Exception] = []
    runner = Runner(
        plan(pipeline),
        Run("run-abort-graph", pipeline.name, RunStatus.QUEUED),
        Backends({"run": ScriptedExecutor(ok())}, MemoryLocks(),
                 Fanout(GraphRunLog(conn, pipeline, on_error=errors.append))),
        RunConfig(runs_dir=tmp_path / "runs"),
    )
    assert runner.run().status is RunStatus.ABORTED
    [node] = conn.read(f"MATCH (r:`{RUN_LABEL}` {{id: $id}}) RETURN r.status AS status, "
                       "r.error AS error", id="run-abort-graph")
    assert node["status"] == "aborted" and "File name too long" in node["error"]
    members = conn.read(f"MATCH (:`{RUN_LABEL}` {{id: $id}})-->(n:`{NODE_LABEL}`) "
                        "RETURN n.status AS status", id="run-abort-graph")
    assert [m["status"] for m in members] == ["cancelled"]
    assert errors == []
