"""Graph costs: run-log and diff overhead per writing member; backup and restore speed and memory.

Targets (from the issue), on a graph of 200k nodes and 500k relationships:

1. What orecart adds per writing member (pool ``neo4j-write``): the before-snapshot, the
   after-snapshot with its delta and the ``:_PipelineLogNode`` write: at most 30 ms median.
2. ``backup`` at least 50k nodes+relationships per second, ``restore`` at least 20k per
   second, with peak memory flat in graph size (peak RSS at 4x the graph at most 1.10x).

Method. One Neo4j 5 (``tests/services/neo4j.py``, full JIT, 2 GB heap, 1 GB page cache) is
started in a temp dir and deleted at the end. The graph is generated server-side with
batched ``UNWIND range(...)`` writes of 20k rows: four labels (one node in ten also carries
a fifth), a unique ``id`` per label, one range index, five relationship types between them;
properties of type integer, float, string, boolean, list of strings, list of integers,
Date, DateTime, LocalDateTime and Point (nodes) and float, integer, string, Date
(relationships). It is built at 50k/125k first, measured, then grown to 200k/500k.

* Backup/restore, at each size, ``--repeats`` rounds: ``backup(conn, path)`` in a fresh
  Python process, then the database is wiped (timed apart, not charged to restore) and
  ``restore(conn, path)`` loads the file back in another fresh process, so the next round
  backs up what the restore rebuilt. Each child times the call itself and reports its
  peak RSS from ``VmHWM`` (``common.peak_rss_mb``) and its RSS before the call. Rates are
  nodes+relationships per second; medians over the rounds.
* Per-member overhead, end to end through ``Tools().run``: 50 members ``run: ["true"]``,
  ``pool: neo4j-write`` (limit 1, so they run one after another), ``rerun: always``, run
  with the graph configured (``NEO4J_URI`` etc.: snapshots, run log, graph ledger) and the
  same file in another temp dir without a graph, alternating which goes first. Per member,
  latency is runner start -> its ``MemberFinished`` reaching an extra sink (after the
  state store and the graph run log wrote it). The figure held against the target is
  ``median(graph latency) - median(no-graph latency)``, per repetition, median over
  repetitions; the amortised ``(wall graph - wall no-graph) / 50`` (which also charges
  connecting, the ledger query and the run node to the members) is shown beside it.
  Latency is split at the executor's timestamps into prep (start -> spawn: includes the
  before-snapshot), exec and settle (exit -> recorded: the after-snapshot, the delta and
  the log write).
* Components, called one at a time on the same connection (median of ``--calls``), at both
  sizes: ``take_snapshot``, ``delta``, ``GraphGuard.before`` + ``after`` on a writing
  member's task, and ``GraphRunLog.record_member_run``.

    python benchmarks/bench_graph.py [--repeats 2] [--overhead-repeats 7] [--members 50]
    python benchmarks/bench_graph.py --skip-backup      # only the overhead, at 200k/500k
    python benchmarks/bench_graph.py --profile          # then cProfile the per-member graph
                                                        # work, one backup and one restore

Prints the backup/restore table, the end-to-end overhead table and the components, each
with its PASS/MISS lines; exits 1 when a target is missed. Run time is dominated by the
backup/restore rounds and the wipes between them: about 5.5 minutes on a quiet 2-core
machine at the rates of November 2026 (backup ~29k/s, restore ~13k/s), twice that when
other jobs load it; ``--repeats 1`` saves about a third, ``--profile`` adds 2-4 minutes.
cProfile inflates call-heavy Python (the driver's temporal types) against socket waits:
read its shares as where to look, not as the split of the unprofiled time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from common import (
    Report,
    installed_bytecode,
    median,
    neo4j_server,
    run_fresh,
    table,
    timed,
    trivial_members,
)

from orecart.events import AttemptFinished, Event, MemberFinished
from orecart.graph.backup import backup, restore
from orecart.graph.connect import GraphConnection
from orecart.graph.guard import GraphGuard
from orecart.graph.runlog import NODE_LABEL, RUN_LABEL, GraphRunLog, ensure_schema
from orecart.graph.schema import wipe
from orecart.graph.snapshot import delta, take_snapshot
from orecart.model import Graph, MemberRun, MemberStatus, Pipeline, Result, Task
from orecart.service import Source, Tools
from orecart.spec import load_pipeline

TARGET_MEMBER_MS = 30.0
BACKUP_RATE = 50_000  # nodes+relationships per second, at least
RESTORE_RATE = 20_000
RSS_RATIO = 1.10  # peak RSS at the big graph / at the small graph, at most
SIZES = ((50_000, 125_000), (200_000, 500_000))
BUILD_BATCH = 20_000
POOL = "neo4j-write"

LABELS = ("Person", "Company", "Product", "Place")
EXTRA_LABEL = "Tagged"  # one node in ten carries it too: multi-label nodes
LABEL_PROPS = {  # what each label has beyond the common properties
    "Person": "age: i % 90",
    "Company": "founded: localdatetime({year: 1900 + i % 120, month: 1 + i % 12, day: 3})",
    "Product": "price: toFloat(i % 5000) / 100.0, codes: [i % 7, i % 11, i % 13]",
    "Place": "location: point({latitude: toFloat(i % 180) - 90.0, "
    "longitude: toFloat(i % 360) - 180.0})",
}
TYPES = (  # relationship type, label index of its start, of its end
    ("KNOWS", 0, 0),
    ("WORKS_AT", 0, 1),
    ("MAKES", 1, 2),
    ("BOUGHT", 0, 2),
    ("LOCATED_IN", 1, 3),
)

_NODES = """
UNWIND range($first, $last, 4) AS i
CREATE (n:`{label}` {{
  id: i, name: 'node-' + toString(i), score: toFloat(i % 1000) / 7.0, active: i % 3 = 0,
  tags: ['t' + toString(i % 17), 't' + toString(i % 5)],
  born: date({{year: 1950 + i % 60, month: 1 + i % 12, day: 1 + i % 28}}),
  seen: datetime({{epochSeconds: 1600000000 + i}}), {extra}
}})
FOREACH (_ IN CASE WHEN i % 10 = 0 THEN [1] ELSE [] END | SET n:`{tagged}`)
"""

# Ends chosen by a multiplicative hash of k (deterministic, spread over every node of the
# end's label below $nodes: node i has label LABELS[i % 4] and id i).
_RELATIONSHIPS = """
UNWIND range($first, $last) AS k
WITH k, 4 * ((k * 7919 + 13) % $slots) + $start AS a, 4 * ((k * 104729 + 7) % $slots) + $end AS b
MATCH (x:`{start}` {{id: a}})
MATCH (y:`{end}` {{id: b}})
CREATE (x)-[:`{kind}` {{weight: toFloat(k % 1000) / 1000.0, n: k,
  since: date({{year: 2000 + k % 25, month: 1 + k % 12, day: 1 + k % 28}}),
  note: 'r' + toString(k % 97)}}]->(y)
