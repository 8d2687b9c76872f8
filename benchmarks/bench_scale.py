"""Scale: a 10,000-member pipeline file, and `status` against a long run history.

Targets (from the issue):

1. parse + validate + plan of a generated 10,000-member pipeline file (random needs to
   0-3 earlier members, fixed seed) in at most 3 s, with peak RSS at most 400 MB. Each
   measurement runs in a fresh Python process: ``load_pipeline`` then ``planner.plan`` (no
   store: an empty ledger), timed after the imports; peak RSS is that process's
   ``ru_maxrss``. ``Tools().plan(Source(file))`` (which also opens the SQLite store and
   asks the ledger) is measured the same way and printed beside it.
2. ``status`` against a SQLite store holding 1,000 runs of a 50-member pipeline (50,000
   member runs and 50,000 attempts, written straight through the store's engine in bulk)
   in at most 0.5 s, as the ``Tools().status(Source(file))`` call (in a fresh process,
   first call after the imports, and warm in-process repeats) and as the wall time of the
   ``orecart status FILE --json`` command, which includes Python start-up and imports; the
   start-up alone (``python -c "from orecart.cli import app"``, and a bare ``python -c pass``) is
   printed beside it. For commands the CPU time (user + system) is printed too: on a
   shared, loaded machine it moves much less than the wall time.

Last, the import time of the CLI's imports (``python -X importtime``) is summed per top-level
package, to show what the command's start-up is made of.

Peak RSS is read from ``VmHWM`` in /proc (see ``common.peak_rss_mb``). Medians over
repetitions.

    python benchmarks/bench_scale.py [--members 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from common import (
    Report,
    console_script,
    dag_members,
    installed_bytecode,
    median,
    run_fresh,
    table,
    timed,
    trivial_members,
    write_pipeline,
)

from orecart.model import Attempt, MemberRun, MemberStatus, Run, RunStatus
from orecart.service import Source, Tools
from orecart.stores import default_state_url, open_store
from orecart.stores.schema import (
    attempt_values,
    attempts,
    ledger,
    member_run_values,
    member_runs,
    run_values,
    runs,
)

PLAN_S, PLAN_MB, STATUS_S = 3.0, 400.0, 0.5
RUNS, RUN_MEMBERS = 1000, 50

# Each child prints one JSON line: seconds of the measured work and peak RSS in MiB.
#: what the `orecart` command imports before it parses (orecart.cli itself is lazy)
CLI_IMPORT = "from orecart.cli import app"
LOAD_AND_PLAN = """
import json, sys, time
from common import peak_rss_mb
from orecart.planner import plan
from orecart.spec import load_pipeline
before = peak_rss_mb()
start = time.perf_counter()
pipeline = load_pipeline(sys.argv[1])
loaded = time.perf_counter()
the_plan = plan(pipeline)
done = time.perf_counter()
assert len(the_plan.steps) == len(pipeline.members)
print(json.dumps({"s": done - start, "load": loaded - start, "plan": done - loaded,
                  "rss": peak_rss_mb(), "rss_imports": before}))
