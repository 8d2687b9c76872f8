"""A real ``orecart serve`` in a subprocess, and the real CLI talking to it.

``served`` gives a ``Served``: it writes pipeline files into the test's folder, starts
``python -m orecart serve`` (its stderr in a file, read while it runs), runs CLI commands,
and waits on conditions with deadlines. Every serve it started is killed at teardown.
Members count their own executions by appending to files, so "ran once" is the member's
word, not orecart's records.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from orecart.model import MemberRun, Run
from orecart.service import RunRequest, Source, Tools
from orecart.stores import StateStore, open_store
from tests.cli.conftest import Cli, Done

T = TypeVar("T")

#: how long a condition may take before a test fails (members here take well under 1 s)
DEADLINE_S = 15.0


def wait_until(check: Callable[[], T], what: str, timeout: float = DEADLINE_S) -> T:
    """Poll ``check`` until it returns something truthy; that value. Fails the test with
    ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout}s for {what}; last: {value!r}")
        time.sleep(0.05)


class Serve:
    """One ``orecart serve`` process; ``log`` is its stderr so far."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process, self.log_path = process, log

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = DEADLINE_S) -> str:
        """serve's log once it holds ``text`` (fails at once when serve has exited)."""
        def written() -> str | None:
            log = self.log()
            if text in log:
                return log
            assert self.process.poll() is None, f"serve exited {self.process.returncode}:\n{log}"
            return None

        return wait_until(written, f"{text!r} in serve's log", timeout)

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = DEADLINE_S) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Served(Cli):
    """The CLI of a folder, able to start serve processes on it."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.serves: list[Serve] = []

    def serve(self, *args: str, ready: bool = True) -> Serve:
        """Start ``orecart serve ARGS``; with ``ready``, wait until it serves."""
        log = self.folder / f"serve-{len(self.serves)}.err"
        with log.open("w") as err:
            process = subprocess.Popen(self.command("serve", *args), cwd=self.folder,
                                       env=self.env(), stdout=subprocess.DEVNULL,
                                       stderr=err, text=True)
        serve = Serve(process, log)
        self.serves.append(serve)
        if ready:
            serve.wait_log("serving ")
        return serve

    def ok(self, *args: str) -> Done:
        done = self(*args)
        assert done.code == 0, f"orecart {' '.join(args)}: exit {done.code}\n{done.err}"
        return done

    def store(self, file: str = "pipeline.yaml") -> StateStore:
        """The state store beside ``file``, read-only (fast: no CLI process per poll)."""
        return open_store(f"sqlite:///{(self.folder / file).parent}/.orecart/state.db",
                          read_only=True)

    def runs(self, file: str = "pipeline.yaml") -> list[Run]:
        """Every run in the store beside ``file``, oldest first."""
        store = self.store(file)
        try:
            return list(reversed(store.runs(None, limit=1000)))
        finally:
            store.close()

    def run(self, run_id: str, file: str = "pipeline.yaml") -> tuple[Run, list[MemberRun]]:
        """The run and its member runs, from the store."""
        store = self.store(file)
        try:
            return store.get_run(run_id), store.member_runs(run_id)
        finally:
            store.close()

    def status_of(self, run_id: str, file: str = "pipeline.yaml") -> str:
        return str(self.run(run_id, file)[0].status)

    def wait_status(self, run_id: str, status: str, file: str = "pipeline.yaml",
                    timeout: float = DEADLINE_S) -> tuple[Run, list[MemberRun]]:
        def reached() -> tuple[Run, list[MemberRun]] | None:
            shown = self.run(run_id, file)
            return shown if shown[0].status == status else None

        return wait_until(reached, f"run {run_id} {status}", timeout)

    def submit(self, *args: str, file: str = "pipeline.yaml") -> str:
        """Submit a run; its id."""
        return self.ok("submit", file, *args).out.strip()

    def enqueue(self, key: str | None = None, file: str = "pipeline.yaml") -> str:
        """Submit a run as ``orecart submit FILE [--key KEY]`` does, in this process (fast:
        for tests whose subject is not the submit command); its id."""
        tools = Tools(self.env())
        source = Source(self.folder / file)
        request = RunRequest(tools.load(source).name, key=key, origin="cli")
        return tools.submit(source, request).run.id


class PgServed(Served):
    """``Served`` whose CLI and serves use the PostgreSQL state store ``url`` (and
    ``environ`` beside it); ``serve(..., host=NAME)`` starts a serve that sees itself on
    host NAME (its own UTS namespace), so that no serve can judge another by its pid:
    they are as on separate machines."""

    def __init__(self, folder: Path, url: str, environ: dict[str, str] | None = None) -> None:
        super().__init__(folder)
        self.url, self.environ = url, dict(environ or {})
        self._host: str | None = None

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return super().env({"ORECART_STATE": self.url, **self.environ, **(extra or {})})

    def serve(self, *args: str, ready: bool = True, host: str | None = None) -> Serve:
        self._host = host
        try:
            return super().serve(*args, ready=ready)
        finally:
            self._host = None

    def command(self, *args: str) -> list[str]:
        command = super().command(*args)
        if self._host is None:
            return command
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self._host,
                *command]


def lines(path: Path) -> list[str]:
    """The lines a member appended to ``path`` (none when it never ran)."""
    return path.read_text().split() if path.exists() else []


def held_pipeline(count: Path, pids: Path, gate: Path, seconds: int = 20) -> str:
    """A pipeline ``held`` whose one member appends its run id to ``count``, starts a
    child, writes "shell-pid child-pid" to ``pids``/<run id>, then waits (at most
    ``seconds``) for ``gate`` to exist."""
    polls = seconds * 20
    return f"""
pipeline: held
members:
  - name: work
    rerun: always
    shell: |
      echo "$ORECART_RUN_ID" >> {count}
      sleep {seconds} &
      out={pids}/$ORECART_RUN_ID
      echo "$$ $!" > "$out.tmp" && mv "$out.tmp" "$out"
      i=0; while [ ! -f {gate} ] && [ $i -lt {polls} ]; do sleep 0.05; i=$((i+1)); done
      kill $! 2>/dev/null
      exit 0
"""


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is gone too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
    return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    folder = Served(tmp_path)
    try:
        yield folder
    finally:
        for serve in folder.serves:
            if serve.process.poll() is None:
                serve.process.send_signal(signal.SIGKILL)
                serve.process.wait(timeout=10)
