"""Many trivial members: orecart beside doit 0.37, and a 10,000-member run end to end.

Part 1, beside a lean task runner. 200 independent trivial members (``run: ["true"]``) at
``max_parallel`` 2, against doit 0.37 running the same 200 commands (``doit -n 2 -P
thread``: a ``dodo.py`` of 200 tasks whose action is the argv ``["true"]``, so no shell
either side). Both are timed as whole processes, start-up included: ``orecart run FILE``
(full history: the default SQLite store beside the file, in a fresh folder each time)
and ``doit`` (its own ``.doit.db``, fresh too), alternating, medians over repetitions.
Target: orecart's median wall <= 2x doit's.

Part 2, scale. A generated 10,000-member DAG of trivial members (random needs to at most
three earlier members, seeded), ``max_parallel`` 2, run in a fresh process by
``Tools().run`` on SQLite and on PostgreSQL (a throwaway server started here, as the
tests start theirs), beside the same 10,000 ``subprocess.run(["true"])`` in a bare
``ThreadPoolExecutor(2)``. Per member, amortised as in ``bench_overhead.py``: (orecart's
``Tools().run`` wall - the pool's wall) / members * max_parallel, everything charged to
the members (planning, the store, the gaps between members). The whole command's wall is
shown too. Peak RSS is the child's ``VmHWM``. Then ``orecart status FILE`` of that run:
the ``Tools().status`` call in the measuring process as the command makes it (a summary:
the member runs that did not succeed, the rest counted in SQL), the same call as
``status --json`` makes it (every member run and attempt), and the whole ``orecart
status`` command in a fresh process (medians of 5); beside them ``Tools().show`` of the
run by id with ``--state`` and no pipeline file (the summary again), the store's part
alone (``status`` reads the file's heading first, to know the pipeline's name and
store). Targets: <= 1.5 ms per
member on SQLite, <= 3 ms on PostgreSQL; peak RSS <= 300 MB; status <= 0.3 s (the call and
the command).

    python benchmarks/bench_members.py [--repeats 5] [--members 10000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    Report,
    dag_members,
    installed_bytecode,
    median,
    trivial_members,
    write_pipeline,
)

from orecart.cli.display import MEMBER_ROWS
from orecart.service import Source, Tools

PARALLEL = 2
DOIT_RATIO = 2.0
SQLITE_MS, POSTGRES_MS = 1.5, 3.0
RSS_MB, STATUS_S = 300.0, 0.3

DODO = '''
def _task(i):
    return {"name": f"m{i:05d}", "actions": [["true"]], "verbosity": 0}


def task_members():
    for i in range(COUNT):
        yield _task(i)
'''

#: Run in a fresh process: one ``Tools().run`` of the file; its wall, status and VmHWM.
CHILD = """
import json, sys, time
from pathlib import Path
from common import peak_rss_mb
from orecart.service import RunOptions, Source, Tools
file, state, parallel = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
outcome = Tools().run(Source(file, state=state), RunOptions(max_parallel=parallel))
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "status": str(outcome.run.status), "rss": peak_rss_mb()}))
"""


def orecart_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "orecart", *args]


def _whole(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


# -- part 1: beside doit -------------------------------------------------------------------


def doit_command() -> list[str]:
    beside = Path(sys.executable).parent / "doit"
    return [str(beside) if beside.exists() else "doit", "-n", str(PARALLEL), "-P", "thread"]


def beside_doit(scratch: Path, count: int, repeats: int) -> tuple[list[float], list[float]]:
    """Whole-process walls of ``orecart run`` and ``doit``, alternating."""
    ours, theirs = [], []
    for rep in range(-1, repeats):  # -1: a warm-up of both (page cache, bytecode)
        mine = scratch / f"orecart-{rep}"
        file = write_pipeline(mine, "members", trivial_members(count), max_parallel=PARALLEL)
        doit = scratch / f"doit-{rep}"
        doit.mkdir()
        (doit / "dodo.py").write_text(f"COUNT = {count}\n{DODO}")
        pair = ((ours, orecart_command("run", str(file)), mine),
                (theirs, doit_command(), doit))
        for sink, argv, folder in pair if rep % 2 else reversed(pair):
            took = _whole(argv, folder)
            if rep >= 0:
                sink.append(took)
    return ours, theirs


# -- part 2: 10,000 members ----------------------------------------------------------------


def plain_pool(count: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda _: subprocess.run(["true"], check=True), range(count)))
    return time.perf_counter() - start


def big_run(folder: Path, count: int, state: str) -> dict[str, Any]:
    file = write_pipeline(folder, "big", dag_members(count, 14, 3, lambda i: ["true"]))
    start = time.perf_counter()
    child = _fresh(CHILD, str(file), state, str(PARALLEL))
    child["command"] = time.perf_counter() - start
    child["status_call"] = median(_status_call(file, state) for _ in range(5))
    child["json_call"] = median(_status_call(file, state, every=True) for _ in range(5))
    run_id = Tools().status(Source(file, state=state)).run.id  # type: ignore[union-attr]
    child["show_call"] = median(_show_call(folder / "absent.yaml", state, run_id)
                                for _ in range(5))
    child["status_command"] = median(
        _whole(orecart_command("status", str(file), "--state", state), folder)
        for _ in range(5)
    )
    return child


def _fresh(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh Python process that imports the same orecart as this one."""
    paths = [str(ROOT / "benchmarks"), *filter(None, [os.environ.get("PYTHONPATH")])]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _show_call(absent: Path, state: str, run_id: str) -> float:
    """``Tools().show`` of the run by id with ``--state`` and no file: the store's part of
    ``status`` alone (no pipeline file to read)."""
    start = time.perf_counter()
    Tools().show(Source(absent, state=state), run_id, attempts=False, rows=MEMBER_ROWS)
    return time.perf_counter() - start


