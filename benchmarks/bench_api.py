"""The REST API: ``GET /api/v1/runs?limit=50`` with 10,000 runs in the state store, and
how soon a recorded event reaches a server-sent-events client.

Targets (issue #13): GET /runs p95 at most 50 ms; an event reaches an SSE client within
100 ms p95 of being recorded.

Method: a fresh SQLite state store gets ``--runs`` ended runs (succeeded or failed, each
with a ``dataset`` label of 100 values, one second apart), written through the store
(``SqlStore.save_run``, so ``run_labels`` is filled as serve fills it). A real ``orecart
serve --http`` (a fresh process, console script) serves one trivial pipeline on that store;
a read token comes from ``orecart token create``. One keep-alive httpx client then asks,
after 10 warm-up requests, ``--requests`` times each: the first page, the page after 20
pages (following ``next``), and the first page filtered on a label (``label.dataset=``).
Figures: p50, p95 and max of the client's wall time per request (HTTP, auth by token
digest, the SQL page, JSON), in milliseconds.

Events: the benchmark saves a running run (of a pipeline serve does not serve, so serve
leaves it alone) and an httpx client follows ``GET /runs/{id}/events`` in a thread. The
benchmark then records ``--events`` events through the store (``SqlStore.add_event``, as
the runner of a serve records them; one every 10-50 ms, at random, so arrivals do not
lock onto the stream's poll), then ends the run. The client stamps each frame's arrival
(wall clock, same machine); the figure is arrival minus the event's recorded ``at``.

    python benchmarks/bench_api.py [--runs 10000] [--requests 200] [--events 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import Report, clean_exit, console_script, installed_bytecode, timed

from orecart.model import Run, RunStatus
from orecart.stores import open_store

P95_MS = 50.0
EVENT_P95_MS = 100.0
PIPELINE = """\
pipeline: listed
members:
  - name: one
    run: ["true"]
"""
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def fill(url: str, runs: int) -> None:
    store = open_store(url)
    try:
        for n in range(runs):
            at = BASE + timedelta(seconds=n)
            status = RunStatus.FAILED if n % 10 == 0 else RunStatus.SUCCEEDED
            store.save_run(Run(f"{at:%Y%m%dT%H%M%S}-{n:012x}", "listed", status,
                               started_at=at, finished_at=at + timedelta(seconds=1),
                               queued_at=at, origin="api",
                               labels={"dataset": f"d{n % 100}"}))
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(folder: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    log = (folder / "serve.err").open("wb")
    process = subprocess.Popen(
        [*console_script("orecart"), "serve", "pipeline.yaml", "--state", url, "--http",
         f"127.0.0.1:{port}"], cwd=folder, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while b"http: serving the API" not in (folder / "serve.err").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve did not start:\n{(folder / 'serve.err').read_text()}")
        time.sleep(0.05)
    return process


def measure(client: httpx.Client, path: str, requests: int) -> list[float]:
    for _ in range(10):
        client.get(path).raise_for_status()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def deep_cursor(client: httpx.Client, pages: int) -> str:
    cursor = ""
    for _ in range(pages):
        cursor = client.get(f"/runs?limit=50{cursor}").json()["next"]
        cursor = f"&cursor={cursor}"
    return cursor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    installed_bytecode()
    with tempfile.TemporaryDirectory(prefix="orecart-bench-api-") as tmp:
        folder = Path(tmp)
        (folder / "pipeline.yaml").write_text(PIPELINE)
        url = f"sqlite:///{folder / 'state.db'}"
        fill_s, _ = timed(lambda: fill(url, args.runs))
        print(f"saved {args.runs} runs in {fill_s:.1f} s")
        token = subprocess.run(
            [*console_script("orecart"), "token", "create", "--scope", "read", "--state", url],
            capture_output=True, text=True, check=True).stdout.strip()
        process = serve(folder, url, free_port())
        report = Report(f"GET /api/v1/runs with {args.runs} runs (ms per request)",
                        ["request", "p50", "p95", "max"])
        try:
            port = int((folder / "serve.err").read_text().split("127.0.0.1:")[1].split("/")[0])
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1",
                              headers={"Authorization": f"Bearer {token}"}) as client:
                first = measure(client, "/runs?limit=50", args.requests)
                deep = measure(client, f"/runs?limit=50{deep_cursor(client, 20)}",
                               args.requests)
                labelled = measure(client, "/runs?limit=50&label.dataset=d7", args.requests)
            lags = event_lags(url, f"http://127.0.0.1:{port}/api/v1", token, args.events)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        for name, times in (("limit=50 (first page)", first), ("limit=50, page 21", deep),
                            ("limit=50, label.dataset=d7", labelled)):
            report.row(name, statistics.median(times), _p95(times), max(times))
        report.row(f"SSE event lag ({len(lags)} events)", statistics.median(lags), _p95(lags),
                   max(lags))
        passed = report.target("GET /runs?limit=50 p95", _p95(first), P95_MS, "ms")
        passed = report.target("SSE event lag p95", _p95(lags), EVENT_P95_MS, "ms") and passed
        passed = report.print() and passed
    return clean_exit([], load_before, passed)


def event_lags(url: str, api: str, token: str, events: int) -> list[float]:
    """Milliseconds from each event's recorded time to its arrival at an SSE client."""
    store = open_store(url)
    run = Run(f"{datetime.now(UTC):%Y%m%dT%H%M%S}-bench-events", "benched",
              RunStatus.RUNNING, started_at=datetime.now(UTC), queued_at=datetime.now(UTC))
    store.save_run(run)
    lags: list[float] = []
    follower = threading.Thread(target=_follow, args=(api, token, run.id, lags))
    follower.start()
    try:
        time.sleep(0.5)  # the stream is open (it starts from the first event anyway)
        for n in range(events):
            store.add_event(run.id, "bench", {"n": n})
            time.sleep(random.uniform(0.010, 0.050))
        store.save_run(replace(run, status=RunStatus.SUCCEEDED, finished_at=datetime.now(UTC)))
        follower.join(timeout=30)
    finally:
        store.close()
    if len(lags) != events:
        raise SystemExit(f"the SSE client got {len(lags)} of {events} events")
    return lags


def _follow(api: str, token: str, run_id: str, lags: list[float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as client, client.stream(
            "GET", f"/runs/{run_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and '"kind":"bench"' in line:
                arrived = datetime.now(UTC)
                at = datetime.fromisoformat(json.loads(line[len("data: "):])["at"])
                lags.append((arrived - at).total_seconds() * 1000)


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


if __name__ == "__main__":
    sys.exit(main())