"""
SERVICE_PLAN = """
import json, sys, time
from pathlib import Path
from common import peak_rss_mb
from orecart.service import Source, Tools
start = time.perf_counter()
Tools().plan(Source(Path(sys.argv[1])))
print(json.dumps({"s": time.perf_counter() - start, "rss": peak_rss_mb()}))
"""
SERVICE_STATUS = """
import json, sys, time
from pathlib import Path
from orecart.service import Source, Tools
start = time.perf_counter()
detail = Tools().status(Source(Path(sys.argv[1])))
assert detail is not None and len(detail.member_runs) == 50
print(json.dumps({"s": time.perf_counter() - start}))
"""


# -- the 10,000-member file ------------------------------------------------------------------


def measure_plan(folder: Path, count: int, repeats: int, report: Report) -> None:
    file = write_pipeline(folder, "scale", dag_members(count, 11, 3, lambda i: ["true"]))
    size = file.stat().st_size / 1e6
    direct = [run_fresh(LOAD_AND_PLAN, str(file)) for _ in range(repeats)]
    service = [run_fresh(SERVICE_PLAN, str(file)) for _ in range(repeats)]
    seconds = median(r["s"] for r in direct)
    rss = median(r["rss"] for r in direct)
    report.row(f"load_pipeline + plan, {count} members ({size:.1f} MB file)", seconds, "", rss)
    report.row(
        "  of which load_pipeline (parse, expand, validate)",
        median(r["load"] for r in direct),
        "",
        "",
    )
    report.row("  of which planner.plan", median(r["plan"] for r in direct), "", "")
    report.row(
        "  peak RSS after the imports alone", "", "", median(r["rss_imports"] for r in direct)
    )
    report.row(
        "Tools().plan (+ SQLite store, ledger)",
        median(r["s"] for r in service),
        "",
        median(r["rss"] for r in service),
    )
    report.target(f"parse + validate + plan of {count} members", seconds, PLAN_S, "s")
    report.target("peak RSS of that process", rss, PLAN_MB, "MiB")


# -- status against a long history -----------------------------------------------------------


def fill_history(file: Path) -> float:
    """Write RUNS runs of RUN_MEMBERS member runs (one attempt each); seconds it took."""
    names = [f"m{i:05d}" for i in range(RUN_MEMBERS)]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    run_rows, member_rows, attempt_rows = [], [], []
    for r in range(RUNS):
        start = t0 + timedelta(minutes=10 * r)
        run_id = f"{start:%Y%m%dT%H%M%S}-{r:06x}"
        run_rows.append(
            run_values(
                Run(
                    id=run_id,
                    pipeline="status",
                    status=RunStatus.SUCCEEDED,
                    source=str(file),
                    started_at=start,
                    finished_at=start + timedelta(minutes=5),
                    host="bench",
                    pid=1,
                )
            )
        )
        for i, name in enumerate(names):
            began, ended = start + timedelta(seconds=i), start + timedelta(seconds=i + 1)
            member_rows.append(
                member_run_values(
                    MemberRun(
                        run_id,
                        name,
                        MemberStatus.SUCCEEDED,
                        attempts=1,
                        exit_code=0,
                        reason="no earlier success here",
                        fingerprint="0123456789abcdef",
                        log_path=f"/runs/{run_id}/logs/{name}.log",
                        artifacts=f"/runs/{run_id}/{name}",
                        started_at=began,
                        finished_at=ended,
                    )
                )
            )
            attempt_rows.append(
                attempt_values(
                    Attempt(run_id, name, 1, MemberStatus.SUCCEEDED, 0, None, began, ended)
                )
            )
    last = run_rows[-1]["id"]
    ledger_rows = [
        {
            "pipeline": "status",
            "member": m["member"],
            "run_id": last,
            "fingerprint": m["fingerprint"],
            "digest": None,
            "started_at": m["started_at"],
            "finished_at": m["finished_at"],
        }
        for m in member_rows[-RUN_MEMBERS:]
    ]
    store = open_store(default_state_url(file))
    try:
        seconds, _ = timed(
            lambda: _insert(
                store.engine,
                [
                    (runs, run_rows),
                    (member_runs, member_rows),
                    (attempts, attempt_rows),
                    (ledger, ledger_rows),
                ],
            )
        )
    finally:
        store.close()
    return seconds


def _insert(engine: sa.Engine, batches: list[tuple[sa.Table, list[dict[str, object]]]]) -> None:
    with engine.begin() as connection:
        for table, rows in batches:
            connection.execute(sa.insert(table), rows)


def measure_status(folder: Path, repeats: int, report: Report) -> None:
    file = write_pipeline(folder, "status", trivial_members(RUN_MEMBERS))
    filled = fill_history(file)
    print(
        f"history written in {filled:.2f} s: {RUNS} runs, {RUNS * RUN_MEMBERS} member runs "
        f"and as many attempts",
        file=sys.stderr,
    )
    fresh = [run_fresh(SERVICE_STATUS, str(file))["s"] for _ in range(repeats)]
    warm = [timed(lambda: Tools().status(Source(file)))[0] for _ in range(repeats + 2)]
    commands = {
        "`orecart status FILE --json` command": [
            *console_script("orecart"),
            "status",
            str(file),
            "--json",
        ],
        "  start-up: python -c 'from orecart.cli import app'": [sys.executable, "-c", CLI_IMPORT],
        "  start-up: python -c pass": [sys.executable, "-c", "pass"],
    }
    timings = {name: [_command(argv) for _ in range(repeats)] for name, argv in commands.items()}
    report.row("Tools().status, first call in a fresh process", median(fresh), "", "")
    report.row("Tools().status, warm (same process)", median(warm), "", "")
    for name, pairs in timings.items():
        report.row(name, median(w for w, _ in pairs), median(c for _, c in pairs), "")
    command = median(w for w, _ in next(iter(timings.values())))
    report.target("Tools().status (fresh process)", median(fresh), STATUS_S, "s")
    report.target("`orecart status --json` command wall", command, STATUS_S, "s")


def _command(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, done = timed(lambda: subprocess.run(argv, capture_output=True, check=False))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed: {done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def import_costs(top: int = 12) -> list[list[object]]:
    """Self import time of the CLI's imports (``CLI_IMPORT``) per package, largest first (ms)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CLI_IMPORT],
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        package = (
            ".".join(name.split(".")[:2]) if name.startswith("orecart") else name.split(".")[0]
        )
        totals[package] = totals.get(package, 0.0) + int(own) / 1000
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    rows: list[list[object]] = [[name, ms] for name, ms in ranked[:top]]
    rows.append([f"({len(ranked) - top} more)", sum(ms for _, ms in ranked[top:])])
    rows.append(["total", sum(totals.values())])
    return rows


def main() -> int:
    installed_bytecode()  # orecart as installed, not compiled afresh by every process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = Report(
        f"scale (medians of {args.repeats})", ["measure", "seconds", "CPU s", "peak RSS MiB"]
    )
    with tempfile.TemporaryDirectory(prefix="orecart-scale-") as scratch:
        measure_plan(Path(scratch) / "plan", args.members, args.repeats, report)
        measure_status(Path(scratch) / "status", args.repeats, report)
    met = report.print()
    print("\nfrom orecart.cli import app, self time per package (ms, one fresh process):")
    print(table(["package", "ms"], import_costs()))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
