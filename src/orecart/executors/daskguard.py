"""The container guard of a Dask worker: image members die with the worker that runs them.

A worker process runs image members on its host's Docker Engine, and the daemon keeps a
container running when the worker is SIGKILLed (or OOM-killed): nothing in the worker runs
any more to stop it, and Dask runs the task again elsewhere, where it answers ``aborted``
without touching the first container. So every container a worker starts carries the
label ``orecart.dask.owner`` with the worker's own identity, and the worker's first image
attempt starts one guard process for it (a watchdog like the ``reaper``: its own session,
deaf to SIGINT/SIGTERM/SIGHUP, stdin a pipe from the worker). The kernel closes the pipe
when the worker dies, however it dies; on that end of file the guard removes (force, which
kills) every container and sidecar network carrying the worker's identity, and exits.
A worker that closes normally has removed its containers already; the guard finds none.

Call outline (worker side): ``owned(task)`` -> ``_guard()`` (started once) -> the task's
labels with ``LABEL_OWNER``. Guard side: ``python -m orecart.executors.daskguard OWNER``
runs ``main`` -> stdin to end of file -> ``sweep(owner)``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace

from orecart.model import Task

LABEL_OWNER = "orecart.dask.owner"  # the worker process whose containers these are
SWEEPS = 2  # a create the daemon had in progress when the worker died lands after the first
SWEEP_PAUSE = 0.5

_LOCK = threading.Lock()
_GUARD: tuple[str, subprocess.Popen[bytes]] | None = None


def owned(task: Task) -> Task:
    """``task`` with this worker's identity among its labels (its guard started first)."""
    return replace(task, labels={**task.labels, LABEL_OWNER: _guard()})


def _guard() -> str:
    """This worker process's identity; its guard is started on the first call."""
    global _GUARD
    from orecart.executors.reaper import watchdog

    with _LOCK:
        if _GUARD is None or _GUARD[1].poll() is not None:
            owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
            argv = [sys.executable, "-m", "orecart.executors.daskguard", owner]
            _GUARD = owner, watchdog(argv)
        return _GUARD[0]


def sweep(owner: str) -> int:
    """Remove the containers (and then the sidecar networks) labelled ``owner``; how many."""
    from orecart.executors import cleanup
    from orecart.executors.containers import LABEL_RUN, network_name
    from orecart.executors.images import connect

    client = connect()
    removed, runs = 0, set()
    try:
        for _ in range(SWEEPS):
            found = client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
            for item in found:
                cleanup.remove(client, item["Id"])
                runs.add((item.get("Labels") or {}).get(LABEL_RUN, ""))
            removed += len(found)
            time.sleep(SWEEP_PAUSE)
        for run_id in runs:
            cleanup.remove_network(client, network_name(run_id))
    finally:
        client.close()
    return removed


def main(argv: list[str]) -> int:
    """Guard process: wait for the worker's end of the pipe, then sweep its containers."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    os.chdir("/")  # do not keep a worker's folder busy
    while sys.stdin.buffer.read(4096):
        pass
    sweep(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
