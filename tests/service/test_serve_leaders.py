"""Three ``orecart serve`` processes on ONE PostgreSQL state store, each in its own UTS
namespace under its own host name (as on three machines: none can judge another by its
pid), and the leader killed with SIGKILL while it runs a member:

- one serve leads recovery and each pipeline's schedule, sensors and triggers (the first
  one up leads what it serves), and ``orecart queue`` says which;
- an ``every: 1s`` schedule gets one run per tick across the three, no tick twice, and
  none lost but in the takeover gap;
- a file sensor's versions are loaded exactly once, those dropped after the kill too;
- the run the killed leader was running is aborted (its member processes gone with it)
  and queued again, and another serve starts it within 10 s of the kill;
- a pool of one slot, used by two pipelines run by different serves, is never exceeded;
  so is ``settings.max_runs`` of a real Neo4j graph two pipelines on two serves load.

Members count their own executions by appending to files, so "ran once" is the member's
word, not orecart's records.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orecart.model import Graph, Run
from orecart.service.schedules import tick_of
from orecart.stores import open_store
from orecart.stores.orphans import DIED
from tests.service.conftest import PgServed, held_pipeline, lines, pid_gone, wait_until
from tests.stores.conftest import fresh_database  # noqa: F401 - a fixture used below

TICKS = """
pipeline: ticks
schedule: {{every: 1s}}
members:
  - name: tick
    rerun: always
    shell: echo "$ORECART_RUN_ID" >> {out}
"""
DROPS = """
pipeline: drops
sensors:
  - name: drops
    file: {{glob: "incoming/*.csv"}}
    every: 1s
members:
  - name: load
    shell: 'echo "${{params.file}}" >> {out}'
"""
#: two pipelines whose members share the store's pool ``writer`` of one slot
POOLED = """
pipeline: {name}
pools: {{writer: 1}}
members:
  - name: write
    rerun: always
    pool: writer
    shell: |
      echo "start $(date +%s.%N)" >> {out}
      sleep 0.3
      echo "end $(date +%s.%N)" >> {out}
"""
FILES = ("ticks.yaml", "drops.yaml", "held.yaml")
#: what each serve serves beside FILES: each pooled pipeline runs on one serve only, so
#: their pool is shared across processes
POOLS = {"serve-a": (), "serve-b": ("pool-a.yaml",), "serve-c": ("pool-b.yaml",)}
TAKEOVER_S = 10.0
#: what serve-a leads, being the first one up
LED = ("pipeline:drops", "pipeline:held", "pipeline:ticks", "recovery")
#: a pipeline loading the graph ``uri`` with at most one run at a time per graph
LOADING = """
pipeline: {name}
graph: {{uri: "{uri}", user: {user}, password: "${{NEO4J_PASSWORD}}"}}
settings: {{max_runs: 1}}
members:
  - name: load
    rerun: always
    shell: |
      echo "start $(date +%s.%N)" >> {out}
      sleep 0.8
      echo "end $(date +%s.%N)" >> {out}
