"""The store stays fast with a long history: reads the CLI and planner make, and the
runner's hot-path write."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from orecart.model import MemberRun, MemberStatus, Run, RunStatus
from orecart.stores.schema import member_run_values, member_runs, run_values, runs
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import make_run, member_run

RUNS, MEMBERS = 1000, 50
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def seed(store: SqlStore) -> None:
    """1,000 runs of 50 member runs each, written in bulk (the API would take minutes)."""
    history = [
        Run(f"run-{i:05d}", "big", RunStatus.SUCCEEDED, started_at=BASE + timedelta(hours=i))
        for i in range(RUNS)
    ]
    rows = [
        member_run_values(
            MemberRun(
                run.id,
                f"member-{m:02d}",
                MemberStatus.SUCCEEDED,
                attempts=1,
                exit_code=0,
                fingerprint="f" * 64,
                started_at=run.started_at,
                finished_at=run.started_at,
                delta={"nodes": {"added": m}},
            )
        )
        for run in history
        for m in range(MEMBERS)
    ]
    with store.engine.begin() as connection:
        connection.execute(sa.insert(runs), [run_values(run) for run in history])
        connection.execute(sa.insert(member_runs), rows)


def test_latest_run_and_its_member_runs_are_fast(store: SqlStore) -> None:
    seed(store)
    store.runs("big", limit=1)  # warm the connection pool, as a long-lived process would
    started = time.perf_counter()
    latest = store.latest_run("big")
    assert latest is not None
    found = store.member_runs(latest.id)
    elapsed = time.perf_counter() - started
    assert latest.id == f"run-{RUNS - 1:05d}"
    assert len(found) == MEMBERS
    assert elapsed < 0.25, f"latest_run + member_runs took {elapsed:.3f}s"


def test_saving_member_runs_is_a_short_write(store: SqlStore) -> None:
    store.save_run(Run("hot", "big", RunStatus.RUNNING, started_at=BASE))
    started = time.perf_counter()
    for m in range(200):
        store.save_member_run(
            MemberRun("hot", f"member-{m:03d}", MemberStatus.SUCCEEDED, fingerprint="f")
        )
    elapsed = time.perf_counter() - started
    assert len(store.successes("big")) == 200
    assert elapsed / 200 < 0.02, f"{elapsed / 200 * 1000:.1f} ms per member run"


def test_a_long_lived_store_remembers_a_bounded_number_of_runs(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # it remembered the pipeline of every run it ever wrote: a serve process grew by a
    # dict entry per run, without end
    monkeypatch.setattr(SqlStore, "REMEMBERED", 8)
    for i in range(20):
        store.enqueue(Run(f"q-{i:02d}", "queued", RunStatus.QUEUED), {})
        store.save_run(make_run(f"r-{i:02d}", "long"))
    assert len(store._pipelines) <= 8
    # a run it forgot is read back when its member runs are written
    store.save_member_run(member_run("r-00", "a", MemberStatus.SUCCEEDED))
    assert store.successes("long")["a"].run_id == "r-00"
    assert len(store._pipelines) <= 8
