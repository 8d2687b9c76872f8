"""The run's closing step (the after-run backup) is part of the run: its result is on the
record that RunFinished carries, and a closing step that fails fails the run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orecart.errors import GraphError
from orecart.events import Fanout, RunFinished
from orecart.model import Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.runner import Backends, RunConfig, Runner
from tests.runner.test_runner_logic import Events, MemoryLocks, ScriptedExecutor, m, ok


def closed_run(tmp_path: Path, closing: object) -> tuple[Run, Events]:
    events = Events()
    runner = Runner(
        plan(Pipeline("p", tmp_path / "p.yaml", (m("a"),))),
        Run("run1", "p", RunStatus.QUEUED, backups=("before.json",)),
        Backends({"run": ScriptedExecutor(ok(0.01))}, MemoryLocks(), Fanout(events),
                 closing=closing),  # type: ignore[arg-type]
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    return runner.run(), events


def test_the_after_run_backup_is_on_the_record_runfinished_carries(tmp_path: Path) -> None:
    run, events = closed_run(tmp_path, lambda r: replace(r, backups=(*r.backups, "after.json")))
    assert run.status is RunStatus.SUCCEEDED and run.backups == ("before.json", "after.json")
    finished = events.items[-1]
    assert isinstance(finished, RunFinished) and finished.run == run


def test_a_closing_step_that_fails_fails_the_run_with_its_error(tmp_path: Path) -> None:
    def closing(run: Run) -> Run:
        raise GraphError("backup folder is read-only")

    run, _ = closed_run(tmp_path, closing)
    assert run.status is RunStatus.FAILED
    assert run.error == "after the run: backup folder is read-only"
    assert run.finished_at is not None
