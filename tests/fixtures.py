"""Tiny loader fixtures in one place: members, tasks, output collectors and process checks.

Every test that needs a member or a ``Task`` builds it here, so the shape of a task
changes in one file. ``loader`` builds the same shell script as a member of any executor
kind, which is how the executor contract suite runs one test on local and docker.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from orecart.model import Container, Member, PullPolicy, Task
from orecart.secrets import secret_values

KINDS = ("local", "docker", "dask")


def loader(*args: str, **fields: Any) -> Member:
    """A member that runs ``script`` with ``sh -c``.

    Called as ``loader(name, script, kind="local", **member_fields)`` or, as the contract
    suite does, ``loader(kind, name, script, **member_fields)``. For ``local`` the script
    is the member's ``shell``; for ``docker`` it runs in the test busybox image; for
    ``dask`` it is a local member's ``shell`` again (run on a worker).
    """
    if len(args) == 3:
        kind, name, script = args
    elif len(args) == 2:
        name, script = args
        kind = fields.pop("kind", "local")
    else:
        raise TypeError("loader(name, script) or loader(kind, name, script)")
    if kind in ("local", "dask"):
        return Member(name=name, shell=script, **fields)
    if kind == "docker":
        from tests.services.docker import BUSYBOX_IMAGE  # only when docker tests run

        container = Container(
            image=BUSYBOX_IMAGE, command=("sh", "-c", script), pull=PullPolicy.IF_MISSING
        )
        return Member(name=name, container=container, **fields)
    raise ValueError(f"unknown executor kind {kind!r}; known: {', '.join(KINDS)}")


def command(name: str, *argv: str, **fields: Any) -> Member:
    """A local member that runs ``argv`` without a shell."""
    return Member(name=name, run=tuple(argv), **fields)


def make_task(tmp_path: Path, member: Member, **overrides: Any) -> Task:
    """A task for one attempt of ``member``, with the environment the runner would give.

    The env holds the member's env plus ORECART_RUN_ID, ORECART_MEMBER, ORECART_PARAMS and
    ORECART_ARTIFACTS (created); secrets are the values of secret-looking or declared
    names. ``overrides`` replace any Task field (``env`` given here is used as is).
    """
    run_id = overrides.pop("run_id", f"run-{uuid.uuid4().hex[:8]}")  # unique: container names
    artifacts = tmp_path / "runs" / run_id / member.name
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {
        **member.env,
        "ORECART_RUN_ID": run_id,
        "ORECART_MEMBER": member.name,
        "ORECART_PARAMS": "{}",
        "ORECART_ARTIFACTS": str(artifacts),
    }
    task = Task(
        run_id=run_id,
        pipeline="test",
        member=member,
        attempt=1,
        env=env,
        base_dir=tmp_path,
        artifacts=artifacts,
        inputs={},
        log_path=tmp_path / "logs" / run_id / f"{member.name}.log",
        secrets=secret_values(env, member.secrets),
    )
    if "env" in overrides and "secrets" not in overrides:
        overrides["secrets"] = secret_values(overrides["env"], member.secrets)
    return replace(task, **overrides)


class Collector:
    """An OutputSink that keeps every (member, line) it is given; thread-safe."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, member: str, line: str) -> None:
        with self._cond:
            self.items.append((member, line))
            self._cond.notify_all()

    def lines(self, member: str | None = None) -> list[str]:
        with self._cond:
            return [line for m, line in self.items if member is None or m == member]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        """Block until ``count`` lines arrived; fails the test when they do not."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"waited {timeout}s for {count} lines, got {self.items}")
            return [line for _, line in self.items]


def log_texts(path: Path, stream: str | None = None) -> list[str]:
    """The texts of a member-run log's lines, optionally of one stream only."""
    from orecart.executors.logfile import parse_line

    texts = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        parsed = parse_line(raw)
        assert parsed is not None, f"not a log line: {raw!r}"
        if stream is None or parsed.stream == stream:
            texts.append(parsed.text)
    return texts


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (zombies count as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_alive(pgid: int, timeout: float = 0.0) -> bool:
    """Whether any live process is still in process group ``pgid`` (after waiting up to
    ``timeout`` seconds for the group to end: killed processes take a moment to exit)."""
    deadline = time.monotonic() + timeout
    while _group_member(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _group_member(pgid)


def _group_member(pgid: int) -> bool:
    """Whether a live process is in process group ``pgid`` now."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def wait_gone(pids: Iterable[int], timeout: float = 5.0) -> list[int]:
    """Wait until none of ``pids`` is alive; returns the ones still alive at the timeout."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


#: A member script whose processes try every way out of its process group: ``setsid``, a
#: double fork into a new session, a new process group, and ``nohup`` with SIGTERM and
#: SIGHUP ignored; it writes ``$READY`` once all have started, then sleeps.
ESCAPER = r"""
setsid sleep 300 &
setsid sh -c 'sleep 300 & exit 0'
perl -e 'setpgrp(0, 0); sleep 300' &
nohup setsid sh -c 'trap "" TERM HUP; sleep 300' >/dev/null 2>&1 &
sleep 300 &
echo ready > "$READY"
wait
"""
ESCAPEES = 6  # live processes ESCAPER leaves besides its own shell (sh -c and sleeps)


def marked(token: str) -> list[int]:
    """Pids of live processes whose environment holds ``ESCAPE_TOKEN=token``."""
    needle = f"ESCAPE_TOKEN={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as env:
                if needle in env.read().split(b"\0"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_unmarked(token: str, timeout: float = 5.0) -> list[str]:
    """Wait until no process carries ``token``; the command lines of those still left."""
    deadline = time.monotonic() + timeout
    while marked(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = []
    for pid in marked(token):
        try:
            left.append(f"{pid}: {' '.join(psutil.Process(pid).cmdline())}")
        except psutil.Error:
            continue
    return left
