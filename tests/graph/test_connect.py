"""GraphConnection against the real Neo4j: readiness wait, credentials, databases, env."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

import pytest

from orecart.errors import GraphError
from orecart.graph.connect import GraphConnection, graph_from_env
from orecart.graph.waiting import Phase, WaitClock, Waiting, shown_uri
from orecart.model import Graph


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_open_reads_server_and_home_database(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn:
        info = conn.server()
        assert info.major >= 5
        assert info.edition == "community"
        assert conn.database == "neo4j"


def test_write_then_read_with_parameters(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn:
        conn.write("CREATE (:Thing {name: $name, query: $query})", name="a", query="q")
        rows = conn.read("MATCH (t:Thing) RETURN t.name AS name, t.query AS query")
        assert rows == [{"name": "a", "query": "q"}]
        assert conn.run("MATCH (t:Thing) RETURN count(t) AS n") == [{"n": 1}]


def test_query_error_is_graph_error(neo4j_graph: Graph) -> None:
    with GraphConnection.open(neo4j_graph) as conn, pytest.raises(GraphError, match="Syntax"):
        conn.read("MATCH (n RETURN n")


def test_wrong_password_fails_at_once_without_the_password(neo4j_graph: Graph) -> None:
    bad = replace(neo4j_graph, password="not-the-right-one")
    started = time.monotonic()
    with pytest.raises(GraphError) as caught:
        GraphConnection.open(bad, wait=30)
    assert time.monotonic() - started < 10  # no retry on authentication failure
    message = str(caught.value)
    assert "credentials" in message and "'neo4j'" in message
    assert "not-the-right-one" not in message


def test_unknown_database_is_named(neo4j_graph: Graph) -> None:
    with pytest.raises(GraphError, match="no database 'nosuchdb'"):
        GraphConnection.open(replace(neo4j_graph, database="nosuchdb"), wait=5)


def test_unreachable_after_wait() -> None:
    graph = Graph(f"bolt://127.0.0.1:{_closed_port()}", password="secret-pw-123")
    started = time.monotonic()
    with pytest.raises(GraphError, match="unreachable after waiting 1s") as caught:
        GraphConnection.open(graph, wait=1.0)
    assert 0.9 < time.monotonic() - started < 10
    assert "secret-pw-123" not in str(caught.value)


def test_bad_uri_is_graph_error() -> None:
    with pytest.raises(GraphError, match="connecting"):
        GraphConnection.open(Graph("gopher://127.0.0.1:1"), wait=0)


class LateListener:
    """Opens a port only after ``delay`` seconds, then forwards it to the real Neo4j.

    Until then connections are refused, as while a server starts; open() must keep trying.
    """

    def __init__(self, target: str, delay: float) -> None:
        host, port = target.rsplit("//", 1)[1].rsplit(":", 1)
        self.target = (host, int(port))
        self.port = _closed_port()
        self.delay = delay
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> LateListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)

    def _serve(self) -> None:
        if self.stopped.wait(self.delay):
            return
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.1)
            while not self.stopped.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_waits_for_a_server_that_is_not_listening_yet(neo4j_graph: Graph) -> None:
    reports: list[Waiting] = []
    with LateListener(neo4j_graph.uri, delay=1.5) as late:
        graph = replace(neo4j_graph, uri=f"bolt://127.0.0.1:{late.port}")
        started = time.monotonic()
        with GraphConnection.open(graph, wait=3, on_wait=reports.append) as conn:
            assert time.monotonic() - started >= 1.4
            assert conn.read("RETURN 1 AS one") == [{"one": 1}]
    phases = [r.phase for r in reports]
    assert phases[0] is Phase.STARTED and phases[-1] is Phase.READY
    assert Phase.WAITING in phases  # one report a second on a 3 s wait
    assert reports[0].message.startswith(f"waiting for Neo4j at {graph.uri} (up to 3 s): ")
    assert reports[-1].message.startswith(f"Neo4j at {graph.uri} is ready after ")


def test_a_ready_server_reports_nothing(neo4j_graph: Graph) -> None:
    reports: list[Waiting] = []
    GraphConnection.open(neo4j_graph, on_wait=reports.append).close()
    assert reports == []


def test_reports_never_show_user_info() -> None:
    assert shown_uri("neo4j://bob:s3cret@db.example:7687/x") == "neo4j://db.example:7687/x"
    assert shown_uri("bolt://db:7687") == "bolt://db:7687"
    reports: list[Waiting] = []
    clock = WaitClock(Graph("bolt://bob:s3cret@db:1"), 60, reports.append)
    clock.failed("refused")
    clock.failed("refused again")  # within the first 10 s: not reported
    assert [r.message for r in reports] == [
        "waiting for Neo4j at bolt://db:1 (up to 60 s): refused"
    ]


def test_graph_from_env_overrides_and_creates() -> None:
    base = Graph("bolt://a:7687", user="u", password="p", database="d")
    env = {
        "NEO4J_URI": "bolt://b:7687",
        "NEO4J_USER": "v",
        "NEO4J_PASSWORD": "q",
        "NEO4J_DATABASE": "e",
    }
    assert graph_from_env(base, env) == Graph("bolt://b:7687", "v", "q", "e")
    assert graph_from_env(base, {"NEO4J_USERNAME": "w", "NEO4J_USER": "v"}) == replace(
        base, user="w"
    )
    assert graph_from_env(base, {"NEO4J_PASSWORD": ""}) == base
    assert graph_from_env(None, {}) is None
    assert graph_from_env(None, {"NEO4J_PASSWORD": "x"}) is None
    created = graph_from_env(None, {"NEO4J_URI": "neo4j://c:7687"})
    assert created == Graph("neo4j://c:7687")
