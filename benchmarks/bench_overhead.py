"""Orchestration overhead: what orecart adds per member beyond a plain subprocess pool.

Workload: 200 independent trivial members (``run: ["true"]``) at ``max_parallel`` 2.
Baseline: ``ThreadPoolExecutor(2)`` running ``subprocess.run(["true"])`` 200 times.
Target (from the issue): the median per-member overhead is at most 10 ms.

Method. Each repetition runs, one after the other and in a rotating order, the baseline
and three orecart variants on the same machine at the same moment:

* ``service``: what a user gets: ``Tools().run(Source(file), RunOptions(...))`` on a
  generated pipeline file in a fresh temp dir with the default SQLite store (this includes
  loading the file, opening the store, the lock, planning and the final records);
* ``runner+sql``: ``Runner`` driven directly with the real LocalExecutor and SqlStore;
* ``runner+nostore``: the same ``Runner`` with no store at all (a sink that only times
  and no-op pool leases), which separates the cost of the SQLite writes.

Per member, latency is measured start -> finish as each side sees it. For orecart: from
the runner's ``started_at`` of the member run (stamped when the runner starts it) to the
moment an extra event sink receives its ``MemberFinished`` (the recorder holds it: the
store writes it at the runner's next flush, before the runner starts anything or waits).
For the pool: around ``subprocess.run`` inside the worker (queueing excluded, as the runner
never queues a started member either). The figure held against the target is
``median(orecart latency) - median(pool latency)``. As a second view, the amortised
overhead ``(orecart wall - pool wall) / 200 * max_parallel`` charges everything (also the
gaps between members and fixed start-up costs) to the members. Medians over repetitions.

The orecart latency is also split at the executor's own timestamps (``Attempt.started_at``
just before ``Popen`` and ``finished_at`` after ``waitpid``) into prep -> exec -> settle.

    python benchmarks/bench_overhead.py [--members 200] [--parallel 2] [--repeats 5]
    python benchmarks/bench_overhead.py --profile   # cProfile of one service run

A last table times, one call at a time, the work the runner's single thread does per
member (the three SQLite writes one at a time, the recorder's batch of one member's three
records, the artifacts folder, the environment) next to the same three rows written with
the bare ``sqlite3`` module: where the per-member time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from common import Report, median, table, trivial_members, write_pipeline

from orecart.environ import member_env
from orecart.events import AttemptFinished, Event, Fanout, MemberFinished, MemberStarted
from orecart.executors.local import LocalExecutor
from orecart.model import Attempt, MemberRun, MemberStatus, Run, RunStatus
from orecart.planner import plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner
from orecart.service import RunOptions, Source, Tools
from orecart.spec import load_pipeline
from orecart.stores import Holder, open_store

TARGET_MS = 10.0
NAN = float("nan")


@dataclass
class Sample:
    """One variant in one repetition: wall time and per-member phases in seconds."""

    wall: float
    latency: list[float]
    cpu: float = float("nan")  # CPU time of the calling (runner) thread
    prep: list[float] = field(default_factory=list)
    execute: list[float] = field(default_factory=list)
    settle: list[float] = field(default_factory=list)


class Timing:
    """An event sink that notes, per member, the executor's span and when it finished."""

    def __init__(self) -> None:
        self.attempts: dict[str, tuple[datetime, datetime]] = {}
        self.finished: dict[str, tuple[datetime, datetime]] = {}  # runner start, seen at

    def emit(self, event: Event) -> None:
        if isinstance(event, AttemptFinished):
            a = event.attempt
            assert a.started_at and a.finished_at
            self.attempts[a.member] = (a.started_at, a.finished_at)
        elif isinstance(event, MemberFinished):
            seen = datetime.now(UTC)
            record = event.member_run
            assert record.status is MemberStatus.SUCCEEDED, record
            assert record.started_at is not None
            self.finished[record.member] = (record.started_at, seen)

    def sample(self, wall: float, cpu: float) -> Sample:
        s = Sample(wall, [], cpu)
        for name, (start, seen) in self.finished.items():
            spawn, exited = self.attempts[name]
            s.latency.append((seen - start).total_seconds())
            s.prep.append((spawn - start).total_seconds())
            s.execute.append((exited - spawn).total_seconds())
            s.settle.append((seen - exited).total_seconds())
        return s


class NoLocks:
    def lock(self, pipeline: str, holder: Holder) -> None: ...
    def unlock(self, pipeline: str, holder: Holder) -> None: ...
    def lease(self, pool: str, limit: int, holder: Holder) -> bool:
        return True

    def release(self, pool: str, holder: Holder) -> None: ...


# -- the variants ----------------------------------------------------------------------------