def _status_call(file: Path, state: str, every: bool = False) -> float:
    """``Tools().status`` as ``orecart status`` calls it: a summary of the run (a page of
    member runs, the rest counted); ``every``: as ``status --json`` does, every member run
    and attempt."""
    source = Source(file, state=state)
    start = time.perf_counter()
    detail = Tools().status(source) if every else Tools().status(
        source, attempts=False, rows=MEMBER_ROWS)
    took = time.perf_counter() - start
    assert detail is not None
    return took


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (the tests' own launcher) and the URL of a database."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.services.postgres import PostgresServer, find_bindir

    server = PostgresServer(find_bindir())
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()


def scale(
    scratch: Path, count: int, with_postgres: bool
) -> tuple[float, dict[str, dict[str, Any]]]:
    pool = plain_pool(count)
    found = {"SQLite": big_run(scratch / "sqlite", count, f"sqlite:///{scratch / 'big.db'}")}
    if with_postgres:
        with postgres() as url:
            found["PostgreSQL"] = big_run(scratch / "pg", count, url)
    return pool, found


# -- reporting -----------------------------------------------------------------------------


def report_doit(ours: list[float], theirs: list[float], count: int) -> Report:
    rep = Report(
        f"{count} x `true` at max_parallel {PARALLEL}, whole processes "
        f"(medians of {len(ours)})",
        ["runner", "wall s", "per member ms"],
    )
    for name, walls in (("orecart run (SQLite history)", ours), ("doit 0.37", theirs)):
        rep.row(name, median(walls), median(walls) / count * 1000)
    rep.target("orecart / doit wall", median(ours) / median(theirs), DOIT_RATIO, "x")
    return rep


def report_scale(pool: float, found: dict[str, dict[str, Any]], count: int) -> Report:
    rep = Report(
        f"{count}-member DAG of `true` at max_parallel {PARALLEL} (pool: {pool:.2f} s)",
        ["store", "run s", "command s", "ms/member (amortised)", "peak RSS MB",
         "status call s", "--json call s", "show, no file s", "status command s"],
    )  # fmt: skip
    limits = {"SQLite": SQLITE_MS, "PostgreSQL": POSTGRES_MS}
    for store, child in found.items():
        assert child["status"] == "succeeded", child
        amortised = (child["wall"] - pool) / count * PARALLEL * 1000
        rep.row(store, child["wall"], child["command"], amortised, child["rss"],
                child["status_call"], child["json_call"], child["show_call"],
                child["status_command"])
        rep.target(f"{store}: orchestration per member", amortised, limits[store], "ms")
        rep.target(f"{store}: peak RSS", child["rss"], RSS_MB, "MB")
        rep.target(f"{store}: status (Tools call)", child["status_call"], STATUS_S, "s")
        rep.target(f"{store}: orecart status (command)", child["status_command"], STATUS_S, "s")
    return rep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", type=int, default=200, help="members beside doit")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    installed_bytecode()
    scratch = Path(tempfile.mkdtemp(prefix="orecart-bench-members-"))
    try:
        ours, theirs = beside_doit(scratch, args.small, args.repeats)
        pool, found = scale(scratch, args.members, not args.no_postgres)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    met = report_doit(ours, theirs, args.small).print()
    met &= report_scale(pool, found, args.members).print()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