"""


# -- the server and the graph -------------------------------------------------------------




def grow(conn: GraphConnection, nodes: tuple[int, int], relationships: tuple[int, int]) -> float:
    """Add nodes ``nodes[0]..nodes[1]-1`` and relationships to ``relationships[1]`` in all."""
    start = time.perf_counter()
    for s, label in enumerate(LABELS):
        conn.run(
            f"CREATE CONSTRAINT bench_{label.lower()}_id IF NOT EXISTS "
            f"FOR (n:`{label}`) REQUIRE n.id IS UNIQUE"
        )
        query = _NODES.format(label=label, extra=LABEL_PROPS[label], tagged=EXTRA_LABEL)
        for lo in range(nodes[0], nodes[1], BUILD_BATCH):
            hi = min(lo + BUILD_BATCH, nodes[1])
            first = lo + (s - lo) % 4
            if first < hi:
                conn.write(query, first=first, last=hi - 1)
    conn.run("CREATE INDEX bench_person_name IF NOT EXISTS FOR (n:Person) ON (n.name)")
    slots = nodes[1] // 4
    per_type = _split(relationships[1] - relationships[0], len(TYPES))
    offset = relationships[0]  # k goes on from the last build, so new ends differ
    for (kind, a, b), count in zip(TYPES, per_type, strict=True):
        query = _RELATIONSHIPS.format(start=LABELS[a], end=LABELS[b], kind=kind)
        for lo in range(offset, offset + count, BUILD_BATCH):
            hi = min(lo + BUILD_BATCH, offset + count)
            conn.write(query, first=lo, last=hi - 1, slots=slots, start=a, end=b)
        offset += count
    conn.run("CALL db.awaitIndexes(600)")
    return time.perf_counter() - start


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def counts(conn: GraphConnection) -> tuple[int, int]:
    row = conn.read(
        "CALL () { MATCH (n) RETURN count(n) AS n } "
        "CALL () { MATCH ()-[r]->() RETURN count(r) AS r } "
        "RETURN n, r"
    )[0]
    return int(row["n"]), int(row["r"])


# -- backup and restore, each in a fresh process ------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
from common import peak_rss_mb
from orecart.graph.backup import backup, restore
from orecart.graph.connect import GraphConnection
from orecart.model import Graph

action, uri, user, password, path = sys.argv[1:6]
with GraphConnection.open(Graph(uri, user, password)) as conn:
    before = peak_rss_mb()
    start = time.perf_counter()
    info = (backup if action == "backup" else restore)(conn, Path(path))
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "nodes": info.nodes, "relationships": info.relationships,
                  "rss_before": before, "rss_peak": peak_rss_mb()}))
"""


