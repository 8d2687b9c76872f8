"""The local executor's own behaviour: starting processes, signals, stragglers, the reaper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from orecart.executors import OutputSink, local
from orecart.executors.local import LocalExecutor
from orecart.executors.logfile import MAX_LINE
from orecart.model import MemberStatus, Result, Task
from tests.fixtures import (
    Collector,
    alive,
    command,
    group_alive,
    loader,
    log_texts,
    make_task,
    wait_gone,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    made = LocalExecutor(grace=0.5)
    yield made
    made.close()


def run(executor: LocalExecutor, task: Task, sink: OutputSink | None = None) -> Result:
    return executor.submit(task, sink or Collector()).result(timeout=60)


def test_command_not_found_is_errored(executor: LocalExecutor, tmp_path: Path) -> None:
    task = make_task(tmp_path, command("ghost", "no-such-loader-xyz", "--flag"))
    result = run(executor, task)
    assert result.status is MemberStatus.ERRORED
    assert result.error == "command not found: no-such-loader-xyz"
    assert result.exit_code is None
    assert "errored (command not found" in task.log_path.read_text()


def test_permission_denied_is_errored(executor: LocalExecutor, tmp_path: Path) -> None:
    script = tmp_path / "load.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = run(executor, make_task(tmp_path, command("noexec", "./load.sh")))
    assert result.status is MemberStatus.ERRORED
    assert result.error == "permission denied: ./load.sh"


def test_missing_cwd_is_errored(executor: LocalExecutor, tmp_path: Path) -> None:
    result = run(executor, make_task(tmp_path, loader("lost", "pwd", cwd="not/here")))
    assert result.status is MemberStatus.ERRORED
    assert result.error is not None and "working directory not found" in result.error
    assert str(tmp_path / "not/here") in result.error


def test_relative_cwd_and_program_resolve_against_base_dir(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    (tmp_path / "loaders").mkdir()
    script = tmp_path / "loaders" / "load.sh"
    script.write_text('#!/bin/sh\necho "in $(pwd)"\n')
    script.chmod(0o755)
    sink = Collector()
    result = run(executor, make_task(tmp_path, command("rel", "./load.sh", cwd="loaders")), sink)
    assert result.status is MemberStatus.SUCCEEDED
    assert sink.lines() == [f"in {tmp_path / 'loaders'}"]


def test_run_member_gets_no_shell(executor: LocalExecutor, tmp_path: Path) -> None:
    sink = Collector()
    member = command("literal", "printf", "%s|\n", "$HOME a b", "; echo x")
    assert run(executor, make_task(tmp_path, member), sink).status is MemberStatus.SUCCEEDED
    assert sink.lines() == ["$HOME a b|", "; echo x|"]


def test_shell_member_runs_through_sh(executor: LocalExecutor, tmp_path: Path) -> None:
    sink = Collector()
    member = loader("shelly", 'for x in a b; do echo "$x-$ORECART_MEMBER"; done | tr a-z A-Z')
    assert run(executor, make_task(tmp_path, member), sink).status is MemberStatus.SUCCEEDED
    assert sink.lines() == ["A-SHELLY", "B-SHELLY"]


def test_stdin_is_empty(executor: LocalExecutor, tmp_path: Path) -> None:
    sink = Collector()
    result = run(executor, make_task(tmp_path, loader("reader", "wc -c")), sink)
    assert result.status is MemberStatus.SUCCEEDED
    assert sink.lines() == ["0"]


def test_signal_death_is_failed_with_the_signal(executor: LocalExecutor, tmp_path: Path) -> None:
    result = run(executor, make_task(tmp_path, loader("shot", "kill -TERM $$")))
    assert result.status is MemberStatus.FAILED
    assert result.exit_code == -signal.SIGTERM
    assert result.error == "killed by SIGTERM"


def test_timeout_escalates_to_sigkill(executor: LocalExecutor, tmp_path: Path) -> None:
    member = loader("stubborn", "trap '' TERM; echo ready; sleep 300", timeout=0.3)
    started = time.monotonic()
    result = run(executor, make_task(tmp_path, member))
    assert result.status is MemberStatus.FAILED
    assert result.exit_code == -signal.SIGKILL
    assert result.error == "timed out after 0.3s"
    assert 0.7 <= time.monotonic() - started < 5  # timeout + grace, then SIGKILL


def test_leftover_children_die_with_the_main_process(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    """A child that keeps the pipes open must not hold the result for 300 seconds."""
    script = 'sleep 300 & echo "pid $!"; sleep 300 >/dev/null 2>&1 & echo "pid $!"; echo bye'
    sink = Collector()
    started = time.monotonic()
    result = run(executor, make_task(tmp_path, loader("leaver", script)), sink)
    assert result.status is MemberStatus.SUCCEEDED
    assert time.monotonic() - started < 5
    pids = [int(line.split()[1]) for line in sink.lines() if line.startswith("pid ")]
    assert len(pids) == 2 and wait_gone(pids, timeout=2) == []


def test_long_lines_and_binary_output(executor: LocalExecutor, tmp_path: Path) -> None:
    size = 2 * MAX_LINE + 1000
    script = f"head -c {size} /dev/zero | tr '\\0' a; echo; printf 'bin\\000\\377\\376end\\n'"
    sink = Collector()
    task = make_task(tmp_path, loader("binary", script))
    assert run(executor, task, sink).status is MemberStatus.SUCCEEDED
    lines = sink.lines()
    assert [len(line) for line in lines[:3]] == [MAX_LINE, MAX_LINE, 1000]
    assert lines[3] == "bin\ufffd\ufffd\ufffdend"
    assert log_texts(task.log_path, "stdout") == lines


def test_last_line_without_newline_is_kept(executor: LocalExecutor, tmp_path: Path) -> None:
    sink = Collector()
    run(executor, make_task(tmp_path, loader("tail", "printf 'a\\nb'")), sink)
    assert sink.lines() == ["a", "b"]


def test_attempts_append_with_a_header_each(executor: LocalExecutor, tmp_path: Path) -> None:
    member = loader("again", 'echo "attempt $ATTEMPT"; exit 1')
    for attempt in (1, 2):  # one member run: the same run id, so the same log file
        task = make_task(tmp_path, member, attempt=attempt, run_id="run-again")
        task = make_task(
            tmp_path, member, attempt=attempt, run_id="run-again",
            env={**task.env, "ATTEMPT": str(attempt)},
        )
        assert run(executor, task).exit_code == 1
    notes = log_texts(task.log_path, "orecart")
    assert [n.split(":")[0] for n in notes] == [
        "attempt 1 of 'again' started",
        "attempt 1 of 'again' finished",
        "attempt 2 of 'again' started",
        "attempt 2 of 'again' finished",
    ]
    assert log_texts(task.log_path, "stdout") == ["attempt 1", "attempt 2"]


def test_secret_in_the_command_is_redacted_in_the_log(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    member = command("argv", "echo", "s3cret-pass")
    task = make_task(tmp_path, member, secrets=frozenset({"s3cret-pass"}))
    sink = Collector()
    run(executor, task, sink)
    assert sink.lines() == ["***"]
    assert "s3cret" not in task.log_path.read_text()


def test_container_member_is_errored(executor: LocalExecutor, tmp_path: Path) -> None:
    from orecart.model import Container, Member

    member = Member(name="boxed", container=Container(image="busybox"))
    result = run(executor, make_task(tmp_path, member))
    assert result.status is MemberStatus.ERRORED
    assert result.error is not None and "docker" in result.error


def test_a_raising_output_sink_is_errored_but_the_process_finishes(
    executor: LocalExecutor, tmp_path: Path
) -> None:
    def broken(member: str, line: str) -> None:
        raise RuntimeError("sink bug")

    task = make_task(tmp_path, loader("loud", "seq 1 100000"))
    result = run(executor, task, broken)
    assert result.status is MemberStatus.ERRORED
    assert result.error is not None and "sink bug" in result.error
    assert len(log_texts(task.log_path, "stdout")) == 100000


def test_second_abort_kills_at_once(tmp_path: Path) -> None:
    executor = LocalExecutor(grace=60)
    sink = Collector()
    member = loader("deaf", "trap '' TERM; echo ready; sleep 300")
    future = executor.submit(make_task(tmp_path, member), sink)
    sink.wait_for(1)
    first = threading.Thread(target=executor.abort)
    first.start()
    time.sleep(0.2)
    assert not future.done()  # SIGTERM is ignored; the first abort waits for its grace
    started = time.monotonic()
    executor.abort()
    assert future.result(timeout=5).status is MemberStatus.ABORTED
    assert time.monotonic() - started < 5
    first.join(timeout=10)
    assert not first.is_alive()
    executor.close()


def test_submit_after_abort_is_aborted(executor: LocalExecutor, tmp_path: Path) -> None:
    executor.abort()
    marker = tmp_path / "ran"
    result = run(executor, make_task(tmp_path, loader("late", f"touch {marker}")))
    assert result.status is MemberStatus.ABORTED
    assert not marker.exists()


def test_max_workers_runs_one_at_a_time(tmp_path: Path) -> None:
    executor = LocalExecutor(max_workers=1)
    try:
        futures = [
            executor.submit(make_task(tmp_path, loader(f"q{i}", "sleep 0.2")), Collector())
            for i in range(3)
        ]
        results = sorted((f.result(timeout=30) for f in futures), key=lambda r: r.started_at)
    finally:
        executor.close()
    assert all(r.status is MemberStatus.SUCCEEDED for r in results)
    for before, after in zip(results, results[1:], strict=False):
        assert before.finished_at and after.started_at and before.finished_at <= after.started_at


def test_no_threads_are_left_behind(executor: LocalExecutor, tmp_path: Path) -> None:
    futures = [
        executor.submit(make_task(tmp_path, command(f"t{i}", "true")), Collector())
        for i in range(30)
    ]
    assert all(f.result(timeout=30).status is MemberStatus.SUCCEEDED for f in futures)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        names = [t.name for t in threading.enumerate() if t.name.startswith("orecart-local")]
        if not names:
            break
        time.sleep(0.01)
    assert names == []


# -- the exit status cannot always be known ---------------------------------------------

UNKNOWN_STATUS = """
import signal, sys, tempfile
from pathlib import Path
sys.path.insert(0, {repo!r})
from orecart.executors import local
from orecart.executors.local import LocalExecutor
from tests.fixtures import command, make_task
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps children: no status
executor = LocalExecutor()
task = make_task(Path(tempfile.mkdtemp()), command("lost", "true"))
result = executor.submit(task, lambda m, l: None).result(timeout=30)
print(result.status, result.error)
executor.close()
"""


def test_an_unknown_exit_status_is_errored_not_succeeded() -> None:
    code = UNKNOWN_STATUS.format(repo=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "errored the exit status could not be determined"


# -- the reaper ---------------------------------------------------------------------------

ORPHAN_MAKER = """
import sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from orecart.executors import local
from orecart.executors.local import LocalExecutor
from tests.fixtures import loader, make_task

