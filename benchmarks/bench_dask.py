"""Makespan on a Dask cluster: 400 one-second members over 2 workers x 4 threads.

Workload: 400 independent members, each ``sleep 1``, routed to the dask executor
(``settings.executor: {name: dask, address: ...}``) of a LocalCluster of 2 worker
processes x 4 threads that this script starts (``processes=True``, nannies, as
``dask://local`` would), so 8 run at once. ``max_parallel`` is 8 by default (the
cluster's slots; ``--max-parallel`` to change it). Target (from the issue): makespan
within 10% of the ideal 400 x 1 s / 8 = 50 s.

The makespan held against the target is the run's own span (``Run.started_at`` ->
``finished_at`` as recorded by the runner: connecting the client, every member's record,
log and artifacts included; the cluster's own start is not, it exists before the run).
Beside it, on the same cluster: the bare floor, ``client.map`` of 400 ``subprocess.run(
["sleep", "1"])`` tasks, which is what Dask alone allows on this machine.

    python benchmarks/bench_dask.py [--repeats 1] [--members 400] [--max-parallel 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from common import Report, median, timed

from orecart.service import RunOptions, Source, Tools

WORKERS, THREADS = 2, 4
WITHIN = 0.10


def sleep_one(_: int) -> int:
    return subprocess.run(["sleep", "1"], check=True).returncode


def bare_floor(client: Any, members: int) -> float:
    """Seconds Dask alone takes for the same sleeps on the same cluster."""
    seconds, _ = timed(lambda: client.gather(client.map(sleep_one, range(members), pure=False)))
    return seconds


def write_pipeline(folder: Path, address: str, members: int) -> Path:
    document = {
        "pipeline": "dask-makespan",
        "settings": {"executor": {"name": "dask", "address": address}},
        "members": [{"name": f"m{i:04d}", "run": ["sleep", "1"]} for i in range(members)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def one_run(folder: Path, address: str, members: int, parallel: int) -> tuple[float, float]:
    """(run span, service wall) of one run, in seconds."""
    file = write_pipeline(folder, address, members)
    wall, outcome = timed(lambda: Tools().run(Source(file), RunOptions(max_parallel=parallel)))
    assert outcome.ok, outcome.run
    run = outcome.run
    assert run.started_at and run.finished_at
    return (run.finished_at - run.started_at).total_seconds(), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--members", type=int, default=400)
    parser.add_argument("--max-parallel", type=int, default=WORKERS * THREADS)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    ideal = args.members / (WORKERS * THREADS)
    load_before = os.getloadavg()[0]
    spans, walls, floors = [], [], []
    with LocalCluster(n_workers=WORKERS, threads_per_worker=THREADS,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client, \
            tempfile.TemporaryDirectory(prefix="orecart-bench-dask-") as scratch:
        for rep in range(args.repeats):
            floors.append(bare_floor(client, args.members))
            span, wall = one_run(Path(scratch) / f"r{rep}", cluster.scheduler_address,
                                 args.members, args.max_parallel)
            spans.append(span)
            walls.append(wall)
            print(f"repetition {rep + 1}: run span {span:.2f} s, service wall {wall:.2f} s, "
                  f"bare dask {floors[-1]:.2f} s", file=sys.stderr)
    report = Report(
        f"dask: {args.members} x sleep 1 over {WORKERS} workers x {THREADS} threads, "
        f"max_parallel {args.max_parallel} (median of {args.repeats})",
        ["figure", "seconds", "x ideal"],
    )
    report.row("ideal", ideal, 1.0)
    report.row("bare dask client.map (floor)", median(floors), median(floors) / ideal)
    report.row("run span (runner)", median(spans), median(spans) / ideal)
    report.row("Service.run wall", median(walls), median(walls) / ideal)
    report.target("run span", median(spans), ideal * (1 + WITHIN), "s")
    met = report.print()
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{os.cpu_count()} CPUs")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