"""


@pytest.fixture
def three(tmp_path: Path, fresh_database: str) -> Iterator[PgServed]:  # noqa: F811
    folder = PgServed(tmp_path, fresh_database)
    (tmp_path / "incoming").mkdir()
    (tmp_path / "pids").mkdir()
    folder.write(TICKS.format(out=tmp_path / "ticks.out"), "ticks.yaml")
    folder.write(DROPS.format(out=tmp_path / "drops.out"), "drops.yaml")
    held = held_pipeline(tmp_path / "held.out", tmp_path / "pids", tmp_path / "gate",
                         seconds=120)  # a loaded machine is slow
    folder.write(held, "held.yaml")
    for name in ("pool-a", "pool-b"):
        folder.write(POOLED.format(name=name, out=tmp_path / "pool.out"), f"{name}.yaml")
    try:
        yield folder
    finally:
        for serve in folder.serves:
            serve.kill()
            print(f"--- {serve.log_path.name}\n{serve.log()}")  # shown when the test fails


def test_three_serves_on_postgresql_act_once_and_take_over_from_a_killed_leader(
        three: PgServed) -> None:
    folder = three.folder
    leader = three.serve(*FILES, host="serve-a")
    leader.wait_log("leading: pipeline:drops, pipeline:held, pipeline:ticks, recovery")
    held = three.enqueue(file="held.yaml")
    pids = _pids(folder, held)  # the leader runs it: no other serve is up yet
    others = [three.serve(*FILES, *POOLS[host], host=host, ready=False)
              for host in ("serve-b", "serve-c")]
    for serve in others:
        serve.wait_log("leading: pipeline:pool-")
    shown = json.loads(three.ok("queue", "-P", "held.yaml", "--json").out)
    ids = {host: _service_id(three, host) for host in POOLS}
    assert {(lead["kind"], lead["service"]) for lead in shown["leaders"]} == {
        *((kind, ids["serve-a"]) for kind in LED),
        ("pipeline:pool-a", ids["serve-b"]), ("pipeline:pool-b", ids["serve-c"])}
    table = three("queue", "-P", "held.yaml", env={"COLUMNS": "400"}).out
    assert (f"pid {leader.pid} on serve-a (leads pipeline:drops pipeline:held "
            "pipeline:ticks recovery)") in table
    assert f"pid {others[0].pid} on serve-b (leads pipeline:pool-a)" in table
    for n in range(3):
        (folder / "incoming" / f"{n}.csv").write_text(f"{n}\n")
    wait_until(lambda: len(lines(folder / "drops.out")) == 3, "three files loaded")
    pooled = [three.enqueue(file=f"{name}.yaml") for name in ("pool-a", "pool-b") * 3]
    time.sleep(2.0)  # ticks under the first leader

    assert _runs(three)[held].status == "running"
    leader.signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.wait()
    assert wait_until(lambda: all(pid_gone(p) for p in pids), "the held member's processes"
                      " to end"), "a member process survived kill -9 of its serve"
    for n in range(3, 5):
        (folder / "incoming" / f"{n}.csv").write_text(f"{n}\n")
    again = wait_until(lambda: _requeued(three, held), "the held run queued again")
    _pids(folder, again.id)  # its member started again, on another serve
    took = time.monotonic() - killed
    assert took <= TAKEOVER_S, f"the killed leader's run started again after {took:.1f}s"
    new = wait_until(lambda: _leaders(three, LED), "new leaders")
    assert new <= {ids["serve-b"], ids["serve-c"]}
    (folder / "gate").touch()

    runs = _runs(three)
    assert runs[held].status == "aborted" and runs[held].host == "serve-a"
    assert runs[again.id].host in {"serve-b", "serve-c"}
    wait_until(lambda: _runs(three)[again.id].status == "succeeded", "the requeued run")
    assert lines(folder / "held.out") == [held, again.id]
    wait_until(lambda: len(lines(folder / "drops.out")) == 5, "the later files loaded")
    time.sleep(2.0)  # ticks under the new leaders; a doubled load would show by now
    _check_ticks(three, took)
    assert sorted(lines(folder / "drops.out")) == [f"incoming/{n}.csv" for n in range(5)]
    wait_until(lambda: all(_runs(three)[r].status == "succeeded" for r in pooled),
               "the pooled runs")
    _check_pool(three, pooled, folder / "pool.out")


def test_a_serve_whose_run_another_took_over_stops_it_and_leaves_the_abort(
        three: PgServed) -> None:
    """Serve A freezes (as when its link to PostgreSQL drops) past the ttl: B aborts A's run
    and runs it again. Once A goes on, its heartbeat finds the lock taken: A stops the
    member it still runs, and its later writes do not turn B's abort into a success."""
    folder = three.folder
    a = three.serve("held.yaml", host="serve-a")
    a.wait_log("leading: ")
    held = three.enqueue(file="held.yaml")
    pids = _pids(folder, held)
    three.serve("held.yaml", host="serve-b")
    a.signal(signal.SIGSTOP)
    try:
        again = wait_until(lambda: _requeued(three, held), "the held run queued again")
        _pids(folder, again.id)  # B runs it
    finally:
        a.signal(signal.SIGCONT)
    assert wait_until(lambda: all(pid_gone(p) for p in pids), "A's member to be stopped")
    assert a.process.poll() is None  # A serves on
    (folder / "gate").touch()
    wait_until(lambda: _runs(three)[again.id].status == "succeeded", "the requeued run")
    time.sleep(1.0)  # A's last writes of its run, were they let through, are in by now
    shown = _runs(three)[held]
    assert (shown.status, shown.error, shown.host) == ("aborted", DIED, "serve-a")
    assert lines(folder / "held.out") == [held, again.id]


