"""The reaper: a watchdog process that kills the member processes orecart left behind.

When orecart dies by ``kill -9`` (or the OOM killer) nothing in it runs any more, and
``PR_SET_PDEATHSIG`` would reach only direct children, not the grandchildren a shell
script starts. So each LocalExecutor starts one small reaper process and tells it, over a
pipe on the reaper's stdin, what to kill: its containment (see ``containment``): its
cgroup (``+/sys/fs/cgroup/...``) or the tag its members carry in their environment
(``+=TAG``), and, where that does not hold every member process already (the tags), every
process group it starts (``+PGID``) and finishes with (``-PGID``).
The kernel closes the pipe when orecart dies, however it dies; on that end of file the
reaper SIGKILLs every group still registered, kills and removes the cgroups, kills every
process carrying a registered tag, and exits.

The reaper runs in its own session and ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C
sent to orecart's terminal (or a hang-up) does not take it down before it has done its
work; it ends only on end of file. It imports nothing but the standard library so it
starts in a few tens of milliseconds, once per executor; the killing helpers live here
for that reason, and ``containment`` uses them too.

Call outline (orecart side): ``Reaper.start() -> register(pgid) / unregister(pgid) ...
register_cgroup / register_tag -> close()``. Reaper side: ``python -m
orecart.executors.reaper`` runs ``main()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

STOP_TIMEOUT = 5.0  # seconds close() waits for the reaper to exit
EMPTY_WAIT = 2.0  # seconds to wait for a killed cgroup to be empty before removing it
TAG = "ORECART_CELL"  # the environment variable that marks a member's processes
KILL_ROUNDS = 20  # scans for tagged processes: one may fork while it is being killed
#: A Ctrl-C or hang-up of orecart's terminal, or a polite kill, must not end the reaper.
IGNORED = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


#: What the reaper guards: process group ids, cgroup folders ("/...") and tags ("=...").
Guarded = set[int | str]


def apply(guarded: Guarded, message: bytes) -> None:
    """Apply one protocol line (``+ITEM`` or ``-ITEM``) to the ``guarded`` items."""
    text = message.strip().decode(errors="replace")
    sign, item = text[:1], text[1:]
    value: int | str
    if item.isdigit() and int(item) > 1:
        value = int(item)
    elif item[:1] == "/" or (item[:1] == "=" and len(item) > 1):
        value = item
    else:
        return  # not ours (or init's group, a broadcast); ignore rather than die
    if sign == "+":
        guarded.add(value)
    elif sign == "-":
        guarded.discard(value)


def kill_groups(groups: Iterable[int]) -> None:
    """SIGKILL every process group in ``groups``; groups already gone are fine."""
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def kill_all(pids: Iterable[int], signum: int = signal.SIGKILL) -> None:
    """Send ``signum`` to every pid; those already gone are fine."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def tagged(tag: str, prefix: bool = False) -> list[int]:
    """Pids of the processes whose environment holds ``ORECART_CELL=<tag>`` (with
    ``prefix``: a value that starts with ``tag``), this one excepted."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as env:
                items = env.read().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read (so not ours to kill)
        if any(item.startswith(needle) if prefix else item == needle for item in items):
            found.append(int(entry.name))
    return found


def kill_until_gone(find: Callable[[], Iterable[int]]) -> set[int]:
    """SIGKILL what ``find`` lists, again and again, until it lists nothing new (or the
    rounds run out): a process may fork while it is being killed. The pids killed."""
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):
        left = set(find()) - killed
        if not left:
            break
        kill_all(left)
        killed |= left
    return killed


def kill_tagged(tag: str, prefix: bool = False) -> set[int]:
    """SIGKILL every process tagged ``tag`` until none is left (or rounds run out)."""
    return kill_until_gone(lambda: tagged(tag, prefix))


def remove_cgroup(path: Path) -> None:
    """Kill everything in cgroup ``path`` (its children too), then remove it bottom-up."""
    if not path.is_dir():
        return
    deadline = time.monotonic() + EMPTY_WAIT
    for folder in [*sorted(p for p in path.iterdir() if p.is_dir()), path]:
        while True:
            _kill_cgroup(path)  # again each pass: a member's shell may join it only now
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # busy until its killed processes have exited
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.01)


def _kill_cgroup(path: Path) -> None:
    try:
        (path / "cgroup.kill").write_text("1")
    except OSError:
        pass  # gone already, or a kernel without cgroup.kill


def kill_guarded(guarded: Guarded) -> None:
    """Kill everything ``guarded`` holds: groups, cgroups and tagged processes."""
    kill_groups(item for item in guarded if isinstance(item, int))
    for item in guarded:
        if isinstance(item, str) and item.startswith("/"):
            remove_cgroup(Path(item))
        elif isinstance(item, str):
            kill_tagged(item[1:], prefix=True)


def main() -> int:
    """Reaper process: read registrations until end of file, then kill what is left."""
    for signum in IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    os.chdir("/")  # do not keep a member's or a test's folder busy
    guarded: Guarded = set()
    for message in sys.stdin.buffer:
        apply(guarded, message)
    kill_guarded(guarded)
    return 0


def command() -> list[str]:
    """How to start the reaper: this file run by the same interpreter, isolated.

    Run as a script (not ``-m``) so starting it never imports the orecart package.
    """
    if os.path.isfile(__file__):
        return [sys.executable, "-I", "-S", __file__]
    return [sys.executable, "-m", "orecart.executors.reaper"]


def watchdog(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` as a watchdog: in its own session, stdin a pipe whose end of file
    says its owner is gone, immune to IGNORED from the start (see ``Reaper.start``)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, IGNORED)
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            bufsize=0,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Reaper:
    """orecart's end of the pipe to one reaper process. Thread-safe."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._lock = threading.Lock()
        assert process.stdin is not None
        self._fd: int | None = process.stdin.fileno()

    @classmethod
    def start(cls) -> Reaper:
        """Start a reaper in its own session. Raises OSError when it cannot be started.

        The signals it ignores are blocked in this thread while it is forked: the blocked
        mask survives exec, so the reaper is immune from its first instruction, not only
        once its interpreter has started and run ``main()`` some 50 ms later.
        """
        return cls(watchdog(command()))

    @property
    def pid(self) -> int:
        return self._process.pid

    def register(self, pgid: int) -> None:
        """Guard process group ``pgid``: the reaper kills it if orecart dies."""
        self._send(f"+{pgid}\n")

    def unregister(self, pgid: int) -> None:
        """Stop guarding ``pgid``; call before reaping its leader, so the id cannot be reused."""
        self._send(f"-{pgid}\n")

    def register_cgroup(self, path: Path) -> None:
        """Guard cgroup ``path``: the reaper kills what is in it and removes it."""
        self._send(f"+{path}\n")

    def register_tag(self, tag: str) -> None:
        """Guard every process whose ORECART_CELL starts with ``tag``."""
        self._send(f"+={tag}\n")

    def _send(self, message: str) -> None:
        # One write below PIPE_BUF is atomic; a dead reaper must not fail member runs.
        with self._lock:
            if self._fd is None:
                return
            try:
                os.write(self._fd, message.encode())
            except OSError:
                self._fd = None

    def close(self) -> None:
        """End the pipe (the reaper kills what is still registered and exits) and reap it."""
        with self._lock:
            self._fd = None
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    sys.exit(main())