@dataclass
class Round:
    """One backup and restore round at one graph size."""

    backup: dict[str, Any]
    restore: dict[str, Any]
    wipe_seconds: float
    file_mb: float


def backup_rounds(graph: Graph, scratch: Path, repeats: int, size: str) -> list[Round]:
    rounds = []
    for rep in range(repeats):
        path = scratch / f"graph-{size}-{rep}.jsonl.gz"
        args = (graph.uri, graph.user, graph.password, str(path))
        saved = run_fresh(_CHILD, "backup", *args)
        with GraphConnection.open(graph) as conn:
            wipe_seconds, _ = timed(lambda c=conn: wipe(c))
        loaded = run_fresh(_CHILD, "restore", *args)
        rounds.append(Round(saved, loaded, wipe_seconds, path.stat().st_size / 2**20))
        path.unlink()
        print(
            f"{size} round {rep + 1}/{repeats}: backup {saved['seconds']:.1f} s, "
            f"restore {loaded['seconds']:.1f} s",
            file=sys.stderr,
        )
    return rounds


def _rate(result: dict[str, Any]) -> float:
    return (result["nodes"] + result["relationships"]) / result["seconds"]


# -- per-member overhead, end to end ------------------------------------------------------


class Timing:
    """An event sink noting per member the runner's start, the executor's span and when its
    MemberFinished arrived (the graph run log and state store come before it)."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[datetime, datetime]] = {}
        self.finished: dict[str, tuple[datetime, datetime]] = {}

    def emit(self, event: Event) -> None:
        if isinstance(event, AttemptFinished):
            a = event.attempt
            assert a.started_at and a.finished_at
            self.spans[a.member] = (a.started_at, a.finished_at)
        elif isinstance(event, MemberFinished):
            record = event.member_run
            assert record.status is MemberStatus.SUCCEEDED, record
            assert record.started_at is not None
            self.finished[record.member] = (record.started_at, datetime.now(UTC))


@dataclass
class Sample:
    wall: float
    latency: list[float] = field(default_factory=list)
    prep: list[float] = field(default_factory=list)
    execute: list[float] = field(default_factory=list)
    settle: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, wall: float, timing: Timing) -> Sample:
        s = cls(wall)
        for name, (start, seen) in timing.finished.items():
            spawn, exited = timing.spans[name]
            s.latency.append((seen - start).total_seconds())
            s.prep.append((spawn - start).total_seconds())
            s.execute.append((exited - spawn).total_seconds())
            s.settle.append((seen - exited).total_seconds())
        return s


def write_writers(folder: Path, count: int) -> Path:
    """``count`` trivial members in pool neo4j-write (limit 1), rerun every time."""
    document = {
        "pipeline": "graphbench",
        "pools": {POOL: 1},
        "members": [
            {"name": m.name, "run": list(m.run), "pool": POOL, "rerun": "always"}
            for m in trivial_members(count)
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def environ(graph: Graph | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    if graph is not None:
        env.update(NEO4J_URI=graph.uri, NEO4J_USERNAME=graph.user, NEO4J_PASSWORD=graph.password)
    return env


def run_once(folder: Path, count: int, graph: Graph | None) -> Sample:
    file = write_writers(folder, count)
    timing = Timing()
    start = time.perf_counter()
    outcome = Tools(environ(graph)).run(Source(file), sinks=[timing])
    wall = time.perf_counter() - start
    assert outcome.ok and not outcome.notes, (outcome.run, outcome.notes)
    assert len(timing.finished) == count, "members were skipped"
    return Sample.of(wall, timing)


def overhead(graph: Graph, scratch: Path, count: int, repeats: int) -> dict[str, list[Sample]]:
    variants: dict[str, Callable[[Path], Sample]] = {
        "no graph": lambda folder: run_once(folder, count, None),
        "graph": lambda folder: run_once(folder, count, graph),
    }
    names = list(variants)
    for name in names:  # warm-up: imports, driver, server plan cache
        variants[name](scratch / f"warm-{name}")
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for rep in range(repeats):
        for name in names[rep % 2 :] + names[: rep % 2]:
            samples[name].append(variants[name](scratch / f"{name}-{rep}".replace(" ", "-")))
        print(f"overhead repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return samples


# -- per-member components, one call at a time --------------------------------------------


def components(graph: Graph, scratch: Path, calls: int) -> dict[str, float]:
    """Median ms of each piece of graph work a writing member costs."""
    pipeline = load_pipeline(write_writers(scratch / "components", calls))
    with GraphConnection.open(graph) as conn:
        ensure_schema(conn)
        guard, log = GraphGuard(conn, pipeline), GraphRunLog(conn, pipeline)
        tasks = [_task(pipeline, i, scratch) for i in range(calls)]
        ok = Result(MemberStatus.SUCCEEDED, exit_code=0)
        first = take_snapshot(conn)
        change = delta(first, take_snapshot(conn))
        records = [_member_run(pipeline, i, change) for i in range(calls)]
        for i in range(3):  # warm the server's query plans
            guard.after(tasks[i], guard.before(tasks[i]), ok)
        costs = _interleaved(
            {
                "take_snapshot": lambda i: take_snapshot(conn),
                "delta (pure)": lambda i: delta(first, first),
                "GraphGuard.before": lambda i: guard.before(tasks[i]),
                "GraphGuard.before + after": lambda i: guard.after(
                    tasks[i], guard.before(tasks[i]), ok
                ),
                "GraphRunLog.record_member_run": lambda i: log.record_member_run(records[i]),
            },
            calls,
        )
        # the log nodes written here are not part of the generated graph
        conn.run(f"MATCH (n:`{RUN_LABEL}`|`{NODE_LABEL}`) DETACH DELETE n")
    return costs


def _task(pipeline: Pipeline, i: int, scratch: Path) -> Task:
    return Task(
        run_id="bench",
        pipeline=pipeline.name,
        member=pipeline.members[i],
        attempt=1,
        env={},
        base_dir=scratch,
        artifacts=scratch,
        inputs={},
        log_path=scratch / "log",
    )


def _member_run(pipeline: Pipeline, i: int, change: dict[str, Any]) -> MemberRun:
    now = datetime.now(UTC)
    return MemberRun(
        run_id=f"components-{time.time_ns()}",
        member=pipeline.members[i].name,
        status=MemberStatus.SUCCEEDED,
        attempts=1,
        exit_code=0,
        reason="rerun: always",
        fingerprint="0123456789abcdef",
        started_at=now,
        finished_at=now,
        delta={**change, "nodes": {"Person": 12}, "relationships": {"KNOWS": 30}},
    )


def _interleaved(actions: dict[str, Callable[[int], object]], calls: int) -> dict[str, float]:
    """Median ms per action, the actions taking turns so that drift hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for i in range(calls):
        for name, action in actions.items():
            start = time.perf_counter()
            action(i)
            times[name].append(time.perf_counter() - start)
    return {name: median(values) * 1000 for name, values in times.items()}