def plain_pool(count: int, parallel: int) -> Sample:
    def one(_: int) -> float:
        start = time.perf_counter()
        subprocess.run(["true"], check=True)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        latency = list(pool.map(one, range(count)))
    return Sample(time.perf_counter() - start, latency, execute=latency)  # exec = the whole run


def via_service(folder: Path, count: int, parallel: int) -> Sample:
    file = write_pipeline(folder, "overhead", trivial_members(count))
    timing = Timing()
    start, cpu = time.perf_counter(), time.thread_time()
    outcome = Tools().run(Source(file), RunOptions(max_parallel=parallel), sinks=[timing])
    wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    assert outcome.ok, outcome.run
    return timing.sample(wall, cpu)


def via_runner(folder: Path, count: int, parallel: int, with_store: bool) -> Sample:
    file = write_pipeline(folder, "overhead", trivial_members(count))
    the_plan = plan(load_pipeline(file))
    run = Run(id="bench", pipeline="overhead", status=RunStatus.QUEUED, pid=1, host="bench")
    timing = Timing()
    store = open_store(f"sqlite:///{folder / 'state.db'}") if with_store else None
    executor = LocalExecutor()
    backends = Backends(
        executors={"run": executor},
        locks=store if store is not None else NoLocks(),
        sink=Fanout(Recorder(store), timing) if store is not None else timing,
    )
    runner = Runner(the_plan, run, backends, RunConfig(folder / "runs", max_parallel=parallel))
    try:
        start, cpu = time.perf_counter(), time.thread_time()
        result = runner.run()
        wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    finally:
        executor.close()
        if store is not None:
            store.close()
    assert result.status is RunStatus.SUCCEEDED, result
    return timing.sample(wall, cpu)


def variants(count: int, parallel: int, scratch: Path) -> dict[str, Callable[[int], Sample]]:
    def folder(name: str, rep: int) -> Path:
        return scratch / f"{name}-{rep}"

    return {
        "plain pool": lambda rep: plain_pool(count, parallel),
        "service": lambda rep: via_service(folder("service", rep), count, parallel),
        "runner+sql": lambda rep: via_runner(folder("sql", rep), count, parallel, True),
        "runner+nostore": lambda rep: via_runner(folder("nostore", rep), count, parallel, False),
    }


# -- measuring and reporting -----------------------------------------------------------------


