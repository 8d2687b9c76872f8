"""Nothing false is recorded: a runner that raises, a sink that raises, a retry count that
overflows a float. Every run ends with a terminal record that says what happened, in the
real state store, with every planned member closed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from orecart.events import Event, EventSink, Fanout, MemberFinished
from orecart.executors import OutputSink
from orecart.model import (
    LONGEST_BACKOFF,
    Graph,
    Member,
    MemberStatus,
    Pipeline,
    Result,
    Retry,
    Run,
    RunStatus,
    Task,
)
from orecart.planner import plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.runner.test_runner_logic import Events, MemoryLocks, ScriptedExecutor, m, ok

TERMINAL_ONLY = {s for s in MemberStatus if s.terminal}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def run_with(
    tmp_path: Path, store: SqlStore, members: list[Member], executor: ScriptedExecutor,
    *sinks: EventSink, **config: object,
) -> tuple[Run, Events]:
    pipeline = Pipeline("p", tmp_path / "p.yaml", tuple(members))
    events = Events()
    runner = Runner(
        plan(pipeline),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, MemoryLocks(), Fanout(Recorder(store), *sinks, events)),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01, **config),  # type: ignore[arg-type]
    )
    return runner.run(), events


def recorded(store: SqlStore) -> tuple[Run, dict[str, MemberStatus]]:
    return store.get_run("run1"), {mr.member: mr.status for mr in store.member_runs("run1")}


class RaisingExecutor(ScriptedExecutor):
    """Breaks the Executor contract (submit raises) for the members named ``broken``."""

    def __init__(self, broken: set[str], delay: float = 30) -> None:
        super().__init__(ok(delay))
        self.broken = broken

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        if task.member.name in self.broken:
            raise RuntimeError(f"executor bug on {task.member.name}")
        return super().submit(task, output)


def test_a_runner_that_raises_before_any_member_is_aborted_not_succeeded(
    tmp_path: Path, store: SqlStore
) -> None:
    # the filesystem refuses the member's artifacts folder (a name longer than NAME_MAX)
    long_name = "x" * 300
    members = [m(long_name), m("b", long_name)]
    run, _ = run_with(tmp_path, store, members, ScriptedExecutor(ok()))
    assert run.status is RunStatus.ABORTED
    assert run.error and "File name too long" in run.error
    stored, members = recorded(store)
    assert (stored.status, stored.error) == (RunStatus.ABORTED, run.error)
    assert members == {long_name: MemberStatus.CANCELLED, "b": MemberStatus.CANCELLED}


def test_an_internal_error_mid_run_aborts_running_members_and_cancels_the_rest(
    tmp_path: Path, store: SqlStore
) -> None:
    members = [m("slow"), m("broken"), m("after", "broken"), m("later")]
    executor = RaisingExecutor({"broken"})
    run, _ = run_with(tmp_path, store, members, executor, max_parallel=2)
    assert run.status is RunStatus.ABORTED
    assert run.error and "executor bug on broken" in run.error
    stored, statuses = recorded(store)
    assert stored.status is RunStatus.ABORTED and stored.error == run.error
    assert statuses == {
        "slow": MemberStatus.ABORTED,  # it was stopped, not left running
        "broken": MemberStatus.ABORTED,  # its start was recorded
        "after": MemberStatus.CANCELLED,
        "later": MemberStatus.CANCELLED,
    }
    assert executor.running == 0 and "later" not in executor.started


class BrokenSink:
    """A sink that raises on the MemberFinished of one member (a full disk, a bug)."""

    def __init__(self, member: str) -> None:
        self.member = member

    def emit(self, event: Event) -> None:
        if isinstance(event, MemberFinished) and event.member_run.member == self.member:
            raise OSError(28, "No space left on device")


def test_a_sink_that_raises_ends_the_run_aborted_with_its_error(
    tmp_path: Path, store: SqlStore
) -> None:
    def behaviour(task: Task) -> tuple[MemberStatus, float]:
        return MemberStatus.SUCCEEDED, 0.01 if task.member.name == "fast" else 30

    members = [m("fast"), m("slow"), m("after", "fast")]
    run, events = run_with(
        tmp_path, store, members, ScriptedExecutor(behaviour), BrokenSink("fast"),
        max_parallel=2,
    )
    assert run.status is RunStatus.ABORTED
    assert run.error and "member_finished" in run.error and "No space left" in run.error
    stored, statuses = recorded(store)
    assert stored.status is RunStatus.ABORTED and stored.error == run.error
    # every sink got each event (the recorder before the broken one, the display after)
    assert statuses["fast"] is MemberStatus.SUCCEEDED
    assert events.finished()["fast"] is MemberStatus.SUCCEEDED
    assert statuses["slow"] is MemberStatus.ABORTED
    assert statuses["after"] is MemberStatus.CANCELLED


def test_1100_retries_of_a_failing_member_end_failed_with_nothing_running(
    tmp_path: Path, store: SqlStore
) -> None:
    retry = Retry(retries=1100, backoff=0.0001, factor=2.0, max_backoff=0.0001)
    executor = ScriptedExecutor(lambda task: (MemberStatus.FAILED, 0))
    run, _ = run_with(tmp_path, store, [m("a", retry=retry), m("b", "a")], executor)
    assert run.status is RunStatus.FAILED and run.error is None
    assert len(executor.started) == 1101
    stored, statuses = recorded(store)
    assert stored.status is RunStatus.FAILED
    assert statuses == {"a": MemberStatus.FAILED, "b": MemberStatus.CANCELLED}
    assert len(store.attempts("run1", "a")) == 1101


@pytest.mark.parametrize(
    ("retry", "attempt", "expected"),
    [
        (Retry(retries=2000, backoff=1, factor=2, max_backoff=300), 1500, 300.0),
        (Retry(backoff=1e308, factor=1e308, max_backoff=math.inf), 5, LONGEST_BACKOFF),
        (Retry(backoff=1, factor=2, max_backoff=math.nan), 3, 2.0),
        (Retry(backoff=0, factor=2), 1500, 0.0),
        (Retry(backoff=math.nan, factor=2), 3, 0.0),
        (Retry(backoff=1, factor=-2), 3, 0.0),
        (Retry(backoff=0.1, factor=2), 3, 0.2),
    ],
)
def test_a_retry_delay_is_always_a_finite_wait(retry: Retry, attempt: int, expected: float) -> None:
    assert retry.delay(attempt) == expected


def test_an_internal_error_never_records_a_secret_the_pipeline_holds(
    tmp_path: Path, store: SqlStore
) -> None:
    """The graph password from NEO4J_PASSWORD (or --graph) is set after the file was read;
    the runner masked only the secrets the file's expansion had found."""
    graph = Graph("bolt://db:7687", password="graph-pw-from-env")
    member = replace(m("a"), env={"DB_PASSWORD": "literal-pw-1"})
    pipeline = Pipeline("p", tmp_path / "p.yaml", (member,), graph=graph)

    class Leaky(ScriptedExecutor):
        def submit(self, task: Task, output: OutputSink) -> Future[Result]:
            raise RuntimeError("connect as neo4j/graph-pw-from-env with literal-pw-1 failed")

    runner = Runner(
        plan(pipeline), Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": Leaky(ok())}, MemoryLocks(), Recorder(store)),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    run = runner.run()
    stored, _ = recorded(store)
    assert run.status is RunStatus.ABORTED and stored.error == run.error
    assert run.error and "connect as neo4j/*** with *** failed" in run.error
