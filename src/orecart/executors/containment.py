"""Containment: where a local member's processes are kept, so every one can be found and killed.

A process group is not enough: ``setsid``, ``setpgid`` and daemons that double-fork leave
it. So each attempt gets a *cell* that nothing it starts can leave:

- ``Cgroups`` (where the machine allows it): a cgroup v2 per attempt, under one per
  executor (``<own cgroup>/orecart-<pid>-<n>/a<k>``). The child moves itself into its
  cgroup before it execs, so even its first fork is inside; SIGKILL is ``cgroup.kill``,
  other signals go to every pid in ``cgroup.procs``. Only a privileged process that writes
  itself into another cgroup gets out.
- ``Subreaper`` (the fallback): orecart becomes a child subreaper (``PR_SET_CHILD_SUBREAPER``),
  so orphaned descendants are re-parented to it rather than to init, and every member
  process carries ``ORECART_CELL=<tag>`` in its environment. A cell's processes are the
  main process's descendants plus every process whose environment carries the tag.
  Limitation: a process that is orphaned *and* execs with an environment without the tag
  is no longer found.

``choose`` picks one: ``ORECART_CONTAINMENT`` (or the executor's ``containment`` option)
is ``auto`` (the default: cgroups when a cgroup can be made here), ``cgroup`` or
``subreaper``. Each containment also tells the reaper (``guard``) what to kill if orecart
dies by ``kill -9``: the executor's cgroup, or the tag.

Call outline: ``choose() -> guard(reaper) -> cell() -> Cell.command (the argv to start) ->
signal(...) ... -> finish()`` (kills what is left) ``-> close()``.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import secrets
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import psutil

from orecart.errors import ExecutorError, UsageError
from orecart.executors.reaper import (
    EMPTY_WAIT,
    TAG,
    kill_all,
    kill_until_gone,
    remove_cgroup,
    tagged,
)

MODES = ("auto", "cgroup", "subreaper")
_PR_SET_CHILD_SUBREAPER = 36
__all__ = ["TAG", "Cell", "Containment", "Cgroups", "Subreaper", "choose", "cgroup_dir"]


class Guard(Protocol):
    """What the reaper offers a containment (see ``reaper.Reaper``)."""

    def register_cgroup(self, path: Path) -> None: ...

    def register_tag(self, tag: str) -> None: ...


class Cell(Protocol):
    """The processes of one attempt."""

    env: dict[str, str]  # added to the member's environment

    def command(self, argv: list[str]) -> list[str]:
        """The argv that starts ``argv`` inside the cell."""
        ...

    def signal(self, signum: int, main: int) -> None:
        """Send ``signum`` to every process in the cell (``main``: its live leader)."""
        ...

    def finish(self, main: int | None) -> None:
        """SIGKILL everything left in the cell (``main``, the exited leader, excepted)
        and release it; None when the process could not be started."""
        ...


class Containment(Protocol):
    """Makes cells; one per executor. ``guards_groups``: the reaper must also be told
    each process group (False where what ``guard`` registers already holds every one)."""

    name: str
    guards_groups: bool

    def guard(self, reaper: Guard) -> None: ...

    def cell(self) -> Cell: ...

    def close(self) -> None: ...


# -- cgroup v2 --------------------------------------------------------------------------


def cgroup_dir() -> Path | None:
    """This process's cgroup v2 folder, or None where there is no cgroup v2 hierarchy."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    path = next((line[3:] for line in own if line.startswith("0::")), None)
    mount = next((m.split()[4] for m in mounts if " - cgroup2 " in m), None)
    if path is None or mount is None:
        return None
    return Path(mount) / path.lstrip("/")


#: Joins the cgroup whose ``cgroup.procs`` is ``$0``, then becomes the member's command: the
#: shell's own ``echo`` moves the shell itself, so the member and all it starts are inside.
#: A shell, not ``preexec_fn``: that forks the whole orecart process (milliseconds, growing
#: with its heap) where a plain start is a vfork.
_JOIN = 'echo 0 > "$0" && exec "$@"'


class _CgroupCell:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.env: dict[str, str] = {}

    def command(self, argv: list[str]) -> list[str]:
        return ["/bin/sh", "-c", _JOIN, str(self.path / "cgroup.procs"), *argv]

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def signal(self, signum: int, main: int) -> None:
        if signum == signal.SIGKILL:
            _write(self.path / "cgroup.kill", "1")
            return
        kill_all(self.pids(), signum)

    def finish(self, main: int | None) -> None:
        if _removed(self.path):  # only an empty cgroup can be: nothing was left to kill
            return
        deadline = time.monotonic() + EMPTY_WAIT
        _write(self.path / "cgroup.kill", "1")
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        _removed(self.path)  # if still busy, the executor's close (or the reaper) removes it


