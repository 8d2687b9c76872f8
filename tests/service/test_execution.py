"""A run that breaks before its runner starts is recorded, never left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from orecart.executors import Executor
from orecart.hooks import HookSet
from orecart.model import Run, RunStatus
from orecart.service import RunOptions
from orecart.service.execution import Job, execute
from orecart.service.resources import Resources
from orecart.spec import load_pipeline
from orecart.stores import Holder, open_store


class _Broken(Resources):
    """A bug where the run's executors are made (a unit test of the logic around it)."""

    def for_run(self, kinds: set[str]) -> dict[str, Executor]:
        raise RuntimeError("no executor today")


def test_an_internal_error_before_the_runner_ends_the_run_aborted(tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("pipeline: p\nmembers:\n  - {name: a, run: ['true']}\n")
    pipeline = load_pipeline(file)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.enqueue(Run(id="r1", pipeline="p", status=RunStatus.QUEUED), {})
    claimed = store.claim("r1", Holder("r1", 1, "host"))
    assert claimed is not None
    job = Job(pipeline, claimed, RunOptions(),
              tmp_path / "runs", {}, HookSet.load(pipeline))
    resources = _Broken(store)
    try:
        with pytest.raises(RuntimeError):
            execute(resources, job, lambda runner: None)
        run = store.get_run("r1")
        assert run.status is RunStatus.ABORTED
        assert run.error is not None and "internal error" in run.error
        assert run.finished_at is not None
    finally:
        resources.close()
