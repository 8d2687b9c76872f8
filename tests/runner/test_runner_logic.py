"""The runner's own logic with a scripted in-memory executor (no processes here; the
integration tests in this folder drive the real local executor and state store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from orecart.events import Event, MemberFinished, MemberRetrying, MemberStarted
from orecart.executors import OutputSink
from orecart.model import Member, MemberStatus, Pipeline, Result, Retry, Run, RunStatus, Task
from orecart.planner import Selection, plan
from orecart.runner import Backends, RunConfig, Runner
from orecart.stores import Holder

Behaviour = Callable[[Task], tuple[MemberStatus, float]]


class ScriptedExecutor:
    """Completes each attempt after a delay with a status chosen by the test."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.running = 0
        self.peak = 0
        self.started: list[str] = []
        self.lock = threading.Lock()
        self.timers: list[tuple[threading.Timer, Future[Result]]] = []

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        status, delay = self.behaviour(task)
        future: Future[Result] = Future()
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.started.append(task.member.name)

        def finish(final: MemberStatus = status) -> None:
            with self.lock:
                if future.done():
                    return
                self.running -= 1
                future.set_result(
                    Result(
                        final,
                        0 if final is MemberStatus.SUCCEEDED else 1,
                        finished_at=datetime.now(UTC),
                    )
                )

        timer = threading.Timer(delay, finish)
        self.timers.append((timer, future))
        timer.start()
        return future

    def resolve(self, member: Member) -> str | None:
        return None

    def abort(self, run_id: str | None = None) -> None:
        for timer, future in self.timers:
            timer.cancel()
            with self.lock:
                if not future.done():
                    self.running -= 1
                    future.set_result(Result(MemberStatus.ABORTED, error="aborted"))

    def close(self) -> None:
        pass


class MemoryLocks:
    def __init__(self) -> None:
        self.leases: dict[str, set[str]] = {}
        self.peak: dict[str, int] = {}

    def lock(self, pipeline: str, holder: Holder) -> None:
        pass

    def unlock(self, pipeline: str, holder: Holder) -> None:
        pass

    def lease(self, pool: str, limit: int, holder: Holder) -> bool:
        held = self.leases.setdefault(pool, set())
        if len(held) >= limit:
            return False
        held.add(holder.member)
        self.peak[pool] = max(self.peak.get(pool, 0), len(held))
        return True

    def release(self, pool: str, holder: Holder) -> None:
        self.leases[pool].discard(holder.member)

    def released(self) -> Future[None]:
        return Future()  # one runner, no other process: its own releases need no wake


class Events:
    def __init__(self) -> None:
        self.items: list[Event] = []

    def emit(self, event: Event) -> None:
        self.items.append(event)

    def finished(self) -> dict[str, MemberStatus]:
        return {
            e.member_run.member: e.member_run.status
            for e in self.items
            if isinstance(e, MemberFinished)
        }


def m(name: str, *needs: str, **fields: object) -> Member:
    return Member(name, run=("true",), needs=needs, **fields)  # type: ignore[arg-type]


def drive(
    tmp_path: Path,
    members: list[Member],
    behaviour: Behaviour,
    pools: dict | None = None,
    **config: object,
) -> tuple[Run, Events, ScriptedExecutor, MemoryLocks, Runner]:
    pipeline = Pipeline("p", tmp_path / "p.yaml", tuple(members), pools=pools or {})
    executor, locks, events = ScriptedExecutor(behaviour), MemoryLocks(), Events()
    runner = Runner(
        plan(pipeline, Selection()),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, locks, events),
        RunConfig(runs_dir=tmp_path / "runs", **config),  # type: ignore[arg-type]
    )
    return runner.run(), events, executor, locks, runner


def ok(delay: float = 0.05) -> Behaviour:
    return lambda task: (MemberStatus.SUCCEEDED, delay)


def test_max_parallel_is_respected_and_all_succeed(tmp_path: Path) -> None:
    members = [m(f"m{i}") for i in range(8)]
    run, events, executor, _, _ = drive(tmp_path, members, ok(), max_parallel=3)
    assert run.status is RunStatus.SUCCEEDED
    assert executor.peak == 3
    assert set(events.finished().values()) == {MemberStatus.SUCCEEDED}


def test_failure_cancels_dependents_but_not_independent_members(tmp_path: Path) -> None:
    def behaviour(task: Task) -> tuple[MemberStatus, float]:
        bad = task.member.name == "a"
        return (MemberStatus.FAILED if bad else MemberStatus.SUCCEEDED), 0.05

    members = [m("a"), m("b", "a"), m("c", "b"), m("x"), m("y", "x")]
    run, events, executor, _, _ = drive(tmp_path, members, behaviour, max_parallel=4)
    assert run.status is RunStatus.FAILED
    assert events.finished() == {
        "a": MemberStatus.FAILED,
        "b": MemberStatus.CANCELLED,
        "c": MemberStatus.CANCELLED,
        "x": MemberStatus.SUCCEEDED,
        "y": MemberStatus.SUCCEEDED,
    }
    assert "b" not in executor.started
    cancelled = [
        e.member_run
        for e in events.items
        if isinstance(e, MemberFinished) and e.member_run.member == "b"
    ][0]
    assert cancelled.error == "needs a, which failed"


