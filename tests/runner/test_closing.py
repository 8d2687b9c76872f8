"""The after-run backup is part of the run: its result is on the record that RunFinished
carries (so notifications list it). A failing one is tested in test_run_work.py."""

from __future__ import annotations

from pathlib import Path

from orecart.events import Fanout, RunFinished
from orecart.model import Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.runner import Backends, RunConfig, Runner
from tests.runner.test_runner_logic import Events, MemoryLocks, ScriptedExecutor, m, ok


def test_the_after_run_backup_is_on_the_record_runfinished_carries(tmp_path: Path) -> None:
    events = Events()
    runner = Runner(
        plan(Pipeline("p", tmp_path / "p.yaml", (m("a"),))),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": ScriptedExecutor(ok(0.01))}, MemoryLocks(), Fanout(events),
                 before=lambda: ("before.json",), after=lambda: ("after.json",)),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    run = runner.run()
    assert run.status is RunStatus.SUCCEEDED and run.backups == ("before.json", "after.json")
    finished = events.items[-1]
    assert isinstance(finished, RunFinished) and finished.run == run
