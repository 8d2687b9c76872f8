"""The persisted event log and the persisted plan, on SQLite and PostgreSQL: events replay
from any cursor, and a plan's every member goes in at once, pending, with its decision."""

from __future__ import annotations

from pathlib import Path

from orecart.events import Planned, RunFinished, RunStarted
from orecart.model import MemberStatus, Pipeline, ReasonCode, Run, RunStatus
from orecart.planner import Selection, plan
from orecart.recorder import Recorder
from orecart.stores.sql import SqlStore
from tests.runner.test_runner_logic import m
from tests.stores.test_contract import make_run


def test_events_replay_from_any_cursor_and_only_their_own_runs(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    store.save_run(make_run("r-2"))
    for index in range(6):
        store.record("r-1" if index % 2 == 0 else "r-2", [("note", {"n": index})])
    store.record("r-1", [("first", {}), ("second", {"x": [1, 2]})])
    log = store.events("r-1")
    assert [(e.kind, e.data) for e in log] == [
        ("note", {"n": 0}), ("note", {"n": 2}), ("note", {"n": 4}),
        ("first", {}), ("second", {"x": [1, 2]})]
    assert {e.run_id for e in log} == {"r-1"} and log[3].at == log[4].at  # one moment
    for seen in range(len(log)):
        assert store.events("r-1", after=log[seen].id) == log[seen + 1:]
    assert store.events("r-1", after=log[0].id, limit=2) == log[1:3]
    assert store.events("r-1", after=log[-1].id) == []
    assert [e.data["n"] for e in store.events("r-2")] == [1, 3, 5]


def test_a_plan_is_persisted_as_pending_member_runs_with_the_run(
    store: SqlStore, tmp_path: Path
) -> None:
    members = (m("a"), m("b", "a"), m("c"))
    the_plan = plan(Pipeline("p", tmp_path / "p.yaml", members), Selection(skip=frozenset("c")))
    recorder = Recorder(store)
    recorder.emit(Planned("r-1", the_plan))
    assert store.member_runs("r-1") == []  # the run's own record comes first
    recorder.emit(RunStarted(Run("r-1", "p", RunStatus.RUNNING)))
    found = store.member_runs("r-1")
    assert [(mr.member, mr.status, mr.position) for mr in found] == [
        ("a", MemberStatus.PENDING, 0), ("b", MemberStatus.PENDING, 1),
        ("c", MemberStatus.PENDING, 2)]
    assert [mr.reason_code for mr in found] == [
        ReasonCode.NEW, ReasonCode.NEW, ReasonCode.SKIPPED_BY_USER]
    assert found[0].fingerprint == the_plan.steps[0].fingerprint and found[0].reason
    assert store.successes("p") == {}  # pending is no success
    assert [e.kind for e in store.events("r-1")] == ["planned", "run_started"]


def test_a_run_that_never_started_still_persists_its_plan(store: SqlStore, tmp_path: Path) -> None:
    recorder = Recorder(store)
    recorder.emit(Planned("r-1", plan(Pipeline("p", tmp_path / "p.yaml", (m("a"),)))))
    recorder.emit(RunFinished(Run("r-1", "p", RunStatus.ABORTED, error="broke")))
    assert [mr.status for mr in store.member_runs("r-1")] == [MemberStatus.PENDING]
    assert [e.kind for e in store.events("r-1")] == ["planned", "run_finished"]
