"""Makespan: does unlimited parallelism finish a DAG as fast as its critical path allows?

Workload: 40 members, each ``sleep D`` with D drawn from 0.2-1.0 s, and random needs to
earlier members (fixed seed, so the DAG is the same every time), at ``max_parallel`` 40.
Target (from the issue): makespan <= 1.05 x critical path + 0.25 s.

The critical path is computed from the generated durations alone (the longest chain of
needs, summed), so it is the ideal no scheduler can beat. The makespan held against the
target is the run's own span (``Run.started_at`` -> ``finished_at``, as recorded by the
runner); the wall time of the whole ``Tools().run`` call (loading, store, planning
included) is printed beside it with its own ratio. Medians over repetitions, each in a
fresh temp dir with the default SQLite store.

Side by side, each repetition also runs the same DAG with a plain baseline (one thread per
member that waits for its needs' events, then ``subprocess.run(["sleep", D])``): the
floor this machine allows at that moment, printed for comparison, not held to the target.

To show where time is lost, the members of the critical path are listed with, from the
store's records of the last repetition: the gap between the last need's end and the
member's start (the runner settling the need and scheduling), start -> spawn (recording
it, the executor thread, the log) and the process's time beyond its nominal sleep.

    python benchmarks/bench_makespan.py [--repeats 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from common import Report, Spec, dag_members, median, table, timed, write_pipeline

from orecart.service import RunDetail, RunOptions, Source, Tools

MEMBERS = 40
MOST_NEEDS = 3
RATIO, SLACK = 1.05, 0.25


def durations(seed: int) -> list[float]:
    rng = random.Random(seed ^ 0x5EED)
    return [round(rng.uniform(0.2, 1.0), 2) for _ in range(MEMBERS)]


def critical_path(members: list[Spec], seconds: list[float]) -> tuple[float, list[str]]:
    """Length and members of the longest chain; members are in dependency order."""
    index = {m.name: i for i, m in enumerate(members)}
    finish: list[float] = []
    via: list[int | None] = []
    for i, member in enumerate(members):
        best = max(member.needs, key=lambda n: finish[index[n]], default=None)
        start = finish[index[best]] if best else 0.0
        finish.append(start + seconds[i])
        via.append(index[best] if best else None)
    end = max(range(len(members)), key=finish.__getitem__)
    chain: list[str] = []
    step: int | None = end
    while step is not None:
        chain.append(members[step].name)
        step = via[step]
    return finish[end], chain[::-1]


def one_run(folder: Path, members: list[Spec]) -> tuple[float, float, RunDetail]:
    """(run span, service wall in seconds, the recorded run) of one run of the pipeline."""
    file = write_pipeline(folder, "makespan", members)
    wall, outcome = timed(
        lambda: Tools().run(Source(file), RunOptions(max_parallel=len(members)))
    )
    assert outcome.ok, outcome.run
    run = outcome.run
    assert run.started_at and run.finished_at
    detail = Tools().status(Source(file))
    assert detail is not None
    return (run.finished_at - run.started_at).total_seconds(), wall, detail


def plain_dag(members: list[Spec]) -> float:
    """Makespan of the DAG run by bare threads and events: the machine's floor."""
    done = {m.name: threading.Event() for m in members}

    def one(member: Spec) -> None:
        for need in member.needs:
            done[need].wait()
        subprocess.run(member.run, check=True)
        done[member.name].set()

    threads = [threading.Thread(target=one, args=(m,)) for m in members]

    def run_all() -> None:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    wall, _ = timed(run_all)
    return wall


def hops(
    detail: RunDetail, members: list[Spec], seconds: list[float], chain: list[str]
) -> list[list[object]]:
    """Per critical-path member: ms lost before start, before spawn, beyond its sleep."""
    records = {m.member: m for m in detail.member_runs}
    attempts = {a.member: a for a in detail.attempts}
    needs = {m.name: m.needs for m in members}
    rows: list[list[object]] = []
    lost = 0.0
    for name in chain:
        record, attempt = records[name], attempts[name]
        assert record.started_at and attempt.started_at and attempt.finished_at
        ends = [records[n].finished_at for n in needs[name]]
        ready = max([e for e in ends if e is not None], default=detail.run.started_at)
        assert ready is not None
        ms = [
            (record.started_at - ready).total_seconds() * 1000,
            (attempt.started_at - record.started_at).total_seconds() * 1000,
            ((attempt.finished_at - attempt.started_at).total_seconds() - seconds[int(name[1:])])
            * 1000,
        ]
        rows.append([name, seconds[int(name[1:])], *ms, sum(ms)])
        lost += sum(ms)
    rows.append(["total", "", "", "", "", lost])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    seconds = durations(args.seed)
    members = dag_members(MEMBERS, args.seed, MOST_NEEDS, lambda i: ["sleep", f"{seconds[i]}"])
    path, chain = critical_path(members, seconds)
    limit = RATIO * path + SLACK
    print(
        f"{MEMBERS} members, {sum(len(m.needs) for m in members)} needs, "
        f"total work {sum(seconds):.2f} s"
    )
    print(f"critical path {path:.2f} s over {len(chain)} members: {' -> '.join(chain)}")
    spans, walls, floors = [], [], []
    with tempfile.TemporaryDirectory(prefix="orecart-makespan-") as scratch:
        for rep in range(args.repeats):
            floors.append(plain_dag(members))
            span, wall, detail = one_run(Path(scratch) / f"r{rep}", members)
            spans.append(span)
            walls.append(wall)
            print(
                f"repetition {rep + 1}: run span {span:.3f} s, service wall {wall:.3f} s, "
                f"plain threads {floors[-1]:.3f} s",
                file=sys.stderr,
            )
    report = Report(
        f"makespan: {MEMBERS}-member DAG of sleeps, max_parallel {MEMBERS} "
        f"(median of {args.repeats})",
        ["figure", "seconds", "x critical path", "over 1.05 x CP"],
    )
    report.row("critical path", path, 1.0, "")
    report.row("target: 1.05 x CP + 0.25 s", limit, limit / path, "")
    for name, values in (
        ("plain threads (floor)", floors),
        ("run span (runner)", spans),
        ("Service.run wall", walls),
    ):
        value = median(values)
        report.row(name, value, value / path, value - RATIO * path)
    report.target("run span", median(spans), limit, "s")
    report.target("Service.run wall", median(walls), limit, "s")
    met = report.print()
    rows = hops(detail, members, seconds, chain)
    print("\ncritical path of the last repetition (ms lost per member):")
    print(
        table(
            ["member", "sleep s", "needs done -> start", "start -> spawn", "beyond sleep", "lost"],
            rows,
        )
    )
    print(f"(that run's span - critical path: {(span - path) * 1000:.1f} ms)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
