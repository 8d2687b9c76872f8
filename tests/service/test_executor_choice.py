"""A run's ``--executor`` survives the queue: a queued request keeps where its members run."""

from __future__ import annotations

from orecart.model import ExecutorChoice, Run, RunStatus
from orecart.service.requests import RunOptions, RunRequest, from_payload, to_payload


def test_the_run_executor_is_stored_with_the_queued_request() -> None:
    chosen = ExecutorChoice("dask", "tcp://10.0.0.5:8786")
    request = RunRequest("p", options=RunOptions(executor=chosen))
    run = Run("r-1", "p", RunStatus.QUEUED)
    assert from_payload(run, to_payload(request))[0].options.executor == chosen
    plain = RunRequest("p")
    assert from_payload(run, to_payload(plain))[0].options.executor is None
    older = {k: v for k, v in to_payload(plain).items() if k != "executor"}
    assert from_payload(run, older)[0].options.executor is None  # queued by an older orecart
