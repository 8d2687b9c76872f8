"""Migration: upgrading a state database of the previous release in place.

Target (from the issue): a SQLite state database in orecart 0.1.0's schema (the baseline
revision, without a version table, as that release left it) holding 1,000 runs of a
50-member pipeline -- 50,000 member runs, 50,000 attempts, 1,000 events -- upgrades to the
current schema in at most 5 s. The rows are written with plain SQL into the old tables.
Each repetition upgrades a fresh copy of that file by opening it for writing
(``open_store``) in a fresh Python process, timed from before orecart's imports to the
store's close (so Alembic's import is in it); the slowest repetition is held against the
target. Beside it: the same upgrade in this process (imports already warm), opening the
database once it is current (one SELECT of the version, no Alembic), and creating a new
empty store.

    python benchmarks/bench_migrate.py [--runs 1000] [--members 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from common import Report, median, timed

from orecart.stores import migrate, open_store

TARGET_S = 5.0


def old_database(path: Path, runs: int, members: int) -> None:
    """An empty database in the baseline schema, then rows written with plain SQL."""
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(migrate.MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, migrate.BASELINE)
        connection.execute(sa.text(f"DROP TABLE {migrate.VERSION_TABLE}"))  # 0.1.0 had none
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _runs(runs))
        db.executemany(
            "INSERT INTO member_runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            _member_runs(runs, members),
        )
        db.executemany("INSERT INTO attempts VALUES (?,?,?,?,?,?,?,?)", _attempts(runs, members))
        db.executemany(
            "INSERT INTO events (run_id, at, kind, data) VALUES (?,?,?,?)",
            [(_run_id(r), _at(r, 0), "backup", '{"file": "x"}') for r in range(runs)],
        )
    db.close()


def _run_id(r: int) -> str:
    return f"20260101T000000-{r:06x}"


def _at(r: int, second: int) -> str:
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=10 * r, seconds=second)
    return when.replace(tzinfo=None).isoformat(sep=" ")


def _runs(runs: int) -> list[tuple[object, ...]]:
    return [
        (_run_id(r), "bench", "succeeded", "pipeline.yaml", '{"release": "r1"}', None,
         _at(r, 0), _at(r, 300), "bench", 1, "0.1.0", "[]", None)
        for r in range(runs)
    ]


def _member_runs(runs: int, members: int) -> list[tuple[object, ...]]:
    return [
        (_run_id(r), f"m{i:05d}", "succeeded", 1, 0, None, "no earlier success here",
         "0123456789abcdef", None, None, f"/runs/{r}/logs/m{i}.log", f"/runs/{r}/m{i}",
         _at(r, i), _at(r, i + 1), None, i)
        for r in range(runs) for i in range(members)
    ]


def _attempts(runs: int, members: int) -> list[tuple[object, ...]]:
    return [
        (_run_id(r), f"m{i:05d}", 1, "succeeded", 0, None, _at(r, i), _at(r, i + 1))
        for r in range(runs) for i in range(members)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report = Report(f"migration (of {args.repeats})", ["measure", "median s", "slowest s"])
    with tempfile.TemporaryDirectory(prefix="orecart-migrate-") as scratch:
        folder = Path(scratch)
        original = folder / "old.db"
        made, _ = timed(lambda: old_database(original, args.runs, args.members))
        print(f"wrote {args.runs} runs x {args.members} members in the 0.1.0 schema "
              f"({original.stat().st_size / 2**20:.1f} MiB) in {made:.1f} s")
        upgrades, warm, current, fresh = [], [], [], []
        for n in range(args.repeats):
            copy = folder / f"copy-{n}.db"
            shutil.copy(original, copy)
            upgrades.append(_upgrade_in_a_fresh_process(copy))
            _check(copy, args.runs * args.members)
            shutil.copy(original, copy)
            warm.append(timed(lambda c=copy: open_store(f"sqlite:///{c}").close())[0])
            current.append(timed(lambda c=copy: open_store(f"sqlite:///{c}").close())[0])
            new = f"sqlite:///{folder / f'new-{n}.db'}"
            fresh.append(timed(lambda u=new: open_store(u).close())[0])
            _check(copy, args.runs * args.members)
    report.row("upgrade 0.1.0 -> head, fresh process", median(upgrades), max(upgrades))
    report.row("upgrade 0.1.0 -> head, warm imports", median(warm), max(warm))
    report.row("open at head (no-op)", median(current), max(current))
    report.row("create a new store", median(fresh), max(fresh))
    report.target("upgrade of the slowest repetition", max(upgrades), TARGET_S, "s")
    return 0 if report.print() else 1


CHILD = """
import json, sys, time
start = time.perf_counter()
from orecart.stores import open_store
open_store("sqlite:///" + sys.argv[1]).close()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _upgrade_in_a_fresh_process(path: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    seconds: float = json.loads(done.stdout)["seconds"]
    return seconds


def _check(path: Path, member_runs: int) -> None:
    """The upgraded copy is at head and lost no member run."""
    with sqlite3.connect(path) as db:
        version = db.execute(f"SELECT version_num FROM {migrate.VERSION_TABLE}").fetchone()
        count = db.execute("SELECT count(*) FROM member_runs").fetchone()
    db.close()
    assert version == (migrate.HEAD,), version
    assert count == (member_runs,), count


if __name__ == "__main__":
    sys.exit(main())