def show(member, line):
    print(line, flush=True)

executor = LocalExecutor()
script = 'sleep 300 & echo "grandchild $!"; echo "child $$"; sleep 300'
executor.submit(make_task(Path(tempfile.mkdtemp()), loader("orphan", script)), show)
time.sleep(600)
"""


def start_orphan_maker() -> tuple[subprocess.Popen[str], dict[str, int]]:
    maker = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER.format(repo=str(REPO))],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert maker.stdout is not None
    pids = {}
    for _ in range(2):
        name, pid = maker.stdout.readline().split()
        pids[name] = int(pid)
    return maker, pids


def reaper_of(maker: subprocess.Popen[str]) -> psutil.Process:
    for child in psutil.Process(maker.pid).children():
        if any("reaper" in part for part in child.cmdline()):
            return child
    raise AssertionError("the executor started no reaper")


def test_kill_9_of_orecart_leaves_no_member_process() -> None:
    maker, pids = start_orphan_maker()
    try:
        assert alive(pids["child"]) and alive(pids["grandchild"])
        reaper = reaper_of(maker)
        reaper.send_signal(signal.SIGINT)  # a Ctrl-C or a kill must not stop the reaper
        reaper.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert alive(reaper.pid)
        maker.kill()
        maker.wait(timeout=10)
        assert wait_gone(pids.values(), timeout=5) == []
        assert not group_alive(pids["child"], timeout=5)
        reaper.wait(timeout=5)  # and the reaper itself is gone
    finally:
        maker.kill()
        maker.wait()
        if maker.stdout is not None:
            maker.stdout.close()
        if group_alive(pids["child"]):  # do not leave sleepers behind a failed test
            os.killpg(pids["child"], signal.SIGKILL)


def test_close_stops_the_reaper(tmp_path: Path) -> None:
    executor = LocalExecutor()
    run(executor, make_task(tmp_path, command("one", "true")))
    reaper = executor._reaper
    assert reaper is not None and alive(reaper.pid)
    executor.close()
    assert not alive(reaper.pid)
    executor.close()  # twice is fine


def test_without_pidfd_the_exit_is_still_seen(
    executor: LocalExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernels before 5.3 have no pidfd_open: exits are then checked without reaping."""
    monkeypatch.setattr(local, "open_pidfd", lambda pid: None)
    sink = Collector()
    script = 'sleep 300 & echo "pid $!"; echo done; exit 4'
    result = run(executor, make_task(tmp_path, loader("old-kernel", script)), sink)
    assert (result.status, result.exit_code) == (MemberStatus.FAILED, 4)
    assert sink.lines()[1:] == ["done"]
    assert wait_gone([int(sink.lines()[0].split()[1])], timeout=2) == []
    timed = run(executor, make_task(tmp_path, loader("old-slow", "sleep 300", timeout=0.2)))
    assert timed.error == "timed out after 0.2s"


def test_abort_escalates_to_sigkill_after_grace(executor: LocalExecutor, tmp_path: Path) -> None:
    sink = Collector()
    member = loader("deaf", "trap '' TERM; echo ready; sleep 300")
    future = executor.submit(make_task(tmp_path, member), sink)
    sink.wait_for(1)
    started = time.monotonic()
    executor.abort()
    assert 0.4 <= time.monotonic() - started < 5  # grace is 0.5 s
    result = future.result(timeout=5)
    assert (result.status, result.exit_code) == (MemberStatus.ABORTED, -signal.SIGKILL)


def test_local_members_have_no_identity_to_resolve(executor: LocalExecutor) -> None:
    assert executor.resolve(command("any", "true")) is None
