"""Records written in batches, one transaction per runner step: a large generated run is
recorded whole, and a batch the store fails to write leaves nothing false behind (real
processes, a real SQLite store; the failure is the store's own transaction raising)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from orecart.errors import StateError
from orecart.events import Fanout
from orecart.executors.local import LocalExecutor
from orecart.model import Member, MemberRun, MemberStatus, Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner
from orecart.service import RunOptions, Source, Tools
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.runner.test_runner_logic import MemoryLocks

MARK = 'echo ran > "$ORECART_ARTIFACTS/ran"'  # what each member does: leave proof it ran


def generated(folder: Path, count: int, seed: int = 7) -> Path:
    """A pipeline file of ``count`` trivial members, each needing up to 3 earlier ones."""
    rng = random.Random(seed)
    members = []
    for i in range(count):
        needs = sorted(rng.sample(range(i), rng.randint(0, min(3, i))))
        member: dict[str, object] = {"name": f"m{i:05d}", "run": ["true"]}
        if needs:
            member["needs"] = [f"m{j:05d}" for j in needs]
        members.append(member)
    file = folder / "pipeline.yaml"
    document = {"pipeline": "many", "settings": {"max_parallel": 4}, "members": members}
    file.write_text(yaml.safe_dump(document, sort_keys=False))
    return file


def test_a_generated_2000_member_run_records_every_member(tmp_path: Path) -> None:
    file = generated(tmp_path, 2000)
    began = time.monotonic()
    outcome = Tools().run(Source(file), RunOptions())
    took = time.monotonic() - began
    assert outcome.run.status is RunStatus.SUCCEEDED, outcome.run
    store = open_store(f"sqlite:///{tmp_path / '.orecart' / 'state.db'}", read_only=True)
    try:
        runs = store.member_runs(outcome.run.id)
        assert [mr.member for mr in runs] == [f"m{i:05d}" for i in range(2000)]
        assert {mr.status for mr in runs} == {MemberStatus.SUCCEEDED}
        assert all(mr.exit_code == 0 and mr.finished_at for mr in runs)
        attempts = store.attempts(outcome.run.id)
        assert len(attempts) == 2000 and {a.status for a in attempts} == {MemberStatus.SUCCEEDED}
        kinds = [event.kind for event in store.events(outcome.run.id)]
        assert kinds.count("member_started") == kinds.count("member_finished") == 2000
        assert kinds.count("attempt_finished") == 2000 and kinds[-1] == "run_finished"
        assert len(store.successes("many")) == 2000  # the ledger, kept in step in batches
    finally:
        store.close()
    assert took < 45, f"{took:.1f} s"  # about 8 s on a quiet 2-core machine


class FailingStore(SqlStore):
    """A real SQLite store whose ``failing``-th write of member runs raises inside its
    transaction, after the rows were written: the whole batch rolls back."""

    def __init__(self, url: str, failing: int) -> None:
        super().__init__(url)
        self.failing, self.writes, self.failed = failing, 0, 0

    def _save_member_runs(self, connection: object, found: Sequence[MemberRun]) -> None:
        super()._save_member_runs(connection, found)  # type: ignore[arg-type]
        self.writes += 1
        if self.writes == self.failing:
            self.failed += 1
            raise StateError("disk I/O error (injected mid-batch)")


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[FailingStore]:
    store = FailingStore(f"sqlite:///{tmp_path / 'state.db'}", failing=6)
    yield store
    store.close()


def test_a_batch_the_store_fails_to_write_aborts_the_run_with_nothing_false_recorded(
    tmp_path: Path, failing: FailingStore
) -> None:
    names = [f"m{i}" for i in range(12)]
    members = tuple(
        Member(name, shell=MARK, needs=(names[i - 1],) if i % 3 else ())
        for i, name in enumerate(names)
    )
    pipeline = Pipeline("p", tmp_path / "p.yaml", members)
    executor = LocalExecutor()
    runner = Runner(
        plan(pipeline),
        Run("run1", "p", RunStatus.QUEUED),
        Backends({"run": executor}, MemoryLocks(), Fanout(Recorder(failing))),
        RunConfig(runs_dir=tmp_path / "runs", max_parallel=2, poll=0.01),
    )
    try:
        ended = runner.run()
    finally:
        executor.close()
    assert failing.failed == 1
    assert ended.status is RunStatus.ABORTED and "injected mid-batch" in (ended.error or "")
    stored = failing.get_run("run1")
    assert stored.status is RunStatus.ABORTED and stored.finished_at is not None
    found = {mr.member: mr for mr in failing.member_runs("run1")}
    assert set(found) == set(names) and all(mr.status.terminal for mr in found.values())
    ran = {name for name in names if (tmp_path / "runs" / "run1" / name / "ran").exists()}
    succeeded = {name for name, mr in found.items() if mr.status is MemberStatus.SUCCEEDED}
    assert succeeded <= ran  # no success that was not
    assert set(failing.successes("p")) == succeeded
    for name in ran:  # nothing ran before its start was recorded
        assert found[name].attempts >= 1 and found[name].started_at is not None
        if name not in succeeded:  # stopped by the abort before it could end on its own
            assert found[name].status is MemberStatus.ABORTED, found[name]
    cancelled = {name for name, mr in found.items() if mr.status is MemberStatus.CANCELLED}
    assert cancelled and not cancelled & ran
    assert set(found) - ran <= cancelled | {n for n, mr in found.items()
                                            if mr.status is MemberStatus.ABORTED}
    kinds = [event.kind for event in failing.events("run1")]
    assert kinds[0] == "planned" and kinds[-1] == "run_finished"
