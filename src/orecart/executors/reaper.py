"""The reaper: a watchdog process that kills member process groups orecart left behind.

When orecart dies by ``kill -9`` (or the OOM killer) nothing in it runs any more, and
``PR_SET_PDEATHSIG`` would reach only direct children, not the grandchildren a shell
script starts. So each LocalExecutor starts one small reaper process and tells it, over a
pipe on the reaper's stdin, every process group it starts (``+PGID``) and every group it
has finished with (``-PGID``). The kernel closes the pipe when orecart dies, however it
dies; on that end of file the reaper SIGKILLs every group still registered and exits.

The reaper runs in its own session and ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C
sent to orecart's terminal (or a hang-up) does not take it down before it has done its
work; it ends only on end of file. It imports nothing but the standard library so it
starts in a few tens of milliseconds, once per executor.

Limitation: a member that leaves its process group (``setsid``, ``setpgid``, a daemon
that double-forks into a new session) escapes both the reaper and timeout kills.

Call outline (orecart side): ``Reaper.start() -> register(pgid) / unregister(pgid) ...
-> close()``. Reaper side: ``python -m orecart.executors.reaper`` runs ``main()``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable

STOP_TIMEOUT = 5.0  # seconds close() waits for the reaper to exit
#: A Ctrl-C or hang-up of orecart's terminal, or a polite kill, must not end the reaper.
IGNORED = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def apply(groups: set[int], message: bytes) -> None:
    """Apply one protocol line (``+PGID`` or ``-PGID``) to the registered ``groups``."""
    text = message.strip()
    if len(text) < 2 or not text[1:].isdigit():
        return  # not ours; ignore rather than die and leave the groups unguarded
    pgid = int(text[1:])
    if text[:1] == b"+" and pgid > 1:
        groups.add(pgid)
    elif text[:1] == b"-":
        groups.discard(pgid)


def kill_groups(groups: Iterable[int]) -> None:
    """SIGKILL every process group in ``groups``; groups already gone are fine."""
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass


def main() -> int:
    """Reaper process: read registrations until end of file, then kill what is left."""
    for signum in IGNORED:
        signal.signal(signum, signal.SIG_IGN)
    os.chdir("/")  # do not keep a member's or a test's folder busy
    groups: set[int] = set()
    for message in sys.stdin.buffer:
        apply(groups, message)
    kill_groups(groups)
    return 0


def command() -> list[str]:
    """How to start the reaper: this file run by the same interpreter, isolated.

    Run as a script (not ``-m``) so starting it never imports the orecart package.
    """
    if os.path.isfile(__file__):
        return [sys.executable, "-I", "-S", __file__]
    return [sys.executable, "-m", "orecart.executors.reaper"]


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
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, IGNORED)
        try:
            process = subprocess.Popen(
                command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                bufsize=0,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return cls(process)

    @property
    def pid(self) -> int:
        return self._process.pid

    def register(self, pgid: int) -> None:
        """Guard process group ``pgid``: the reaper kills it if orecart dies."""
        self._send(f"+{pgid}\n")

    def unregister(self, pgid: int) -> None:
        """Stop guarding ``pgid``; call before reaping its leader, so the id cannot be reused."""
        self._send(f"-{pgid}\n")

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
