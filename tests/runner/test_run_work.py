"""The run's own work beyond its members (graph schema, backups before and after) is part
of the run's recorded life: what it took is on the run, and when it fails the run is
recorded failed with its error, in a real state store."""

from __future__ import annotations

from pathlib import Path

from orecart.errors import GraphError
from orecart.events import Fanout, Planned, RunStarted
from orecart.model import MemberStatus, Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner, RunWork
from orecart.stores import open_store
from tests.runner.test_runner_logic import Events, MemoryLocks, ScriptedExecutor, m, ok


def _run(tmp_path: Path, before: RunWork | None, after: RunWork | None = None) -> tuple:
    pipeline = Pipeline("p", tmp_path / "p.yaml", (m("a"), m("b", "a")))
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    events, executor = Events(), ScriptedExecutor(ok())
    backends = Backends(
        {"run": executor}, MemoryLocks(), Fanout(Recorder(store), events),
        before=before, after=after,
    )
    runner = Runner(plan(pipeline), Run("run1", "p", RunStatus.QUEUED), backends,
                    RunConfig(runs_dir=tmp_path / "runs"))
    return runner.run(), store, events, executor


def _failing() -> tuple[str, ...]:
    raise GraphError("cannot write /backups/x: No space left on device")


def test_a_failed_before_backup_leaves_a_failed_run_with_its_error(tmp_path: Path) -> None:
    run, store, events, executor = _run(tmp_path, _failing)
    assert executor.started == []  # no member started
    recorded = store.get_run("run1")
    assert recorded.status is RunStatus.FAILED == run.status
    assert recorded.error == "before the members: cannot write /backups/x: No space left on device"
    assert {mr.member: mr.status for mr in store.member_runs("run1")} == {
        "a": MemberStatus.CANCELLED, "b": MemberStatus.CANCELLED}
    assert isinstance(events.items[0], Planned) and events.items[0].plan.steps[0].member.name == "a"
    assert isinstance(events.items[1], RunStarted)


def test_backups_taken_are_recorded_and_a_failed_after_backup_fails_the_run(
    tmp_path: Path,
) -> None:
    run, store, _, executor = _run(tmp_path, lambda: ("before.gz",), _failing)
    assert executor.started == ["a", "b"]
    recorded = store.get_run("run1")
    assert recorded.status is RunStatus.FAILED
    assert recorded.error is not None and recorded.error.startswith("after the members: ")
    assert recorded.backups == ("before.gz",)
    (tmp_path / "2").mkdir()
    run, store, _, _ = _run(tmp_path / "2", lambda: ("before.gz",), lambda: ("after.gz",))
    assert store.get_run("run1").status is RunStatus.SUCCEEDED
    assert store.get_run("run1").backups == ("before.gz", "after.gz")


def test_an_internal_error_in_the_runs_own_work_aborts_it(tmp_path: Path) -> None:
    def broken() -> tuple[str, ...]:
        raise RuntimeError("bug")

    run, store, _, executor = _run(tmp_path, broken)
    assert executor.started == []
    assert store.get_run("run1").status is RunStatus.ABORTED
    assert "internal error" in (store.get_run("run1").error or "")