def _removed(path: Path) -> bool:
    """Remove the cgroup ``path``; False while a process is in it."""
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _sweep(base: Path) -> None:
    """Remove the empty cgroups that orecart processes which are gone left (their reaper
    died with them). One with processes is left alone: its orecart may live in another pid
    namespace."""
    for path in base.glob("orecart-*-*/"):
        pid = path.name.split("-")[1]
        if not pid.isdigit() or psutil.pid_exists(int(pid)):
            continue
        for folder in [*path.glob("a*/"), path]:
            try:
                folder.rmdir()  # only an empty cgroup can be removed
            except OSError:
                break


class Cgroups:
    """A cgroup v2 per attempt under one per executor. Raises ExecutorError when it cannot."""

    name = "cgroup"
    guards_groups = False  # the executor's cgroup holds every member process

    def __init__(self) -> None:
        base = cgroup_dir()
        if base is None:
            raise ExecutorError("no cgroup v2 hierarchy is mounted")
        _sweep(base)
        self.path = base / f"orecart-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.path.mkdir()
        except OSError as exc:
            raise ExecutorError(f"cannot make a cgroup in {base}: {exc.strerror}") from exc
        if not (self.path / "cgroup.kill").exists():  # Linux < 5.14
            self.path.rmdir()
            raise ExecutorError("this kernel's cgroups have no cgroup.kill")
        self._count = itertools.count(1)

    def guard(self, reaper: Guard) -> None:
        reaper.register_cgroup(self.path)

    def cell(self) -> Cell:
        path = self.path / f"a{next(self._count)}"
        try:
            path.mkdir()
        except OSError as exc:
            raise ExecutorError(f"cannot make the member's cgroup {path}: {exc.strerror}") from exc
        return _CgroupCell(path)

    def close(self) -> None:
        """Kill what is left in the executor's cgroup and remove it with its cells."""
        remove_cgroup(self.path)


# -- the subreaper fallback ---------------------------------------------------------------


class _TaggedCell:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.env = {TAG: tag}

    def command(self, argv: list[str]) -> list[str]:
        return argv

    def pids(self, main: int | None) -> set[int]:
        found = set(tagged(self.tag))
        if main:
            try:
                found.update(c.pid for c in psutil.Process(main).children(recursive=True))
            except psutil.Error:
                pass
        found.discard(main or 0)
        return found

    def signal(self, signum: int, main: int) -> None:
        kill_all(self.pids(main) | {main}, signum)

    def finish(self, main: int | None) -> None:
        _reap_adopted(kill_until_gone(lambda: self.pids(main)))


class Subreaper:
    """orecart as a child subreaper, and a tag in every member's environment."""

    name = "subreaper"
    guards_groups = True  # a group leader that dropped its tag is found by its group

    def __init__(self) -> None:
        try:
            done = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (AttributeError, OSError):  # not Linux
            raise ExecutorError("cannot become a subreaper: no prctl here") from None
        if done != 0:
            raise ExecutorError(f"cannot become a subreaper: {os.strerror(ctypes.get_errno())}")
        self.prefix = f"{os.getpid()}-{secrets.token_hex(4)}."
        self._count = itertools.count(1)

    def guard(self, reaper: Guard) -> None:
        reaper.register_tag(self.prefix)

    def cell(self) -> Cell:
        return _TaggedCell(f"{self.prefix}{next(self._count)}")

    def close(self) -> None:
        kill_all(tagged(self.prefix, prefix=True), signal.SIGKILL)


def _reap_adopted(pids: Iterable[int]) -> None:
    """Reap killed processes that were re-parented to orecart, once they are dead."""
    deadline = time.monotonic() + EMPTY_WAIT
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                break  # not our child: its own parent reaps it
            time.sleep(0.005)


# -- choosing -------------------------------------------------------------------------------


def mode_of(mode: str | None = None) -> str:
    """``mode``, else ``ORECART_CONTAINMENT``, else ``auto``; an unknown one is bad input
    (a ``UsageError``, refused before any run starts, not a member errored)."""
    mode = mode or os.environ.get("ORECART_CONTAINMENT") or "auto"
    if mode not in MODES:
        known = ", ".join(MODES)
        raise UsageError(f"ORECART_CONTAINMENT: unknown containment {mode!r}; known: {known}")
    return mode


def choose(mode: str | None = None) -> Containment:
    """The containment for ``mode`` (see ``mode_of``)."""
    mode = mode_of(mode)
    if mode == "subreaper":
        return Subreaper()
    try:
        return Cgroups()
    except ExecutorError:
        if mode == "cgroup":
            raise
    return Subreaper()


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass  # gone already