def test_retries_with_backoff_until_success(tmp_path: Path) -> None:
    tries: dict[str, int] = {}

    def flaky(task: Task) -> tuple[MemberStatus, float]:
        tries[task.member.name] = task.attempt
        return (MemberStatus.SUCCEEDED if task.attempt == 3 else MemberStatus.FAILED), 0.01

    started = time.monotonic()
    run, events, _, _, _ = drive(
        tmp_path, [m("a", retry=Retry(retries=2, backoff=0.1, factor=2))], flaky
    )
    assert run.status is RunStatus.SUCCEEDED
    assert tries == {"a": 3}
    assert time.monotonic() - started >= 0.3  # 0.1 + 0.2 of backoff
    delays = [e.delay for e in events.items if isinstance(e, MemberRetrying)]
    assert delays == [0.1, 0.2]


def test_retries_run_out(tmp_path: Path) -> None:
    run, events, executor, _, _ = drive(
        tmp_path,
        [m("a", retry=Retry(retries=1, backoff=0.01))],
        lambda t: (MemberStatus.ERRORED, 0.01),
    )
    assert events.finished() == {"a": MemberStatus.ERRORED}
    assert executor.started == ["a", "a"]


def test_fail_fast_starts_nothing_new(tmp_path: Path) -> None:
    def behaviour(task: Task) -> tuple[MemberStatus, float]:
        if task.member.name == "bad":
            return MemberStatus.FAILED, 0.01
        return MemberStatus.SUCCEEDED, 0.3

    members = [m("bad"), m("slow"), m("later1"), m("later2")]
    run, events, executor, _, _ = drive(
        tmp_path, members, behaviour, max_parallel=2, fail_fast=True
    )
    assert events.finished()["slow"] is MemberStatus.SUCCEEDED  # running work finishes
    assert events.finished()["later1"] is MemberStatus.CANCELLED
    assert "later1" not in executor.started


def test_pool_limits_concurrency(tmp_path: Path) -> None:
    members = [m(f"w{i}", pool="neo4j-write") for i in range(4)] + [m("free")]
    run, _, executor, locks, _ = drive(
        tmp_path, members, ok(0.05), pools={"neo4j-write": 1}, max_parallel=4, poll=0.01
    )
    assert run.status is RunStatus.SUCCEEDED
    assert locks.peak["neo4j-write"] == 1
    assert locks.leases["neo4j-write"] == set()


def test_interrupt_aborts_running_and_cancels_the_rest(tmp_path: Path) -> None:
    pipeline = Pipeline("p", tmp_path / "p.yaml", (m("a"), m("b", "a"), m("c")))
    executor, events = ScriptedExecutor(ok(30)), Events()
    runner = Runner(
        plan(pipeline),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, MemoryLocks(), events),
        RunConfig(runs_dir=tmp_path / "runs", max_parallel=4),
    )
    threading.Timer(0.2, runner.interrupt).start()
    started = time.monotonic()
    run = runner.run()
    assert time.monotonic() - started < 5
    assert run.status is RunStatus.ABORTED
    assert events.finished() == {
        "a": MemberStatus.ABORTED,
        "c": MemberStatus.ABORTED,
        "b": MemberStatus.CANCELLED,
    }


def test_fail_fast_cancels_a_pending_chain_without_an_internal_error(tmp_path: Path) -> None:
    """Cancelling a (pending) cancels b, which needs it; the next cancel must not trip
    over b, which is no longer pending (it did: KeyError, the run aborted)."""

    def behaviour(task: Task) -> tuple[MemberStatus, float]:
        return (MemberStatus.FAILED if task.member.name == "bad" else MemberStatus.SUCCEEDED), 0.01

    members = [m("bad"), m("a"), m("b", "a")]
    run, events, executor, _, _ = drive(
        tmp_path, members, behaviour, max_parallel=1, fail_fast=True
    )
    assert (run.status, run.error) == (RunStatus.FAILED, None)
    assert events.finished() == {
        "bad": MemberStatus.FAILED,
        "a": MemberStatus.CANCELLED,
        "b": MemberStatus.CANCELLED,
    }


def test_started_events_carry_the_running_record(tmp_path: Path) -> None:
    _, events, _, _, _ = drive(tmp_path, [m("a")], ok())
    started = [e for e in events.items if isinstance(e, MemberStarted)]
    assert started[0].member_run.status is MemberStatus.RUNNING
    assert started[0].member_run.log_path and started[0].member_run.log_path.endswith("a.log")