def profile(graph: Graph, scratch: Path, calls: int, backups: bool) -> None:
    """cProfile (this thread) the per-member graph work and, with ``backups``, one backup
    and one restore of the whole graph, in this process."""
    pipeline = load_pipeline(write_writers(scratch / "profile", calls))
    with GraphConnection.open(graph) as conn:
        guard, log = GraphGuard(conn, pipeline), GraphRunLog(conn, pipeline)
        ok = Result(MemberStatus.SUCCEEDED, exit_code=0)

        def members() -> None:
            for i in range(calls):
                task = _task(pipeline, i, scratch)
                result = guard.after(task, guard.before(task), ok)
                log.record_member_run(_member_run(pipeline, i, dict(result.delta or {})))

        _profiled(f"{calls} x guard before + after + log write", members)
        if backups:
            path = scratch / "profile.jsonl.gz"
            _profiled("backup", lambda: backup(conn, path))
            wipe(conn)  # restore into an empty database, as the rounds do
            _profiled("restore", lambda: restore(conn, path))


def _profiled(title: str, action: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(action)
    print(f"\n== profile: {title} ({time.perf_counter() - start:.1f} s under cProfile) ==")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


# -- reporting ----------------------------------------------------------------------------


def report_backup(results: dict[str, list[Round]]) -> bool:
    rep = Report(
        "backup and restore (medians over rounds; each call in a fresh process)",
        ["graph (nodes/rels)", "backup s", "backup /s", "restore s", "restore /s",
         "wipe s", "file MB", "backup RSS MB", "restore RSS MB", "RSS before call MB"],
    )  # fmt: skip
    peaks: dict[str, tuple[float, float]] = {}
    for size, rounds in results.items():
        peaks[size] = (
            median(r.backup["rss_peak"] for r in rounds),
            median(r.restore["rss_peak"] for r in rounds),
        )
        rep.row(
            size,
            median(r.backup["seconds"] for r in rounds),
            f"{median(_rate(r.backup) for r in rounds):,.0f}",
            median(r.restore["seconds"] for r in rounds),
            f"{median(_rate(r.restore) for r in rounds):,.0f}",
            median(r.wipe_seconds for r in rounds),
            median(r.file_mb for r in rounds),
            *peaks[size],
            median(r.backup["rss_before"] for r in rounds),
        )
    big = list(results)[-1]
    rounds = results[big]
    backup_rate = median(_rate(r.backup) for r in rounds)
    restore_rate = median(_rate(r.restore) for r in rounds)
    rep.target(f"backup at {big}: {backup_rate:,.0f}/s, us per node+rel",
               1e6 / backup_rate, 1e6 / BACKUP_RATE, "us")  # fmt: skip
    rep.target(f"restore at {big}: {restore_rate:,.0f}/s, us per node+rel",
               1e6 / restore_rate, 1e6 / RESTORE_RATE, "us")  # fmt: skip
    if len(results) > 1:
        small = list(results)[0]
        for i, what in enumerate(("backup", "restore")):
            rep.target(f"{what} peak RSS at {big} / at {small}",
                       peaks[big][i] / peaks[small][i], RSS_RATIO, "x")  # fmt: skip
    return rep.print()


def report_overhead(samples: dict[str, list[Sample]], count: int, graph_size: str) -> bool:
    base = samples["no graph"]
    rep = Report(
        f"per-member overhead: {count} x `true` in pool {POOL} (limit 1), graph {graph_size} "
        f"(ms per member; medians of {len(base)} repetitions)",
        ["variant", "wall s", "latency", "p90", "prep", "exec", "settle",
         "overhead (latency)", "overhead (amortised)"],
    )  # fmt: skip
    figures = {}
    for name, runs in samples.items():
        pairs = list(zip(runs, base, strict=True))
        extra = median(median(s.latency) - median(b.latency) for s, b in pairs) * 1000
        amortised = median((s.wall - b.wall) / count for s, b in pairs) * 1000
        figures[name] = extra
        rep.row(
            name,
            median(s.wall for s in runs),
            _ms(runs, lambda s: median(s.latency)),
            _ms(runs, lambda s: sorted(s.latency)[int(0.9 * len(s.latency))]),
            _ms(runs, lambda s: median(s.prep)),
            _ms(runs, lambda s: median(s.execute)),
            _ms(runs, lambda s: median(s.settle)),
            extra,
            amortised,
        )
    rep.target("graph: median per-member latency overhead (run log + snapshots + delta)",
               figures["graph"], TARGET_MEMBER_MS, "ms")  # fmt: skip
    return rep.print()


def _ms(runs: list[Sample], figure: Callable[[Sample], float]) -> float:
    return median(figure(s) for s in runs) * 1000


def print_components(parts: dict[str, dict[str, float]]) -> None:
    sizes = list(parts)
    names = list(parts[sizes[0]])
    print("\nper-member graph work, one call at a time (median ms):")
    print(table(["work", *sizes], [[n, *(parts[s][n] for s in sizes)] for n in names]))


def _label(size: tuple[int, int]) -> str:
    return f"{size[0] // 1000}k/{size[1] // 1000}k"


def main() -> int:
    installed_bytecode()  # orecart as installed, not compiled afresh by every process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="backup/restore rounds per size")
    parser.add_argument("--overhead-repeats", type=int, default=7)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--calls", type=int, default=50, help="calls per component timing")
    parser.add_argument("--skip-backup", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0, help="graph sizes x this (smoke)")
    args = parser.parse_args()
    begun = time.perf_counter()
    met = True
    rounds: dict[str, list[Round]] = {}
    parts: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="orecart-bench-graph-") as tmp, neo4j_server() as g:
        scratch = Path(tmp)
        print(f"Neo4j ready at {g.uri} after {time.perf_counter() - begun:.0f} s", file=sys.stderr)
        done = ((0, 0),)
        sizes = [(int(n * args.scale), int(r * args.scale)) for n, r in SIZES]
        sizes = sizes[-1:] if args.skip_backup else sizes
        for size in sizes:
            with GraphConnection.open(g) as conn:
                seconds = grow(conn, (done[-1][0], size[0]), (done[-1][1], size[1]))
                assert counts(conn) == size, counts(conn)
            print(f"graph {_label(size)} built in {seconds:.0f} s", file=sys.stderr)
            done += (size,)
            if not args.skip_backup:
                rounds[_label(size)] = backup_rounds(g, scratch, args.repeats, _label(size))
            parts[_label(size)] = components(g, scratch, args.calls)
        samples = overhead(g, scratch, args.members, args.overhead_repeats)
        if args.profile:
            profile(g, scratch, args.calls, backups=not args.skip_backup)
    if rounds:
        met &= report_backup(rounds)
    met &= report_overhead(samples, args.members, list(parts)[-1])
    print_components(parts)
    print(f"\ntotal {time.perf_counter() - begun:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