def measure(count: int, parallel: int, repeats: int) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="orecart-bench-") as scratch:
        runs = variants(count, parallel, Path(scratch))
        names = list(runs)
        runs[names[1]](-1)  # warm-up: imports, first SQLite file, page cache
        for rep in range(repeats):
            order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate the order
            for name in order:
                samples.setdefault(name, []).append(runs[name](rep))
            print(f"repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return samples


def report(samples: dict[str, list[Sample]], count: int, parallel: int) -> bool:
    """One row per variant (medians over repetitions, ms unless marked), then the verdicts."""
    base = samples["plain pool"]
    rep = Report(
        f"orchestration overhead: {count} x `true`, max_parallel {parallel} "
        f"(ms per member unless marked; medians of {len(base)} repetitions)",
        ["variant", "wall s", "latency", "p90", "prep", "exec", "settle",
         "runner CPU", "overhead (latency)", "overhead (amortised)"],
    )  # fmt: skip
    figures: dict[str, tuple[float, float]] = {}
    for name, runs in samples.items():
        pairs = list(zip(runs, base, strict=True))
        extra = median(median(s.latency) - median(b.latency) for s, b in pairs) * 1000
        amortised = median((s.wall - b.wall) / count * parallel for s, b in pairs) * 1000
        figures[name] = (extra, amortised)
        rep.row(
            name,
            median(s.wall for s in runs),
            _ms(runs, lambda s: median(s.latency)),
            _ms(runs, lambda s: sorted(s.latency)[int(0.9 * len(s.latency))]),
            *(_ms(runs, _phase(p)) for p in ("prep", "execute", "settle")),
            _ms(runs, lambda s: s.cpu / count),
            extra,
            amortised,
        )  # fmt: skip
    service = figures["service"]
    rep.target("service: median per-member latency overhead", service[0], TARGET_MS, "ms")
    rep.target("service: amortised per-member overhead", service[1], TARGET_MS, "ms")
    return rep.print()


def _ms(runs: list[Sample], figure: Callable[[Sample], float]) -> float:
    return median(figure(s) for s in runs) * 1000


def _phase(name: str) -> Callable[[Sample], float]:
    def figure(sample: Sample) -> float:
        values: list[float] = getattr(sample, name)
        return median(values) if values else NAN

    return figure


def hot_path(scratch: Path, count: int) -> dict[str, float]:
    """Median ms of each piece of per-member work the runner thread does, one at a time."""
    store = open_store(f"sqlite:///{scratch / 'state.db'}")
    pipeline = load_pipeline(write_pipeline(scratch, "hot", trivial_members(count)))
    store.save_run(Run(id="r", pipeline="hot", status=RunStatus.RUNNING, started_at=_now()))
    base = MemberRun(
        "r",
        "",
        MemberStatus.RUNNING,
        attempts=1,
        fingerprint="0123456789abcdef",
        log_path=str(scratch / "log"),
        artifacts=str(scratch / "artifacts"),
    )

    def running(i: int) -> None:
        store.save_member_run(replace(base, member=f"m{i}", started_at=_now()))

    def attempt(i: int) -> None:
        store.save_attempt(
            Attempt("r", f"m{i}", 1, MemberStatus.SUCCEEDED, 0, None, _now(), _now())
        )

    def succeeded(i: int) -> None:
        done = replace(base, member=f"m{i}", status=MemberStatus.SUCCEEDED, exit_code=0)
        store.save_member_run(replace(done, started_at=_now(), finished_at=_now()))

    recorder = Recorder(store)

    def recorded(i: int) -> None:  # what the runner's events write: the rows and the log
        started = replace(base, member=f"e{i}", started_at=_now())
        recorder.emit(MemberStarted(started, 1))
        recorder.emit(AttemptFinished(
            Attempt("r", f"e{i}", 1, MemberStatus.SUCCEEDED, 0, None, _now(), _now())))
        done = replace(started, status=MemberStatus.SUCCEEDED, exit_code=0, finished_at=_now())
        recorder.emit(MemberFinished(done))
        recorder.flush()  # one transaction, as the runner's step writes them

    def folder(i: int) -> None:
        (scratch / "runs" / "r" / f"m{i}").mkdir(parents=True, exist_ok=True)

    def environment(i: int) -> None:
        member_env(pipeline, pipeline.members[i], "r", (scratch, {}))

    costs = {
        "save_member_run (running)": _each(running, count),
        "save_attempt": _each(attempt, count),
        "save_member_run (succeeded, + ledger)": _each(succeeded, count),
        "recorder: those 3 records with their events, one batch": _each(recorded, count),
        "artifacts folder mkdir": _each(folder, count),
        "member_env": _each(environment, count),
    }
    store.close()
    costs["bare sqlite3: the same 3 writes, 3 transactions"] = _bare_sqlite(scratch, count)
    return costs


def _bare_sqlite(scratch: Path, count: int) -> float:
    """The three rows per member as plain sqlite3 upserts (WAL, synchronous=NORMAL)."""
    db = sqlite3.connect(scratch / "bare.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE mr (run_id, member, status, started_at, finished_at, "
        "PRIMARY KEY (run_id, member))"
    )
    db.execute(
        "CREATE TABLE at (run_id, member, number, status, PRIMARY KEY (run_id, member, number))"
    )
    upsert = (
        "INSERT INTO mr VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, member) DO UPDATE "
        "SET status = excluded.status, finished_at = excluded.finished_at"
    )

    def three(i: int) -> None:
        for sql, row in (
            (upsert, ("r", f"m{i}", "running", str(_now()), None)),
            ("INSERT OR REPLACE INTO at VALUES (?, ?, 1, ?)", ("r", f"m{i}", "succeeded")),
            (upsert, ("r", f"m{i}", "succeeded", str(_now()), str(_now()))),
        ):
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, row)
            db.execute("COMMIT")

    cost = _each(three, count)
    db.close()
    return cost


def _each(action: Callable[[int], object], count: int) -> float:
    times = []
    for i in range(count):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return median(times) * 1000


def _now() -> datetime:
    return datetime.now(UTC)


def print_hot_path(costs: dict[str, float]) -> None:
    print("\nper-member work on the runner thread, one call at a time (median ms):")
    print(table(["work", "ms"], [[k, v] for k, v in costs.items()]))


def profile(count: int, parallel: int) -> None:
    """cProfile one service run (main thread: runner loop, store) and print the top."""
    with tempfile.TemporaryDirectory(prefix="orecart-prof-") as scratch:
        via_service(Path(scratch) / "warm", count, parallel)
        profiler = cProfile.Profile()
        profiler.enable()
        via_service(Path(scratch) / "prof", count, parallel)
        profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one service run")
    args = parser.parse_args()
    if args.profile:
        profile(args.members, args.parallel)
        return 0
    samples = measure(args.members, args.parallel, args.repeats)
    met = report(samples, args.members, args.parallel)
    with tempfile.TemporaryDirectory(prefix="orecart-hot-") as scratch:
        print_hot_path(hot_path(Path(scratch), args.members))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
