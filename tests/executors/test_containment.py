"""Containment of local members in-process: a cgroup per attempt, and what the reaper is
told. (Both containment paths against every way orecart ends: tests/cli/test_escapes.py;
the subreaper path runs only there, in orecart processes, so this pytest never becomes one.)"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from orecart.errors import UsageError
from orecart.executors.containment import Cgroups, cgroup_dir, choose
from orecart.executors.local import LocalExecutor
from orecart.executors.reaper import Guarded, apply, kill_all
from orecart.model import MemberStatus, Task
from tests.fixtures import ESCAPEES, ESCAPER, Collector, loader, make_task, marked, wait_unmarked


def escaper_task(tmp_path: Path, token: str, script: str = ESCAPER, **fields: Any) -> Task:
    member = loader("escaper", script, **fields)
    env = {"ESCAPE_TOKEN": token, "READY": str(tmp_path / "ready")}
    return make_task(tmp_path, member, env=env)


def test_escapees_die_with_the_main_process_and_the_cgroups_go(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    executor = LocalExecutor(containment="cgroup")
    try:
        script = ESCAPER.replace("wait", 'sleep 0.3; echo "$(cat /proc/self/cgroup)"')
        sink = Collector()
        result = executor.submit(escaper_task(tmp_path, token, script), sink).result(30)
        assert result.status is MemberStatus.SUCCEEDED
        assert wait_unmarked(token) == []
        assert executor.containment is not None and executor.containment.name == "cgroup"
        own = executor.containment.path  # type: ignore[attr-defined]
        assert any(str(own.relative_to(cgroup_dir() or own)) in line for line in sink.lines())
        assert list(own.glob("a*/")) == []  # each attempt's cgroup is removed after it
    finally:
        executor.close()
        kill_all(marked(token))
    assert not own.exists()


def test_a_timeout_and_an_abort_reach_the_escapees(tmp_path: Path) -> None:
    executor = LocalExecutor(containment="cgroup", grace=0.3)
    tokens = [uuid.uuid4().hex for _ in range(2)]
    try:
        timed = executor.submit(escaper_task(tmp_path, tokens[0], timeout=1.0), Collector())
        assert timed.result(30).status is MemberStatus.FAILED
        aborted = executor.submit(escaper_task(tmp_path / "b", tokens[1]), Collector())
        deadline = time.monotonic() + 20
        while len(marked(tokens[1])) < ESCAPEES + 1:
            assert time.monotonic() < deadline, "the escapees did not start"
            time.sleep(0.05)
        executor.abort()
        assert aborted.result(30).status is MemberStatus.ABORTED
        assert wait_unmarked(tokens[0]) == [] and wait_unmarked(tokens[1]) == []
    finally:
        executor.close()
        for token in tokens:
            kill_all(marked(token))


def test_the_cgroup_path_is_available_on_this_machine() -> None:
    # CI runs here as root with cgroup v2: the cgroup path must be the one tested, not
    # silently the fallback.
    containment = choose("auto")
    try:
        assert isinstance(containment, Cgroups)
    finally:
        containment.close()


def test_an_unknown_containment_is_bad_input_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to be found only at a member's start: every member errored, exit 1."""
    with pytest.raises(UsageError, match="unknown containment 'jail'"):
        choose("jail")
    with pytest.raises(UsageError, match="unknown containment 'jail'"):
        LocalExecutor(containment="jail")
    monkeypatch.setenv("ORECART_CONTAINMENT", "jail")
    with pytest.raises(UsageError, match="ORECART_CONTAINMENT: unknown containment 'jail'"):
        LocalExecutor()


def test_reaper_protocol_guards_cgroups_and_tags() -> None:
    guarded: Guarded = set()
    for line in [b"+12\n", b"+/sys/fs/cgroup/orecart-1-ab\n", b"+=1-ab.\n", b"+=\n", b"+/x\n",
                 b"-/x\n", b"-12\n", b"+1\n", b"junk\n"]:
        apply(guarded, line)
    assert guarded == {"/sys/fs/cgroup/orecart-1-ab", "=1-ab."}



def test_empty_cgroups_of_gone_orecart_processes_are_swept() -> None:
    base = cgroup_dir()
    assert base is not None
    dead = psutil.Popen(["true"])
    dead.wait()
    stale = base / f"orecart-{dead.pid}-{uuid.uuid4().hex[:8]}"
    (stale / "a1").mkdir(parents=True)  # what a reaper killed with its orecart leaves
    containment = Cgroups()
    try:
        assert not stale.exists()
        assert containment.path.is_dir()  # its own, made after the sweep, is kept
    finally:
        containment.close()
