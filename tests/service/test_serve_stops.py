"""How ``orecart serve`` stops when what it runs with is not there: a run still waiting
for its graph server at SIGTERM, a state store that went away under it."""

from __future__ import annotations

import signal
import socket
import time

from tests.service.conftest import Served, wait_until
from tests.services.postgres import PostgresServer, find_bindir


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


WAITS_FOR_GRAPH = """
pipeline: graphy
graph: {{uri: "bolt://127.0.0.1:{port}", user: neo4j, password: pw-graph, wait: 60s}}
members:
  - name: a
    run: [sh, -c, "echo a"]
"""


def test_sigterm_past_grace_ends_a_run_waiting_for_its_graph_aborted_at_once(
        served: Served) -> None:
    served.write(WAITS_FOR_GRAPH.format(port=closed_port()))
    serve = served.serve("pipeline.yaml", "--grace", "1s")
    run_id = served.enqueue()
    serve.wait_log("waiting for Neo4j")
    started = time.monotonic()
    serve.signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0
    assert time.monotonic() - started < 10, "serve waited out the graph's wait: 60 s"
    run, _ = served.run(run_id)
    assert run.status == "aborted", run
    assert "stopping" in (run.error or "")


def test_a_second_sigterm_ends_a_graph_wait_at_once(served: Served) -> None:
    served.write(WAITS_FOR_GRAPH.format(port=closed_port()))
    serve = served.serve("pipeline.yaml", "--grace", "60s")
    run_id = served.enqueue()
    serve.wait_log("waiting for Neo4j")
    serve.signal(signal.SIGTERM)
    serve.wait_log("stopping:")
    started = time.monotonic()
    serve.signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0
    assert time.monotonic() - started < 10
    assert served.status_of(run_id) == "aborted"


SLOW = """
pipeline: slow
members:
  - name: a
    rerun: always
    run: [sh, -c, "echo started > {started}; sleep 2"]
"""


def test_a_state_store_that_stops_ends_serve_with_its_error_and_no_traceback(
        served: Served) -> None:
    server = PostgresServer(find_bindir())  # its own: stopping it must not hurt others
    try:
        server.start()
        state = ["--state", server.url()]
        served.write(SLOW.format(started=served.folder / "started"))
        serve = served.serve("pipeline.yaml", *state)
        run_id = served.ok("submit", "pipeline.yaml", *state).out.strip()
        wait_until((served.folder / "started").exists, "the member to start")
        server.run("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
        assert serve.wait(timeout=30) == 1
    finally:
        server.stop()
    log = serve.log()
    assert "error: state store postgresql" in log and "connection failed" in log, log
    assert f"error: run {run_id} of slow: state store" in log, log  # its worker says why
    assert "Traceback" not in log and "Exception in thread" not in log, log
    assert server.password not in log


def test_a_state_file_removed_under_serve_stops_it_with_a_clear_message(
        served: Served) -> None:
    served.write(SLOW.format(started=served.folder / "started"))
    serve = served.serve("pipeline.yaml")
    for path in (served.folder / ".orecart").glob("state.db*"):
        path.unlink()
    assert serve.wait(timeout=15) == 1  # it served a file no client sees any more
    log = serve.log()
    assert "state.db: the file was removed or replaced while serve ran" in log, log
    assert "Traceback" not in log
