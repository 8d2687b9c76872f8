"""One member process, its process group and its cell: starting words, exit statuses,
signals.

The group and the cell (see ``containment``), not just the main process, are what orecart
stops; the group id stays valid until the leader is reaped, which ``ProcessGroup.reap``
does last, so no signal reaches a reused id.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from orecart.executors.containment import Cell
from orecart.model import Member, MemberStatus


def command_of(member: Member) -> list[str] | None:
    """The argv to execute: ``run`` as is, ``shell`` through /bin/sh; None when neither."""
    if member.run:
        return list(member.run)
    if member.shell is not None:
        return ["/bin/sh", "-c", member.shell]
    return None


def spawn_error(exc: Exception, program: str) -> str:
    """Why Popen could not start ``program``, in the words a user looks for."""
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {program}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {program}"
    if isinstance(exc, OSError):
        return f"cannot start {program}: {exc.strerror or exc}"
    return f"cannot start {program}: {exc}"


def launch_problem(program: str, cwd: Path, path: str | None) -> OSError | None:
    """Why ``program`` cannot be executed from ``cwd`` with ``PATH`` = ``path`` (looked up as
    execvpe would), or None: checked before a start through the cell's shell, which would
    otherwise report a missing program as its own exit code 127."""
    if "/" in program:
        file = cwd / program
        if not file.is_file():
            return FileNotFoundError(program)
        return None if os.access(file, os.X_OK) else PermissionError(program)
    search = path or os.defpath
    known = _found.get((program, search))
    if known is not None and _runnable(known):
        return None
    found = shutil.which(program, path=search)
    if found is None:
        return FileNotFoundError(program)
    if len(_found) >= FOUND_KEPT:
        _found.clear()
    _found[(program, search)] = found
    return None


#: Where a program was last found on a PATH, by (program, PATH): checking that file again
#: is a few system calls where walking the PATH is one per folder in it, per attempt. A
#: program found is still found as long as that file is there (an earlier folder may hold
#: another, but then that one is found: either way it can be run).
_found: dict[tuple[str, str], str] = {}
FOUND_KEPT = 1024


def _runnable(file: str) -> bool:
    """What ``shutil.which`` asks of a file it finds."""
    return os.access(file, os.X_OK) and not os.path.isdir(file)


#: What /bin/sh exits with when it cannot run the command it was given (POSIX).
SHELL_COULD_NOT_RUN = {127: "command not found", 126: "command not executable"}


def exit_outcome(code: int | None, shell: bool = False) -> tuple[MemberStatus, str | None]:
    """Status and error for a process that ended on its own with ``code`` (None: unknown).

    Through a shell, 127 and 126 mean the command could not be run at all: errored."""
    if code is None:
        return MemberStatus.ERRORED, "the exit status could not be determined"
    if shell and code in SHELL_COULD_NOT_RUN:
        return MemberStatus.ERRORED, f"{SHELL_COULD_NOT_RUN[code]} (shell exit code {code})"
    if code == 0:
        return MemberStatus.SUCCEEDED, None
    if code > 0:
        return MemberStatus.FAILED, f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return MemberStatus.FAILED, f"killed by {name}"


def open_pidfd(pid: int) -> int | None:
    """A pidfd that polls readable when ``pid`` exits; None where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def has_exited(pid: int) -> bool:
    """Whether ``pid`` has exited, without reaping it (the zombie keeps its group id)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class ProcessGroup:
    """A started member process, its process group and its cell; signals never reach a
    reused group id."""

    def __init__(self, process: subprocess.Popen[bytes], cell: Cell) -> None:
        self.process = process
        self.cell = cell
        self.pgid = process.pid  # start_new_session: the leader's pid is the group id
        self._lock = threading.Lock()
        self._reaped = False
        self._code: int | None = None

    def signal(self, signum: int) -> None:
        with self._lock:
            if not self._reaped:
                self._killpg(signum)
                self.cell.signal(signum, self.process.pid)

    def reap(self, before: Callable[[int], None]) -> int | None:
        """Kill what the exited leader left in its group and cell, call ``before``, then
        reap it.

        Until ``waitpid`` the leader is a zombie that holds the group id, so the kill and
        ``before`` (unregistering from the reaper) cannot hit a reused id.
        """
        with self._lock:
            if self._reaped:
                return self._code
            self._killpg(signal.SIGKILL)
            self.cell.finish(self.process.pid)
            before(self.pgid)
            self._reaped = True
            try:
                _, status = os.waitpid(self.process.pid, 0)
            except ChildProcessError:
                self.process.returncode = -1  # keeps subprocess from waiting on it later
                return None
            self._code = os.waitstatus_to_exitcode(status)
            self.process.returncode = self._code
            return self._code

    def _killpg(self, signum: int) -> None:
        try:
            os.killpg(self.pgid, signum)
        except OSError:
            pass  # the group is already empty
