"""The Executor contract: every executor passes these same tests with real processes.

To run them on another executor, add its kind to ``CONTRACT_KINDS``, the service
fixtures it needs to ``NEEDS`` and its constructor options to ``OPTIONS`` (dask: the
session cluster's address is added in ``executor``; its workers share this host's
file system, so artifact folders are ``shared``: copying is tested in test_dask.py);
``tests.fixtures.loader`` already builds a member of that kind from a shell script.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import wait
from pathlib import Path

import pytest

from orecart.executors import Executor, load_executor
from orecart.model import MemberStatus
from tests.fixtures import Collector, group_alive, loader, log_texts, make_task, wait_gone

CONTRACT_KINDS = ["local", "docker", "dask"]
#: Service fixtures (tests/services) an executor kind needs, requested before it is made.
NEEDS: dict[str, tuple[str, ...]] = {"local": (), "docker": ("docker_ready",)}
OPTIONS: dict[str, dict[str, object]] = {"local": {}, "docker": {"grace": 1.0},
                                         "dask": {"grace": 1.0, "artifacts": "shared"}}
#: Kinds whose member processes are visible (by pid) on this machine (dask: its workers
#: run on 127.0.0.1).
HOST_PIDS = {"local", "dask"}


@pytest.fixture(params=CONTRACT_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def executor(kind: str, request: pytest.FixtureRequest) -> Iterator[Executor]:
    for name in NEEDS.get(kind, ()):
        request.getfixturevalue(name)
    options = dict(OPTIONS.get(kind, {}))
    if kind == "dask":  # the session's cluster (tests/services/dask.py)
        options["address"] = request.getfixturevalue("dask_cluster").address
    made = load_executor(kind, **options)
    yield made
    made.close()


def numbers(lines: list[str], prefix: str) -> dict[str, int]:
    """``prefix NAME NUMBER`` lines of output as {NAME: NUMBER} (pids the script printed)."""
    found = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == prefix:
            found[parts[1]] = int(parts[2])
    return found


def test_success_reaches_log_and_sink_in_order(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    task = make_task(
        tmp_path, loader(kind, "hello", "echo one; echo two; echo oops >&2; echo three")
    )
    sink = Collector()
    result = executor.submit(task, sink).result(timeout=60)
    assert result.status is MemberStatus.SUCCEEDED
    assert result.exit_code == 0 and result.error is None
    assert result.started_at and result.finished_at and result.started_at.tzinfo
    assert result.started_at <= result.finished_at
    assert [line for line in sink.lines("hello") if line != "oops"] == ["one", "two", "three"]
    assert "oops" in sink.lines("hello")
    assert log_texts(task.log_path, "stdout") == ["one", "two", "three"]
    assert log_texts(task.log_path, "stderr") == ["oops"]


def test_nonzero_exit_is_failed_with_its_code(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    task = make_task(tmp_path, loader(kind, "bad", "echo trying; exit 3"))
    result = executor.submit(task, Collector()).result(timeout=60)
    assert result.status is MemberStatus.FAILED
    assert result.exit_code == 3
    assert result.error is not None and "3" in result.error


def test_task_env_reaches_the_process(executor: Executor, kind: str, tmp_path: Path) -> None:
    script = (
        'echo "level=$LOG_LEVEL member=$ORECART_MEMBER"; echo done > "$ORECART_ARTIFACTS/out.txt"'
    )
    member = loader(kind, "envy", script, env={"LOG_LEVEL": "debug"})
    task = make_task(tmp_path, member)
    sink = Collector()
    result = executor.submit(task, sink).result(timeout=60)
    assert result.status is MemberStatus.SUCCEEDED, result.error
    assert sink.lines() == ["level=debug member=envy"]
    assert (task.artifacts / "out.txt").read_text() == "done\n"


def test_secret_values_are_redacted_in_log_and_sink(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    member = loader(
        kind,
        "secretive",
        'echo "token is $API_TOKEN"; echo "$API_TOKEN" >&2',
        env={"API_TOKEN": "hunter2-very-secret"},
    )
    task = make_task(tmp_path, member)
    sink = Collector()
    result = executor.submit(task, sink).result(timeout=60)
    assert result.status is MemberStatus.SUCCEEDED
    assert sorted(sink.lines()) == ["***", "token is ***"]
    text = task.log_path.read_text()
    assert "hunter2" not in text and "token is ***" in text


def test_timeout_kills_the_whole_tree(executor: Executor, kind: str, tmp_path: Path) -> None:
    script = (
        'i=0; (while :; do i=$((i+1)); echo $i > "$ORECART_ARTIFACTS/beat"; sleep 0.05; done) & '
        'echo "pid beat $!"; sleep 300 & echo "pid sleeper $!"; echo "pid leader $$"; wait'
    )
    task = make_task(tmp_path, loader(kind, "slow", script, timeout=1.0))
    sink = Collector()
    started = time.monotonic()
    result = executor.submit(task, sink).result(timeout=60)
    assert result.status is MemberStatus.FAILED
    assert result.error is not None and "timed out after 1s" in result.error
    assert time.monotonic() - started < 30
    beat = task.artifacts / "beat"
    before = beat.read_text()
    time.sleep(0.3)
    assert beat.read_text() == before, "a background child is still writing"
    if kind in HOST_PIDS:
        pids = numbers(sink.lines(), "pid")
        assert set(pids) == {"beat", "sleeper", "leader"}
        assert wait_gone(pids.values(), timeout=2) == []
        assert not group_alive(pids["leader"], timeout=5)


def test_abort_completes_running_futures_as_aborted(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    sink = Collector()
    script = 'sleep 300 & echo "pid child $!"; echo "pid leader $$"; wait'
    futures = [
        executor.submit(make_task(tmp_path, loader(kind, f"long{i}", script)), sink)
        for i in range(2)
    ]
    sink.wait_for(4)
    started = time.monotonic()
    executor.abort()
    done, _ = wait(futures, timeout=30)
    assert len(done) == 2
    assert [f.result().status for f in futures] == [MemberStatus.ABORTED] * 2
    assert time.monotonic() - started < 15
    if kind in HOST_PIDS:
        pids = [pid for line in sink.lines() for pid in numbers([line], "pid").values()]
        assert len(pids) == 4
        assert wait_gone(pids, timeout=2) == []
    executor.abort()  # a second call is harmless


def test_large_output_is_not_lost(executor: Executor, kind: str, tmp_path: Path) -> None:
    script = "seq 1 20000 >&2 & seq 1 50000; wait"
    task = make_task(tmp_path, loader(kind, "chatty", script))
    sink = Collector()
    result = executor.submit(task, sink).result(timeout=120)
    assert result.status is MemberStatus.SUCCEEDED
    expected = [str(n) for n in range(1, 50001)]
    assert log_texts(task.log_path, "stdout") == expected
    assert log_texts(task.log_path, "stderr") == expected[:20000]
    assert len(sink.lines()) == 70000


def test_many_members_at_once(executor: Executor, kind: str, tmp_path: Path) -> None:
    sink = Collector()
    futures = [
        executor.submit(make_task(tmp_path, loader(kind, f"m{i}", f"echo {i}; exit {i % 2}")), sink)
        for i in range(20)
    ]
    results = [f.result(timeout=120) for f in futures]
    assert [r.exit_code for r in results] == [i % 2 for i in range(20)]
    assert sorted(sink.lines(), key=int) == [str(i) for i in range(20)]


def test_output_sink_is_called_while_the_member_runs(
    executor: Executor, kind: str, tmp_path: Path
) -> None:
    script = 'echo first; while [ ! -e "$ORECART_ARTIFACTS/go" ]; do sleep 0.05; done; echo last'
    task = make_task(tmp_path, loader(kind, "live", script, timeout=30))
    sink = Collector()
    future = executor.submit(task, sink)
    assert sink.wait_for(1) == ["first"]
    assert not future.done()
    (task.artifacts / "go").touch()
    assert future.result(timeout=60).status is MemberStatus.SUCCEEDED
    assert sink.lines() == ["first", "last"]


def test_submit_returns_at_once(executor: Executor, kind: str, tmp_path: Path) -> None:
    task = make_task(tmp_path, loader(kind, "sleepy", "sleep 0.5"))
    started = time.monotonic()
    future = executor.submit(task, Collector())
    assert time.monotonic() - started < 0.5
    assert not future.done()
    assert future.result(timeout=60).status is MemberStatus.SUCCEEDED
