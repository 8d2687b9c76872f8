"""The REST API: ``GET /api/v1/runs?limit=50`` with 10,000 runs in the state store.

Target (issue #13): p95 at most 50 ms.

Method: a fresh SQLite state store gets ``--runs`` ended runs (succeeded or failed, each
with a ``dataset`` label of 100 values, one second apart), written through the store
(``SqlStore.save_run``, so ``run_labels`` is filled as serve fills it). A real ``orecart
serve --http`` (a fresh process, console script) serves one trivial pipeline on that store;
a read token comes from ``orecart token create``. One keep-alive httpx client then asks,
after 10 warm-up requests, ``--requests`` times each: the first page, the page after 20
pages (following ``next``), and the first page filtered on a label (``label.dataset=``).
Figures: p50, p95 and max of the client's wall time per request (HTTP, auth by token
digest, the SQL page, JSON), in milliseconds.

    python benchmarks/bench_api.py [--runs 10000] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common import Report, clean_exit, console_script, installed_bytecode, timed

from orecart.model import Run, RunStatus
from orecart.stores import open_store

P95_MS = 50.0
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
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        for name, times in (("limit=50 (first page)", first), ("limit=50, page 21", deep),
                            ("limit=50, label.dataset=d7", labelled)):
            report.row(name, statistics.median(times), _p95(times), max(times))
        passed = report.target("GET /runs?limit=50 p95", _p95(first), P95_MS, "ms")
        passed = report.print() and passed
    return clean_exit([], load_before, passed)


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


if __name__ == "__main__":
    sys.exit(main())
