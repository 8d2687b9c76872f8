"""``orecart serve``: submit latency, queue throughput against ``orecart run``, and RSS.

Workload: a one-member pipeline whose member (``rerun: always``, so the ledger never skips
it) writes the wall clock at its start into its artifacts folder (``date +%s%N``).

Targets (from the issue), each measured against a real ``orecart serve`` process started
here on a fresh state store:

1. *Submit to first member started, idle service*: p95 at most 100 ms. Each of ``--submits``
   requests (own key each) is timed from just before ``Tools().submit`` (which loads the
   file, queues the run in the store and pokes serve through its UDP address) to the
   member's own timestamp, and waited to its end before the next. Beside it: the same
   through the ``orecart submit`` CLI, timed from before the process is spawned (so its
   start-up is in it), and the CLI's bare start-up (``orecart --help``).
2. *1,000 queued one-member runs drained by serve*, against ``--runs`` ``orecart run``
   invocations of the same file in a loop (in a folder of its own): at least 5x faster.
   All requests are queued first (in-process, through a ``Service``); then serve starts
   and the clock runs until every run is terminal (read with bare ``sqlite3``).
3. *Service RSS flat*: serve's ``VmRSS`` grows less than 10 MB from run 100 to the last.

    python benchmarks/bench_serve.py [--runs 1000] [--baseline-runs N] [--submits 50]
    python benchmarks/bench_serve.py --profile [--runs 200]   # cProfile of the run workers

``--baseline-runs`` (default: ``--runs``) shortens the ``orecart run`` loop (1,000 of them
take about 15 minutes here); the ratio is then taken per run. Per-run figures are printed
for both sides.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import Report, clean_exit, console_script, installed_bytecode, median

from orecart.model import Run
from orecart.service import Tools
from orecart.service.core import OnePipeline, Service, ServiceConfig, _Active
from orecart.service.requests import RunRequest
from orecart.service.tools import Source, runs_dir

LATENCY_P95_MS = 100.0
SPEEDUP = 5.0
RSS_GROWTH_MB = 10.0
RSS_FROM = 100  # the run from which RSS must stay flat
PIPELINE = "serve-bench"
MEMBER = "stamp"
STAMP = "t"
TERMINAL = ("succeeded", "failed", "cancelled", "aborted")
START_S = 30.0  # how long serve may take to register itself


def write_pipeline(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(
        f"pipeline: {PIPELINE}\n"
        "members:\n"
        f"  - name: {MEMBER}\n"
        f'    run: [sh, -c, "date +%s%N > $ORECART_ARTIFACTS/{STAMP}"]\n'
        "    rerun: always\n"
    )
    return path


# -- a serve process ------------------------------------------------------------------


@dataclass
class Serve:
    """A real ``orecart serve FILE`` process, its log in the folder of the file."""

    file: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, file: Path) -> Serve:
        log = (file.parent / "serve.log").open("ab")
        process = subprocess.Popen([*console_script("orecart"), "serve", str(file)],
                                   cwd=file.parent, stdout=log, stderr=subprocess.STDOUT)
        return cls(file, process)

    def registered(self) -> None:
        """Wait until serve listed itself in the store (clients find it there)."""
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {self.log()}")
            if _count(self.file, "SELECT count(*) FROM services") > 0:
                return
            time.sleep(0.02)
        raise RuntimeError(f"serve did not register within {START_S:g} s: {self.log()}")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return (self.file.parent / "serve.log").read_text()[-2000:]


def _count(file: Path, query: str) -> int:
    """One count from the state store beside ``file``, read with bare sqlite3 (no orecart
    code in the measuring loop); 0 while the database or its table is not there yet."""
    db = file.parent / ".orecart" / "state.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _terminal(file: Path) -> int:
    marks = ", ".join(f"'{s}'" for s in TERMINAL)
    return _count(file, f"SELECT count(*) FROM runs WHERE status IN ({marks})")


def _succeeded(file: Path) -> int:
    return _count(file, "SELECT count(*) FROM runs WHERE status = 'succeeded'")


# -- 1. submit latency ----------------------------------------------------------------


def latency(file: Path, submits: int) -> tuple[list[float], list[float], float]:
    """(ms per Tools().submit, ms per `orecart submit`, ms of bare CLI start-up)."""
    serve = Serve.start(file)
    try:
        serve.registered()
        tools, source = Tools(), Source(file)
        in_process = [_one_submit(file, lambda key: tools.submit(
            source, RunRequest(PIPELINE, key=key)).run.id, f"api-{i}") for i in range(submits)]
        cli = [_one_submit(file, lambda key: _cli_submit(file, key), f"cli-{i}")
               for i in range(submits)]
    finally:
        serve.stop()
    bare = median(_cli_start() for _ in range(5))
    return in_process, cli, bare


def _one_submit(file: Path, submit: object, key: str) -> float:
    """Submit once, wait for the run's end; ms from before the submit to the member's
    own timestamp."""
    before = time.time_ns()
    run_id = submit(key)  # type: ignore[operator]
    stamp = runs_dir(file, os.environ) / run_id / MEMBER / STAMP
    deadline = time.monotonic() + 60
    while not (stamp.exists() and stamp.read_text().strip()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} never started its member")
        time.sleep(0.002)
    started = int(stamp.read_text())
    _wait_terminal(file, run_id)
    return (started - before) / 1e6


def _wait_terminal(file: Path, run_id: str) -> None:
    marks = ", ".join(f"'{s}'" for s in TERMINAL)
    query = f"SELECT count(*) FROM runs WHERE id = '{run_id}' AND status IN ({marks})"
    while not _count(file, query):
        time.sleep(0.005)


def _cli_submit(file: Path, key: str) -> str:
    done = subprocess.run([*console_script("orecart"), "submit", str(file), "--key", key],
                          capture_output=True, text=True, check=True, cwd=file.parent)
    return _run_id_in(done.stdout + done.stderr)


def _run_id_in(text: str) -> str:
    for word in text.replace(":", " ").split():
        if len(word) > 16 and word[8] == "T" and word[15] == "-":  # <stamp>-<hex>
            return word
    raise RuntimeError(f"no run id in {text!r}")


def _cli_start() -> float:
    start = time.perf_counter()
    subprocess.run([*console_script("orecart"), "--help"], capture_output=True, check=True)
    return (time.perf_counter() - start) * 1000


# -- 2. and 3. drain the queue, against `orecart run` in a loop --------------------------


@dataclass(frozen=True)
class Drain:
    seconds: float  # serve start -> every run terminal
    from_first_s: float  # the first member's stamp -> every run terminal
    succeeded: int
    rss_at: float  # VmRSS at run RSS_FROM
    rss_end: float


def drain(file: Path, runs: int) -> Drain:
    """Queue ``runs`` requests, then let a fresh serve run them all."""
    queue(file, runs)
    start = time.monotonic()
    serve = Serve.start(file)
    rss_at = 0.0
    try:
        while (done := _terminal(file)) < runs:
            if serve.process.poll() is not None:
                raise RuntimeError(f"serve exited {serve.process.returncode}: {serve.log()}")
            if not rss_at and done >= RSS_FROM:
                rss_at = serve.rss_mb()
            time.sleep(0.05)
        seconds = time.monotonic() - start
        rss_end = serve.rss_mb()
    finally:
        serve.stop()
    first = min(int(p.read_text()) for p in runs_dir(file, os.environ).glob(f"*/{MEMBER}/{STAMP}"))
    from_first = time.time() - first / 1e9 - (time.monotonic() - start - seconds)
    return Drain(seconds, from_first, _succeeded(file), rss_at or rss_end, rss_end)


def queue(file: Path, runs: int) -> None:
    tools = Tools()
    source = Source(file)
    pipeline = tools.load(source)
    from orecart.stores import open_store

    store = open_store(tools.state_url(source, pipeline))
    service = Service(ServiceConfig(), OnePipeline(file, pipeline), store)
    try:
        tag = secrets.token_hex(3)
        for i in range(runs):
            service.submit(RunRequest(PIPELINE, key=f"drain-{tag}-{i}"), pipeline)
    finally:
        service.close()


def run_loop(file: Path, runs: int) -> float:
    """Seconds for ``runs`` `orecart run FILE` processes, one after the other."""
    command = [*console_script("orecart"), "run", str(file)]
    start = time.monotonic()
    for _ in range(runs):
        subprocess.run(command, capture_output=True, check=True, cwd=file.parent)
    return time.monotonic() - start


# -- where the time goes ---------------------------------------------------------------


class Profiled(Service):
    """A service whose run workers are profiled (one at a time: cProfile is per thread)."""

    profiler = cProfile.Profile()
    one = threading.Lock()

    def _work(self, run: Run, active: _Active) -> None:
        with self.one:
            self.profiler.enable()
            try:
                super()._work(run, active)
            finally:
                self.profiler.disable()


def profile(folder: Path, runs: int) -> None:
    """Drain ``runs`` queued runs with a ``Service`` built here, its workers profiled."""
    file = write_pipeline(folder)
    queue(file, runs)
    tools, source = Tools(), Source(file)
    pipeline = tools.load(source)
    from orecart.stores import open_store

    service = Profiled(ServiceConfig(), OnePipeline(file, pipeline),
                       open_store(tools.state_url(source, pipeline)))
    start = time.monotonic()
    try:
        while service.store.queue_heads() or service.running():
            service.dispatch()
            service.idle_wait(0.25)
    finally:
        service.close()
    print(f"{runs} runs in {time.monotonic() - start:.2f} s (profiled)")
    stats = pstats.Stats(Profiled.profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(20)


# -- the report -----------------------------------------------------------------------


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--baseline-runs", type=int, default=None)
    parser.add_argument("--submits", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="profile the run workers")
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="orecart-serve-") as scratch:
            profile(Path(scratch), args.runs if args.runs != 1000 else 200)
        return 0
    baseline_runs = args.baseline_runs or args.runs
    installed_bytecode()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="orecart-serve-") as scratch:
        root = Path(scratch)
        in_process, cli, bare = latency(write_pipeline(root / "latency"), args.submits)
        drained = drain(write_pipeline(root / "drain"), args.runs)
        looped = run_loop(write_pipeline(root / "loop"), baseline_runs)
    latencies = Report(f"submit -> member started, idle serve ({args.submits} submits each)",
                       ["client", "p50 ms", "p95 ms", "max ms"])
    latencies.row("Tools().submit", median(in_process), p95(in_process), max(in_process))
    latencies.row("orecart submit (CLI)", median(cli), p95(cli), max(cli))
    latencies.row("orecart --help (start-up)", bare, bare, bare)
    latencies.target("p95 submit -> member started (Tools().submit)", p95(in_process),
                     LATENCY_P95_MS, "ms")
    per_serve = drained.seconds / args.runs
    per_run = looped / baseline_runs
    drains = Report(f"{args.runs} queued runs drained by serve vs {baseline_runs} x orecart run",
                    ["way", "runs", "wall s", "per run ms", "succeeded"])
    drains.row("orecart serve (from its start)", args.runs, drained.seconds, per_serve * 1000,
               drained.succeeded)
    drains.row("orecart serve (from 1st member)", args.runs, drained.from_first_s,
               drained.from_first_s / args.runs * 1000, drained.succeeded)
    drains.row("orecart run, in a loop", baseline_runs, looped, per_run * 1000, baseline_runs)
    drains.row(f"serve VmRSS MB at run {RSS_FROM} / at the end", args.runs, drained.rss_at,
               drained.rss_end, "")
    drains.target("serve time per run / orecart run time per run", per_serve / per_run,
                  1 / SPEEDUP, "x")
    drains.target(f"serve RSS growth from run {RSS_FROM} to run {args.runs}",
                  drained.rss_end - drained.rss_at, RSS_GROWTH_MB, "MB")
    drains.target("runs not succeeded", args.runs - drained.succeeded, 0, "runs")
    passed = latencies.print() & drains.print()
    return clean_exit([], load, passed)


if __name__ == "__main__":
    sys.exit(main())
