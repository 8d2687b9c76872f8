"""Shared helpers of the benchmarks: generated pipelines, timing, peak memory, tables.

The benchmarks are plain scripts (``python benchmarks/NAME.py``), not tests: they print
figures measured side by side in one run and a PASS/MISS line per target. This module
keeps what they share so each script reads as the measurement it makes.
"""

from __future__ import annotations

import compileall
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orecart.model import Graph

ROOT = Path(__file__).resolve().parent.parent
PIPELINE_FILE = "pipeline.yaml"


# -- generated pipelines -------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated member: its name, command and needs."""

    name: str
    run: tuple[str, ...]
    needs: tuple[str, ...] = ()


def trivial_members(count: int, command: Sequence[str] = ("true",)) -> list[Spec]:
    """``count`` independent members that each run ``command``."""
    return [Spec(f"m{i:05d}", tuple(command)) for i in range(count)]


def random_needs(count: int, rng: random.Random, most: int) -> list[tuple[int, ...]]:
    """For each of ``count`` members, 0..``most`` distinct earlier members it needs."""
    needs: list[tuple[int, ...]] = []
    for i in range(count):
        k = rng.randint(0, min(most, i))
        needs.append(tuple(sorted(rng.sample(range(i), k))))
    return needs


def dag_members(
    count: int, seed: int, most_needs: int, command: Callable[[int], Sequence[str]]
) -> list[Spec]:
    """``count`` members with random needs to earlier members (a DAG by construction)."""
    rng = random.Random(seed)
    needs = random_needs(count, rng, most_needs)
    names = [f"m{i:05d}" for i in range(count)]
    return [
        Spec(names[i], tuple(command(i)), tuple(names[j] for j in needs[i])) for i in range(count)
    ]


def write_pipeline(
    folder: Path, name: str, members: Iterable[Spec], max_parallel: int | None = None
) -> Path:
    """Write a native-format pipeline file into ``folder`` and return its path."""
    document: dict[str, Any] = {"pipeline": name}
    if max_parallel is not None:
        document["settings"] = {"max_parallel": max_parallel}
    document["members"] = [
        {"name": m.name, "run": list(m.run), **({"needs": list(m.needs)} if m.needs else {})}
        for m in members
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PIPELINE_FILE
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(document, Dumper=dumper, sort_keys=False, width=200))
    return path


# -- timing and memory ---------------------------------------------------------------------


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds ``action`` took, what it returned)."""
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux's ``VmHWM`` first: ``ru_maxrss`` survives ``exec``, so in a child started by a
    big parent it reports at least the parent's size at the fork, not the child's own peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_fresh(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh Python process; it must print one JSON object last."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "benchmarks")},
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def console_script(name: str) -> list[str]:
    """The installed console script beside this interpreter, not a pyenv shim in PATH
    (a shim adds its own start-up, which is not orecart's)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", name]


def installed_bytecode() -> None:
    """Byte-compile orecart's sources, as ``pip install`` does for an installed package;
    every benchmark that times fresh processes calls this first.

    An editable install compiles nothing, and where PYTHONDONTWRITEBYTECODE is set nothing
    writes the .pyc files at import either: every orecart command would then compile its
    modules from source first (about 40 ms), which no installed orecart does.
    """
    compileall.compile_dir(ROOT / "src", quiet=1)


# -- reporting -----------------------------------------------------------------------------


@dataclass
class Report:
    """A table of figures and a list of targets, printed at the end."""

    title: str
    headers: Sequence[str]
    rows: list[Sequence[object]] = field(default_factory=list)
    checks: list[tuple[str, float, float, str]] = field(default_factory=list)

    def row(self, *cells: object) -> None:
        self.rows.append(cells)

    def target(self, what: str, value: float, limit: float, unit: str) -> bool:
        """Record ``value`` against ``limit`` (at most); True when met."""
        self.checks.append((what, value, limit, unit))
        return value <= limit

    def print(self) -> bool:
        """Print the table and the verdicts; True when every target was met."""
        print(f"\n== {self.title} ==")
        print(table(self.headers, self.rows))
        ok = True
        for what, value, limit, unit in self.checks:
            met = value <= limit
            ok &= met
            verdict = "PASS" if met else "MISS"
            print(f"{verdict}  {what}: {value:.3f} {unit} (target <= {limit:g} {unit})")
        sys.stdout.flush()
        return ok


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table; floats with three decimals."""
    cells = [[_cell(c) for c in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def clean_exit(left: Sequence[str], load_before: float, passed: bool) -> int:
    """The exit code of a benchmark: 1 when it left anything behind or missed a target;
    prints the load average, which says how far the figures can be trusted."""
    if left:
        print(f"LEFT BEHIND: {list(left)}", file=sys.stderr)
        return 1
    print(
        f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"{os.cpu_count()} CPUs"
    )
    return 0 if passed else 1


@contextmanager
def neo4j_server() -> Iterator[Graph]:
    """A Neo4j tuned for measuring (not for a fast start); its data deleted afterwards."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests/ is not installed
    from tests.services import neo4j as launcher

    workdir = Path(tempfile.mkdtemp(prefix="orecart-bench-neo4j-"))
    process = None
    try:
        process, uri = launcher.start_neo4j(workdir, heap="2g", pagecache_mb=1024, quick=False)
        yield Graph(uri, launcher.USER, launcher.PASSWORD)
    finally:
        if process is not None:
            launcher.stop_neo4j(process)
        shutil.rmtree(workdir, ignore_errors=True)
