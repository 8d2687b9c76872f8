"""The recorder: a real runner's events kept in a real state store, the plan persisted as
pending member runs from the start, and the run's event log replayable from any cursor."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

from orecart.events import Fanout, Planned, RunStarted
from orecart.executors import OutputSink
from orecart.model import MemberStatus, Pipeline, ReasonCode, Result, Run, RunStatus, Task
from orecart.planner import Selection, plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.runner.test_runner_logic import MemoryLocks, ScriptedExecutor, m, ok


class Snapshots(ScriptedExecutor):
    """An executor that notes what the store shows of every member when it is handed one:
    the recorder may hold records, but never past the submit of a member."""

    def __init__(self, store: SqlStore) -> None:
        super().__init__(ok(0.01))
        self.store = store
        self.seen: dict[str, dict[str, MemberStatus]] = {}

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        found = self.store.member_runs(task.run_id)
        self.seen[task.member.name] = {mr.member: mr.status for mr in found}
        return super().submit(task, output)


def run_chain(tmp_path: Path, store: SqlStore, executor: ScriptedExecutor | None = None) -> Run:
    pipeline = Pipeline("rec", tmp_path / "p.yaml", (m("a"), m("b", "a"), m("c", "b"), m("d")))
    runner = Runner(
        plan(pipeline, Selection(skip=frozenset({"d"}))),
        Run("run-1", "rec", RunStatus.QUEUED),
        Backends({"run": executor or ScriptedExecutor(ok(0.01))}, MemoryLocks(),
                 Fanout(Recorder(store))),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    return runner.run()


def test_every_member_of_the_plan_is_pending_from_the_start(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    snapshots = Snapshots(store)
    try:
        assert run_chain(tmp_path, store, snapshots).status is RunStatus.SUCCEEDED
        assert snapshots.seen["a"] == {"a": MemberStatus.RUNNING, "b": MemberStatus.PENDING,
                                       "c": MemberStatus.PENDING, "d": MemberStatus.SKIPPED}
        assert snapshots.seen["c"]["b"] is MemberStatus.SUCCEEDED
        final = store.member_runs("run-1")
        assert [mr.member for mr in final] == ["a", "b", "c", "d"]  # in plan order
        assert [mr.status for mr in final] == [MemberStatus.SUCCEEDED] * 3 + [MemberStatus.SKIPPED]
        assert final[0].reason_code is ReasonCode.NEW
        assert final[3].reason_code is ReasonCode.SKIPPED_BY_USER
    finally:
        store.close()


def test_the_event_log_tells_the_whole_run_and_replays_from_any_cursor(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        run_chain(tmp_path, store)
        log = store.events("run-1")
        kinds = [event.kind for event in log]
        assert kinds[:3] == ["planned", "run_started", "member_finished"]  # d, skipped
        assert kinds[3:6] == ["member_started", "attempt_finished", "member_finished"]
        assert kinds[-1] == "run_finished" and len(kinds) == 3 + 3 * 3 + 1
        assert log[0].data == {"pipeline": "rec", "profile": None, "members": 4,
                               "run": 3, "skip": 1, "cancel": 0}
        assert log[-1].data["status"] == "succeeded"
        assert isinstance(log[-1].data["finished_at"], str)  # times as ISO text
        started = log[3].data
        assert (started["member"], started["status"], started["attempt"]) == ("a", "running", 1)
        assert log[4].data["number"] == 1 and log[4].data["status"] == "succeeded"
        ids = [event.id for event in log]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for cursor in (0, ids[0], ids[5], ids[-1]):
            assert store.events("run-1", after=cursor) == [e for e in log if e.id > cursor]
        assert store.events("run-1", after=ids[1], limit=2) == log[2:4]
        assert store.events("run-2") == []
    finally:
        store.close()


def test_a_plan_of_10_000_members_is_written_in_one_quick_transaction(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        members = tuple(m(f"m{i:05}") for i in range(10_000))
        the_plan = plan(Pipeline("big", tmp_path / "p.yaml", members))
        recorder = Recorder(store)
        recorder.emit(Planned("big-1", the_plan))
        began = time.perf_counter()
        recorder.emit(RunStarted(Run("big-1", "big", RunStatus.RUNNING)))
        took = time.perf_counter() - began
        found = store.member_runs("big-1")
        assert len(found) == 10_000 and {mr.status for mr in found} == {MemberStatus.PENDING}
        assert found[9_999].position == 9_999 and found[9_999].reason_code is ReasonCode.NEW
        assert took < 1.0, f"{took:.2f} s"
    finally:
        store.close()
