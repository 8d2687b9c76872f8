"""The web UI's run page for a 10,000-member run, in headless Chromium.

Targets (issue #13): first meaningful paint at most 2 s; the browser at most 300 MB.

Method: a fresh SQLite state store gets one ended run of a generated 10,000-member
pipeline (random needs to earlier members, so the DAG has depth), its member runs
written through the store in one ``record`` (90% succeeded, 5% failed, 5% skipped, with
start and end times), and their attempts in one insert (a failed member tried twice, a
backoff between; every fourth member waited for a pool first), so the timeline draws a
bar per attempt and the waits. A real ``orecart serve --http`` serves that pipeline on that store;
a read token comes from ``orecart token create``. Debian's Chromium (Playwright, headless)
opens the run page ``--repeat`` times, each in a fresh document. First meaningful paint:
the ``orecart:run-drawn`` performance mark the UI sets once the summary, the canvas DAG,
the timeline and the (virtualized) member list are drawn, in ms since navigation start.
Memory (psutil, after the last load, and on a blank page before it): the RSS of the
page's renderer process, the target's figure; and of the whole browser tree, RSS summed
(shared pages counted in each of its ~9 processes: headless Chromium on a blank page
already sums to ~850 MiB) and PSS summed (shared pages split among their processes).

    python benchmarks/bench_ui.py [--members 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import sqlalchemy as sa
from bench_api import free_port, serve
from common import Report, clean_exit, console_script, dag_members, write_pipeline
from playwright.sync_api import Page, sync_playwright

from orecart.model import Attempt, MemberRun, MemberStatus, Run, RunStatus
from orecart.stores import open_store
from orecart.stores.schema import attempt_values, attempts

PAINT_MS = 2000.0
MEMORY_MB = 300.0
BASE = datetime(2026, 1, 1, tzinfo=UTC)
RUN_ID = "20260101T000000-0000000000ui"


def fill(url: str, names: list[str]) -> None:
    store = open_store(url)
    try:
        run = Run(RUN_ID, "ui", RunStatus.FAILED, queued_at=BASE, started_at=BASE,
                  finished_at=BASE + timedelta(seconds=len(names)), origin="api")
        store.save_run(run)
        members = [_member(i, n) for i, n in enumerate(names)]
        store.record(RUN_ID, run=run, member_runs=members)
        tried = [attempt_values(a) for m in members for a in _attempts(m)]
        with store.engine.begin() as connection:
            connection.execute(sa.insert(attempts), tried)
    finally:
        store.close()


def _member(i: int, name: str) -> MemberRun:
    status = (MemberStatus.FAILED if i % 20 == 0 else MemberStatus.SKIPPED if i % 20 == 1
              else MemberStatus.SUCCEEDED)
    start = BASE + timedelta(seconds=i * 0.1)
    tries = 2 if status is MemberStatus.FAILED else 1
    return MemberRun(RUN_ID, name, status, attempts=tries, exit_code=1 if i % 20 == 0 else 0,
                     reason="done before" if i % 20 == 1 else "new", position=i,
                     started_at=start, finished_at=start + timedelta(seconds=2),
                     waited_at=start - timedelta(seconds=0.5) if i % 4 == 0 else None,
                     waited_for="neo4j-write" if i % 4 == 0 else None)


def _attempts(m: MemberRun) -> list[Attempt]:
    if m.status is MemberStatus.SKIPPED or m.started_at is None or m.finished_at is None:
        return []
    if m.status is MemberStatus.FAILED:
        mid = m.started_at + timedelta(seconds=0.8)
        return [Attempt(RUN_ID, m.member, 1, m.status, 1, started_at=m.started_at,
                        finished_at=mid),
                Attempt(RUN_ID, m.member, 2, m.status, 1, started_at=mid + timedelta(seconds=0.4),
                        finished_at=m.finished_at)]
    wait = m.started_at - timedelta(seconds=0.5) if m.position % 4 == 0 else None
    return [Attempt(RUN_ID, m.member, 1, m.status, 0, started_at=m.started_at,
                    finished_at=m.finished_at, waited_at=wait,
                    waited_for="neo4j-write" if wait else None)]


def paint_ms(page: Page, url: str) -> float:
    page.goto("about:blank")
    page.goto(f"{url}/#/runs/{RUN_ID}")
    page.wait_for_function("performance.getEntriesByName('orecart:run-drawn').length > 0",
                           timeout=60_000)
    found: float = page.evaluate("performance.getEntriesByName('orecart:run-drawn')[0]"
                                 ".startTime")
    return found


@dataclass(frozen=True)
class Memory:
    """The browser tree's memory in MiB: RSS summed over its processes (shared pages
    counted in each: an upper bound), PSS summed (shared pages split), and the RSS of its
    largest renderer (the page's own process)."""

    rss: float
    pss: float
    renderer: float


def browser_memory() -> Memory:
    rss = pss = renderer = 0
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in process.name():
                continue
            info = process.memory_full_info()
            rss, pss = rss + info.rss, pss + info.pss
            if "--type=renderer" in process.cmdline():
                renderer = max(renderer, info.rss)
        except psutil.Error:
            continue  # ended meanwhile
    return Memory(rss / 2**20, pss / 2**20, renderer / 2**20)


def measure(url: str, token: str, repeat: int) -> tuple[list[float], Memory, Memory]:
    """(paint times, the memory of the browser on a blank page, after the loads)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.evaluate("token => sessionStorage.setItem('orecart.token', token)", token)
            page.goto("about:blank")
            blank = browser_memory()
            times = [paint_ms(page, url) for _ in range(repeat)]
            return times, blank, browser_memory()
        finally:
            browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="orecart-bench-ui-") as tmp:
        folder = Path(tmp)
        members = dag_members(args.members, 13, 3, lambda i: ["true"])
        text = write_pipeline(folder, "ui", members).read_text()
        (folder / "pipeline.yaml").write_text(text)
        url = f"sqlite:///{folder / 'state.db'}"
        fill(url, [m.name for m in members])
        token = subprocess.run(
            [*console_script("orecart"), "token", "create", "--scope", "read", "--state", url],
            capture_output=True, text=True, check=True).stdout.strip()
        process = serve(folder, url, free_port())
        try:
            log = (folder / "serve.err").read_text()
            port = int(log.split("127.0.0.1:")[1].split("/")[0])
            times, blank, loaded = measure(f"http://127.0.0.1:{port}", token, args.repeat)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    report = Report(f"the run page of a {args.members}-member run in headless Chromium",
                    ["figure", "blank page", "run page"])
    report.row("first meaningful paint, each load (ms)", "",
               " ".join(f"{t:.0f}" for t in times))
    for name in ("rss", "pss", "renderer"):
        report.row(f"browser {name} (MiB)", getattr(blank, name), getattr(loaded, name))
    passed = report.target("first meaningful paint (median)", statistics.median(times),
                           PAINT_MS, "ms")
    passed = report.target("the page's renderer RSS", loaded.renderer, MEMORY_MB,
                           "MiB") and passed
    passed = report.print() and passed
    return clean_exit([], load_before, passed)


if __name__ == "__main__":
    sys.exit(main())
