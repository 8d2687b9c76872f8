"""A real Dask cluster for the tests (pytest plugin): ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1, each worker under its nanny (which restarts it when it dies, as in
production), started by the tests. ``distributed`` comes from PyPI (the ``dask`` extra).

``dask_cluster`` is one per session: two workers x 4 threads, each offering the resources
``neo4j=1`` and ``memory=4e9``. ``small_dask_cluster`` is a test's own (a worker of 2
threads), for tests that kill workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

SETUP_HINT = "dask is not installed: run scripts/setup (pip install 'orecart[dask]')"
START_TIMEOUT = 60.0
WORKER_RESOURCES = "neo4j=1,memory=4e9"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DaskCluster:
    """A scheduler and its workers: ``start`` -> ``address``, ``worker_pids`` -> ``stop``."""

    def __init__(self, workers: int, threads: int, resources: str = WORKER_RESOURCES) -> None:
        self.shape, self.resources = (workers, threads), resources
        self.root = Path(tempfile.mkdtemp(prefix="orecart-dask-"))
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> DaskCluster:
        if shutil.which("dask") is None:
            pytest.fail(SETUP_HINT, pytrace=False)
        self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                    "--no-dashboard")
        workers, threads = self.shape
        for index in range(workers):
            self._spawn(f"worker{index}", "worker", self.address, "--nthreads", str(threads),
                        "--nworkers", "1", "--resources", self.resources, "--no-dashboard",
                        "--local-directory", str(self.root / f"w{index}"))
        self.wait_for_workers(workers)
        return self

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(["dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ})
        self.processes.append(process)

    def wait_for_workers(self, count: int, timeout: float = START_TIMEOUT) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with Client(self.address, timeout=5, set_as_default=False) as client:
                    client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))
                    return
            except (OSError, TimeoutError):
                time.sleep(0.2)
        pytest.fail(f"dask cluster at {self.address} not up: {self.logs()}", pytrace=False)

    def worker_pids(self) -> dict[str, int]:
        """The pid of each worker process (not its nanny), by worker address."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            pids: dict[str, int] = client.run(os.getpid)
            return pids

    def scheduler_state(self) -> dict[str, int]:
        """How many tasks and events (orecart's attempt marks) the scheduler still holds."""
        from distributed import Client

        def count(dask_scheduler: Any) -> dict[str, int]:
            events = dask_scheduler.extensions["events"]._events
            return {"tasks": len(dask_scheduler.tasks), "events": len(events)}

        with Client(self.address, timeout=10, set_as_default=False) as client:
            state: dict[str, int] = client.run_on_scheduler(count)
            return state

    def wait_tasks(self, state: str, count: int, timeout: float = 60.0) -> None:
        """Until ``count`` tasks of the scheduler are in ``state`` (e.g. ``memory``)."""
        from distributed import Client

        def states(dask_scheduler: Any) -> list[str]:
            return [str(ts.state) for ts in dask_scheduler.tasks.values()]

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=10, set_as_default=False) as client:
            while time.monotonic() < deadline:
                if client.run_on_scheduler(states).count(state) >= count:
                    return
                time.sleep(0.1)
        raise AssertionError(f"waited {timeout}s for {count} tasks in {state}")

    def wait_restarted(self, pid: int, timeout: float = 60.0) -> None:
        """Until a worker other than the (killed) worker ``pid`` serves the scheduler."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if set(self.worker_pids().values()) - {pid}:
                    return
            except (OSError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"no worker came after {pid}: {self.logs()}")

    def worker_of(self, pid: int) -> int:
        """The worker process that ``pid`` (a member's process) descends from."""
        workers = set(self.worker_pids().values())
        for parent in psutil.Process(pid).parents():
            if parent.pid in workers:
                return parent.pid
        raise AssertionError(f"process {pid} descends from no worker of {workers}")

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """Two workers x 4 threads on 127.0.0.1, each offering neo4j=1 and memory=4e9."""
    cluster = DaskCluster(2, 4).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def small_dask_cluster() -> Iterator[DaskCluster]:
    """A test's own cluster of one worker x 2 threads (under its nanny)."""
    cluster = DaskCluster(1, 2).start()
    yield cluster
    cluster.stop()