def _pids(folder: Path, run_id: str) -> list[int]:
    path = folder / "pids" / run_id
    wait_until(path.exists, f"run {run_id}'s member to start")
    return [int(p) for p in path.read_text().split()]


def _service_id(three: PgServed, host: str) -> str:
    store = open_store(three.url, read_only=True)
    try:
        return next(s.id for s in store.services() if s.host == host)
    finally:
        store.close()


def _leaders(three: PgServed, kinds: tuple[str, ...]) -> set[str] | None:
    """The services leading ``kinds``, once each has a leader."""
    store = open_store(three.url, read_only=True)
    try:
        leads = {lead.kind: lead.service for lead in store.leaders()}
    finally:
        store.close()
    return {leads[k] for k in kinds} if all(k in leads for k in kinds) else None


def _runs(three: PgServed) -> dict[str, Run]:
    store = open_store(three.url, read_only=True)
    try:
        return {run.id: run for run in store.runs(None, limit=1000)}
    finally:
        store.close()


def _requeued(three: PgServed, run_id: str) -> Run | None:
    """The run queued again for ``run_id`` (the only other run of its pipeline)."""
    runs = _runs(three)
    return next((r for r in runs.values()
                 if r.pipeline == runs[run_id].pipeline and r.id != run_id), None)


def _check_ticks(three: PgServed, took: float) -> None:
    """One run per tick: no key twice but a run the kill aborted and its run queued
    again; consecutive ticks a second apart but one gap no longer than the takeover."""
    scheduled = [r for r in _runs(three).values() if r.pipeline == "ticks"]
    keys = [r.key for r in scheduled if r.status != "aborted" and r.key]
    assert len(keys) == len(set(keys)), f"a tick got two runs: {sorted(keys)}"
    ran = lines(three.folder / "ticks.out")
    assert len(ran) == len(set(ran)), "a tick's run ran twice"
    ticks: list[datetime] = sorted({tick_of(k) for k in keys})
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) >= 4, ticks
    long = [g for g in gaps if g > timedelta(seconds=1)]
    assert len(long) <= 1 and all(g <= timedelta(seconds=took + 1) for g in long), gaps


def _check_pool(three: PgServed, pooled: list[str], out: Path) -> None:
    """The pool's one slot held across serves: no two members wrote at once."""
    runs = _runs(three)
    assert {runs[r].host for r in pooled} == {"serve-b", "serve-c"}
    marks = [line.split() for line in out.read_text().splitlines()]
    assert [kind for kind, _ in marks] == ["start", "end"] * len(pooled), marks
    stamps = [float(at) for _, at in marks]
    assert stamps == sorted(stamps)


def test_max_runs_of_a_graph_holds_across_serves(tmp_path: Path, fresh_database: str,  # noqa: F811
                                                 neo4j_graph: Graph) -> None:
    two = PgServed(tmp_path, fresh_database, {"NEO4J_PASSWORD": neo4j_graph.password})
    out = tmp_path / "spans.out"
    for name in ("left", "right"):
        two.write(LOADING.format(name=name, uri=neo4j_graph.uri, user=neo4j_graph.user,
                                 out=out), f"{name}.yaml")
    try:
        serves = [two.serve(f"{name}.yaml", host=f"serve-{name}", ready=False)
                  for name in ("left", "right")]
        for serve in serves:
            serve.wait_log("leading: pipeline:")
        runs = [two.enqueue(file=f"{name}.yaml") for name in ("left", "right")]
        wait_until(lambda: all(_runs(two)[r].status == "succeeded" for r in runs),
                   "the two runs", timeout=30)
    finally:
        for serve in two.serves:
            serve.kill()
    assert {_runs(two)[r].host for r in runs} == {"serve-left", "serve-right"}
    marks = [line.split() for line in out.read_text().splitlines()]
    assert [kind for kind, _ in marks] == ["start", "end"] * len(runs), marks
