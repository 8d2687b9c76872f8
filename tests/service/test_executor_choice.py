"""A run's ``--executor`` survives the queue: a queued request keeps where its members run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orecart.model import ExecutorChoice, Run, RunStatus
from orecart.service.requests import RunOptions, RunRequest, from_payload, to_payload
from orecart.stores import open_store


def test_the_run_executor_is_stored_with_the_queued_request() -> None:
    chosen = ExecutorChoice("dask", "tcp://10.0.0.5:8786")
    request = RunRequest("p", options=RunOptions(executor=chosen))
    run = Run("r-1", "p", RunStatus.QUEUED)
    assert from_payload(run, to_payload(request))[0].options.executor == chosen
    plain = RunRequest("p")
    assert from_payload(run, to_payload(plain))[0].options.executor is None
    older = {k: v for k, v in to_payload(plain).items() if k != "executor"}
    assert from_payload(run, older)[0].options.executor is None  # queued by an older orecart


def test_submit_executor_is_queued_with_the_run(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text('members:\n  - {name: a, run: ["true"]}\n')
    state = f"sqlite:///{tmp_path / 'state.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORECART_")}
    done = subprocess.run([sys.executable, "-m", "orecart", "submit", "pipeline.yaml",
                           "--state", state, "--executor", "dask://10.0.0.5:8786"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    store = open_store(state)
    try:
        (run,) = store.queued()
        request, _ = from_payload(run, store.payload(run.id))
    finally:
        store.close()
    assert request.options.executor == ExecutorChoice("dask", "tcp://10.0.0.5:8786")
