"""What a service holds open for its whole life: one state store, the executors by member
kind (and one per dask cluster its members are routed to), and one graph connection per
graph target, shared by every run it executes.

The local executor (its process reaper and containment) is shared: aborting one run
stops only that run's members (``abort(run_id)``). A docker executor still serves one run:
its end tears down that run's service containers and networks (``end_run``); all of them
share the daemon client of the one kept here, which resolves digests and reaps what dead
runs left.

Each part is made on first use (a pipeline without image members never talks to dockerd,
one without a graph never loads the Neo4j driver) and closed once, by ``close``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from orecart.executors import Executor, load_executor
from orecart.executors.routing import dask_options
from orecart.model import Graph
from orecart.secrets import hide_userinfo
from orecart.stores import StateStore

if TYPE_CHECKING:
    from orecart.executors.docker import DockerExecutor
    from orecart.graph.waiting import WaitReport


def graph_target(graph: Graph) -> str:
    """The name of the graph a run writes (server and database, no credentials): the
    per-graph run limit (``settings.max_runs``) counts runs by it."""
    return f"{hide_userinfo(graph.uri)}/{graph.database or ''}"


class Resources:
    """The store, executors and graph connections of one service; safe to share between
    the threads of parallel runs."""

    def __init__(self, store: StateStore, on_wait: WaitReport | None = None) -> None:
        self.store = store
        self.on_wait = on_wait
        self._executors: dict[str, Executor] = {}
        self._graphs: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.Lock()
        #: set when the service stops its runs (shutdown past grace): a run still waiting
        #: for its graph server waits no longer
        self.stopping = threading.Event()

    def executor(self, key: str) -> Executor:
        """The executor for members of ``key``: a kind ("run" or "image"), or a dask
        cluster's key (``executors.routing``; one executor per cluster, for the service's
        life, a LocalCluster it owns included)."""
        with self._lock:
            if key not in self._executors:
                dask = dask_options(key)
                if dask is not None:
                    self._executors[key] = load_executor("dask", **dask)
                else:
                    self._executors[key] = load_executor("docker" if key == "image" else "local")
            return self._executors[key]

    def for_run(self, keys: set[str]) -> dict[str, Executor]:
        """The executors of one run, by key: give them back with ``end_run``."""
        return {key: self._run_docker() if key == "image" else self.executor(key)
                for key in keys}

    def _run_docker(self) -> Executor:
        """A docker executor of the run's own (its service containers and networks end
        with it), on the service's one daemon client."""
        return load_executor("docker", client=self.docker().client)

    def end_run(self, executors: dict[str, Executor]) -> None:
        """Close the run's own executors (not the shared ones)."""
        with self._lock:
            shared = {id(executor) for executor in self._executors.values()}
        for executor in executors.values():
            if id(executor) not in shared:
                executor.close()

    def docker(self) -> DockerExecutor:
        return cast("DockerExecutor", self.executor("image"))

    def graph(self, graph: Graph) -> Any:
        """The open connection (``orecart.graph.connect.GraphConnection``) to ``graph``,
        opened on first use, waiting for its server as the pipeline says."""
        key = (graph.uri, graph.database or "", graph.user, graph.password)
        with self._lock:
            known = self._graphs.get(key)
        if known is not None:
            return known
        from orecart.graph.connect import GraphConnection

        # outside the lock: it waits for the server
        conn = GraphConnection.open(graph, on_wait=self.on_wait, stop=self.stopping)
        with self._lock:
            if key in self._graphs:  # another run opened it meanwhile: keep one
                conn.close()
                return self._graphs[key]
            self._graphs[key] = conn
            return conn

    def close(self) -> None:
        with self._lock:
            executors, graphs = list(self._executors.values()), list(self._graphs.values())
            self._executors.clear()
            self._graphs.clear()
        for executor in executors:
            executor.close()
        for conn in graphs:
            conn.close()
        self.store.close()
