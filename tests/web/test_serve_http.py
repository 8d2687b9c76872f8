"""``orecart serve --http``: the API lives and ends with serve (SIGTERM stops both, exit
0), and a bad or taken address is refused before anything runs (exit 2)."""

from __future__ import annotations

import signal
import socket
import statistics
import time

import httpx

from tests.service.conftest import Served, served  # noqa: F401 - the fixture
from tests.web.conftest import QUICK, free_port


def test_sigterm_stops_serve_and_its_http_server(served: Served) -> None:  # noqa: F811
    served.write(QUICK)
    port = free_port()
    serve = served.serve("pipeline.yaml", "--http", f"127.0.0.1:{port}")
    serve.wait_log("http: serving the API")
    serve.wait_log("leading: ")  # the one serve on its store leads
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        took = []
        for _ in range(12):  # one keep-alive connection, as an API client keeps one
            started = time.perf_counter()
            assert client.get("/healthz").json() == {"status": "ok", "leading": 2}
            took.append(time.perf_counter() - started)
    # Nagle's algorithm on serve's side made each answer wait for the client's delayed
    # ACK: never under 40 ms; a few ms without it, even on a loaded machine
    assert statistics.median(took) < 0.03, took
    serve.signal(signal.SIGTERM)
    assert serve.wait() == 0, serve.log()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nobody listens any more
    assert "GET /healthz 200" in serve.log()


def test_a_bad_or_taken_address_is_refused_with_exit_2(served: Served) -> None:  # noqa: F811
    served.write(QUICK)
    bad = served("serve", "pipeline.yaml", "--http", "localhost")
    assert bad.code == 2 and "HOST:PORT" in bad.err and "Traceback" not in bad.err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        refused = served("serve", "pipeline.yaml", "--http", f"127.0.0.1:{port}")
    assert refused.code == 2 and "cannot listen" in refused.err, refused.err
    assert "Traceback" not in refused.err
