"""Waits the runner records (``orecart.waits``): a pool's once per wait, however many
scheduling passes it lasts, and a wait for a place in ``max_parallel`` on the start that
ends it; the pipeline's checks as they went, on the run."""

from __future__ import annotations

from pathlib import Path

from orecart.events import AttemptFinished, MemberStarted, MemberWaiting
from orecart.model import (
    PARALLEL,
    CheckResult,
    MemberStatus,
    Pipeline,
    Retry,
    Run,
    RunStatus,
    Task,
)
from orecart.planner import Selection, plan
from orecart.runner import Backends, RunConfig, Runner
from tests.runner.test_runner_logic import (
    Events,
    MemoryLocks,
    ScriptedExecutor,
    drive,
    m,
    ok,
)


def waits_of(events: Events, member: str) -> list[tuple[int, str | None]]:
    return [(e.attempt, e.member_run.waited_for) for e in events.items
            if isinstance(e, MemberWaiting) and e.member_run.member == member]


def started(events: Events, member: str) -> list[MemberStarted]:
    return [e for e in events.items
            if isinstance(e, MemberStarted) and e.member_run.member == member]


def attempts(events: Events, member: str) -> list[AttemptFinished]:
    return [e for e in events.items
            if isinstance(e, AttemptFinished) and e.attempt.member == member]


def test_a_member_refused_by_its_pool_records_one_wait_for_it(tmp_path: Path) -> None:
    members = [m("a", pool="p"), m("b", pool="p")]
    run, events, _, _, _ = drive(tmp_path, members, ok(0.3), pools={"p": 1}, poll=0.02)
    assert run.status is RunStatus.SUCCEEDED
    assert waits_of(events, "a") == []
    assert waits_of(events, "b") == [(1, "p")]  # one, though ~15 passes found the pool full
    waiting = next(e for e in events.items if isinstance(e, MemberWaiting))
    assert waiting.member_run.status is MemberStatus.PENDING
    [start] = started(events, "b")
    assert start.member_run.waited_for == "p"
    assert start.member_run.waited_at is not None
    assert start.member_run.started_at is not None
    assert start.member_run.waited_at < start.member_run.started_at
    assert attempts(events, "b")[0].attempt.waited_for == "p"


def test_a_wait_for_max_parallel_is_recorded_when_it_ends(tmp_path: Path) -> None:
    run, events, _, _, _ = drive(tmp_path, [m("a"), m("b")], ok(0.1), max_parallel=1)
    assert run.status is RunStatus.SUCCEEDED
    assert not [e for e in events.items if isinstance(e, MemberWaiting)]  # no write per wait
    assert started(events, "a")[0].member_run.waited_for is None
    [start] = started(events, "b")
    assert start.member_run.waited_for == PARALLEL
    assert start.member_run.waited_at is not None
    assert start.member_run.started_at is not None
    assert (start.member_run.started_at - start.member_run.waited_at).total_seconds() >= 0.08
    assert attempts(events, "b")[0].attempt.waited_for == PARALLEL


def test_a_dependent_started_as_its_need_ends_did_not_wait(tmp_path: Path) -> None:
    run, events, _, _, _ = drive(tmp_path, [m("a"), m("b", "a")], ok(0.05), max_parallel=1)
    assert run.status is RunStatus.SUCCEEDED
    assert [s.member_run.waited_for for s in started(events, "b")] == [None]


def test_a_retry_refused_by_the_pool_records_a_wait_of_its_own(tmp_path: Path) -> None:
    def behaviour(task: Task) -> tuple[MemberStatus, float]:
        if task.member.name == "a":
            return (MemberStatus.FAILED if task.attempt == 1 else MemberStatus.SUCCEEDED), 0.05
        return MemberStatus.SUCCEEDED, 0.4

    retry = Retry(retries=1, backoff=0.05)
    members = [m("a", pool="p", retry=retry), m("b", pool="p")]
    run, events, _, _, _ = drive(tmp_path, members, behaviour, pools={"p": 1}, poll=0.02)
    assert run.status is RunStatus.SUCCEEDED
    assert waits_of(events, "b") == [(1, "p")]
    assert waits_of(events, "a") == [(2, "p")]  # its retry found b holding the pool
    tries = [(e.attempt.number, e.attempt.status, e.attempt.waited_for)
             for e in attempts(events, "a")]
    assert tries == [(1, MemberStatus.FAILED, None), (2, MemberStatus.SUCCEEDED, "p")]
    # the running record waiting for its retry stays running, not pending
    assert [e.member_run.status for e in events.items if isinstance(e, MemberWaiting)
            and e.member_run.member == "a"] == [MemberStatus.RUNNING]


def test_the_pipeline_checks_are_recorded_on_the_run(tmp_path: Path) -> None:
    found = [CheckResult("one", True, "returned 1"),
             CheckResult("two", False, "check 'two' failed: got 1, expected 2")]
    pipeline = Pipeline("p", tmp_path / "p.yaml", (m("a"),))
    runner = Runner(
        plan(pipeline, Selection()),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": ScriptedExecutor(ok())}, MemoryLocks(), Events(),
                 final_checks=lambda: found),
        RunConfig(runs_dir=tmp_path / "runs"),
    )
    run = runner.run()
    assert run.status is RunStatus.FAILED
    assert run.checks == tuple(found)
    assert run.error == "check 'two' failed: got 1, expected 2"