def test_long_chains_run_and_cancel_without_rescanning_or_recursion(tmp_path: Path) -> None:
    chain = [m("c0")] + [m(f"c{i}", f"c{i - 1}") for i in range(1, 3000)]
    started = time.monotonic()
    run, events, _, _, _ = drive(tmp_path, chain, ok(0), max_parallel=2)
    assert run.status is RunStatus.SUCCEEDED
    assert len(events.finished()) == 3000
    assert time.monotonic() - started < 60

    def head_fails(task: Task) -> tuple[MemberStatus, float]:
        return (MemberStatus.FAILED if task.member.name == "c0" else MemberStatus.SUCCEEDED), 0

    run, events, executor, _, _ = drive(tmp_path, chain, head_fails)
    assert executor.started == ["c0"]
    statuses = events.finished()
    assert statuses["c2999"] is MemberStatus.CANCELLED
    assert sum(s is MemberStatus.CANCELLED for s in statuses.values()) == 2999


class PreparingExecutor(ScriptedExecutor):
    """Also records what the runner asks it to prepare, and with which task."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(behaviour)
        self.prepared: dict[str, Task] = {}
        self.submitted: dict[str, Task] = {}
        self.discarded: list[Task] = []

    def prepare(self, task: Task) -> None:
        self.prepared[task.member.name] = task

    def discard(self, task: Task) -> None:
        self.discarded.append(task)

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        self.submitted.setdefault(task.member.name, task)
        return super().submit(task, output)


def drive_preparing(
    tmp_path: Path, members: list[Member], behaviour: Behaviour, max_parallel: int
) -> tuple[Events, PreparingExecutor]:
    pipeline = Pipeline("p", tmp_path / "p.yaml", tuple(members))
    executor, events = PreparingExecutor(behaviour), Events()
    Runner(
        plan(pipeline, Selection()),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, MemoryLocks(), events),
        RunConfig(runs_dir=tmp_path / "runs", max_parallel=max_parallel),
    ).run()
    return events, executor


def test_next_members_are_prepared_and_started_with_the_prepared_task(tmp_path: Path) -> None:
    members = [m("a"), m("b", "a"), m("c", "b"), m("x"), m("y")]
    events, executor = drive_preparing(tmp_path, members, ok(0.1), max_parallel=1)
    assert set(events.finished().values()) == {MemberStatus.SUCCEEDED}
    # a runs first; b (needs only a, running) and the ready x, y waiting for the one slot
    # are prepared ahead; each starts with the very task prepared for it
    assert {"b", "x"} <= set(executor.prepared)
    for name, task in executor.prepared.items():
        assert executor.submitted[name] is task and task.attempt == 1


def test_a_prepared_member_whose_need_fails_is_cancelled_not_started(tmp_path: Path) -> None:
    members = [m("a"), m("b", "a")]
    fail = lambda task: (MemberStatus.FAILED, 0.1)  # noqa: E731
    events, executor = drive_preparing(tmp_path, members, fail, max_parallel=1)
    assert "b" in executor.prepared
    assert events.finished()["b"] is MemberStatus.CANCELLED
    assert "b" not in executor.submitted
    assert executor.discarded == [executor.prepared["b"]]  # undone at once, not at close
    assert not executor.prepared["b"].artifacts.exists()  # nor an empty folder left


def test_retries_are_not_prepared(tmp_path: Path) -> None:
    tries: list[int] = []

    def flaky(task: Task) -> tuple[MemberStatus, float]:
        tries.append(task.attempt)
        return (MemberStatus.FAILED if task.attempt == 1 else MemberStatus.SUCCEEDED, 0.05)

    members = [m("a", retry=Retry(retries=1, backoff=0.0))]
    events, executor = drive_preparing(tmp_path, members, flaky, max_parallel=1)
    assert events.finished()["a"] is MemberStatus.SUCCEEDED and tries == [1, 2]
    assert all(task.attempt == 1 for task in executor.prepared.values())


def test_a_plain_executor_is_never_asked_to_prepare(tmp_path: Path) -> None:
    _, _, executor, _, runner = drive(tmp_path, [m("a"), m("b", "a")], ok())
    assert not runner.preparing and not hasattr(executor, "prepare")


def test_a_member_stopped_while_it_waits_for_a_retry_is_aborted_not_cancelled(
    tmp_path: Path,
) -> None:
    """It ran (its record said running, a kill -9 would have left it aborted); "cancelled"
    means it never started."""
    pipeline = Pipeline("p", tmp_path / "p.yaml", (m("a", retry=Retry(retries=5, backoff=60)),))
    executor, events = ScriptedExecutor(lambda t: (MemberStatus.FAILED, 0.01)), Events()
    runner = Runner(
        plan(pipeline),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, MemoryLocks(), events),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    threading.Timer(0.3, runner.interrupt).start()
    run = runner.run()
    assert run.status is RunStatus.ABORTED and executor.started == ["a"]
    assert events.finished() == {"a": MemberStatus.ABORTED}
