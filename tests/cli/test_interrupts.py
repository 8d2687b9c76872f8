"""Ctrl-C, SIGTERM and kill -9 of orecart: nothing left running, and the next run resumes."""

from __future__ import annotations

import ctypes
import fcntl
import os
import pty
import signal
import subprocess
import termios
import time
from pathlib import Path

import psutil
from tests.cli.conftest import Cli

# `fast` succeeds at once; `slow` starts a grandchild and waits for it, recording both pids,
# unless the marker file exists (the second run), when it succeeds at once.
PIPELINE = """
pipeline: interrupted
settings: {max_parallel: 4}
members:
  - {name: fast, shell: 'echo done'}
  - name: slow
    shell: |
      if [ -f "$MARKER" ]; then echo resumed; exit 0; fi
      sleep 300 &
      echo "$$ $!" > "$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
      wait
  - {name: later, shell: 'echo later', needs: [slow]}
"""


def wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def gone(pids: list[int], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def start_slow_run(cli: Cli, tmp_path: Path) -> tuple[object, list[int], dict[str, str]]:
    cli.write(
        PIPELINE.replace("$MARKER", str(tmp_path / "marker")).replace(
            "$PIDS", str(tmp_path / "pids")
        )
    )
    env = {"MARKER": str(tmp_path / "marker"), "PIDS": str(tmp_path / "pids")}
    process = cli.start("run", "pipeline.yaml", env=env)
    wait_for(tmp_path / "pids")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    recorded(cli, "fast", "succeeded")
    return process, pids, env


def recorded(cli: Cli, member: str, status: str, seconds: float = 20) -> None:
    """Wait until the run's record holds ``member`` with ``status`` (on a loaded machine
    a member that exits at once may still be in flight when its neighbour has started)."""
    deadline = time.monotonic() + seconds
    while True:
        done = cli("status", "pipeline.yaml", "--json")
        if done.code == 0 and done.out.strip():
            members = {m["member"]: m["status"] for m in done.json()["members"]}
            if members.get(member) == status:
                return
        assert time.monotonic() < deadline, f"{member} never recorded {status}"
        time.sleep(0.1)


def test_kill_9_leaves_nothing_running_and_the_rerun_resumes(cli: Cli, tmp_path: Path) -> None:
    process, pids, env = start_slow_run(cli, tmp_path)
    os.kill(process.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    process.wait(timeout=10)  # type: ignore[attr-defined]
    assert gone(pids), "member processes survived kill -9 of orecart"
    dead = cli("status", "pipeline.yaml", "--json").json()  # a dead run never shows running
    assert dead["run"]["status"] == "aborted"
    assert cli("logs", dead["run"]["id"], "slow", "-f", timeout=20).code == 0
    (tmp_path / "marker").touch()
    rerun = cli("run", "pipeline.yaml", env=env)
    assert rerun.code == 0, rerun.err
    history = cli("runs", "pipeline.yaml", "--json").json()
    assert [r["status"] for r in history] == ["succeeded", "aborted"]
    data = cli("status", "pipeline.yaml", "--json").json()
    assert {m["member"]: m["status"] for m in data["members"]} == {
        "fast": "skipped",
        "slow": "succeeded",
        "later": "succeeded",
    }
    old = cli("show", history[1]["id"], "--json").json()
    slow = next(m for m in old["members"] if m["member"] == "slow")
    assert slow["status"] == "aborted"


def test_ctrl_c_aborts_members_and_exits_130(cli: Cli, tmp_path: Path) -> None:
    process, pids, _ = start_slow_run(cli, tmp_path)
    process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
    _, err = process.communicate(timeout=30)  # type: ignore[attr-defined]
    assert process.returncode == 130, err  # type: ignore[attr-defined]
    assert gone(pids, 2)
    data = cli("status", "pipeline.yaml", "--json").json()
    assert data["run"]["status"] == "aborted"
    members = {m["member"]: m["status"] for m in data["members"]}
    assert members == {"fast": "succeeded", "slow": "aborted", "later": "cancelled"}


def test_sigterm_is_handled_like_ctrl_c(cli: Cli, tmp_path: Path) -> None:
    process, pids, _ = start_slow_run(cli, tmp_path)
    process.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    process.communicate(timeout=30)  # type: ignore[attr-defined]
    assert process.returncode == 130  # type: ignore[attr-defined]
    assert gone(pids, 2)


def test_a_second_ctrl_c_kills_at_once(cli: Cli, tmp_path: Path) -> None:
    cli.write(f"""
pipeline: stubborn
members:
  - name: deaf
    shell: |
      trap '' TERM
      sleep 300 &
      echo "$$ $!" > {tmp_path}/pids.tmp && mv {tmp_path}/pids.tmp {tmp_path}/pids
      wait
""")
    process = cli.start("run", "pipeline.yaml")
    wait_for(tmp_path / "pids")
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    process.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert process.poll() is None, "the first Ctrl-C should wait for the members to stop"
    assert all(psutil.pid_exists(p) for p in pids)  # they ignore SIGTERM
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=4)
    assert process.returncode == 130
    assert gone(pids, 2)


def test_ctrl_c_received_by_another_thread_still_stops_the_run(
    cli: Cli, tmp_path: Path
) -> None:
    # The kernel hands a process-directed signal to any thread that does not block it;
    # Python runs the handler only in the main thread, which must not sleep through it.
    process, pids, _ = start_slow_run(cli, tmp_path)
    own = process.pid  # type: ignore[attr-defined]
    try:
        assert _to_a_worker_thread(own, signal.SIGINT), "no worker thread took the signal"
        process.communicate(timeout=30)  # type: ignore[attr-defined]
        assert process.returncode == 130  # type: ignore[attr-defined]
        assert gone(pids, 2)
    finally:
        process.kill()  # type: ignore[attr-defined]
        process.communicate()  # type: ignore[attr-defined]


def _to_a_worker_thread(pid: int, sig: int) -> bool:
    """Send ``sig`` to one thread of ``pid`` other than its main thread (tgkill)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for thread in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")):
        if thread != pid and libc.tgkill(pid, thread, sig) == 0:
            return True  # a thread that has ended since the listing fails with ESRCH
    return False


def test_a_closed_terminal_aborts_the_run_and_it_still_exits_130(cli: Cli, tmp_path: Path) -> None:
    # A real hang-up: orecart's controlling terminal is a pty whose master is closed. Its
    # live display then writes to a terminal that is gone (EIO), which must not end the
    # command as an internal error.
    cli.write(f"""
pipeline: hangup
members:
  - name: talker
    shell: |
      echo ready > {tmp_path}/ready
      while :; do echo tick; sleep 0.05; done
""")
    master, slave = pty.openpty()
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(
            cli.command("run", "pipeline.yaml"), cwd=tmp_path, env=cli.env(),
            stdin=slave, stdout=slave, stderr=stderr, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
    os.close(slave)
    try:
        wait_for(tmp_path / "ready")
        time.sleep(0.3)  # the live display is drawing
        os.read(master, 1 << 16)
        os.close(master)  # the kernel sends SIGHUP to the terminal's session
        assert process.wait(timeout=30) == 130, (tmp_path / "stderr").read_text()
    finally:
        process.kill()
        process.wait()
    assert "internal error" not in (tmp_path / "stderr").read_text()
    data = cli("status", "pipeline.yaml", "--json").json()
    assert [m["status"] for m in data["members"]] == ["aborted"]
