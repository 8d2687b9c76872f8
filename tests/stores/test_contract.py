"""The state store contract: every test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from orecart.errors import LockedError, NotFoundError, StateError
from orecart.model import Attempt, MemberRun, MemberStatus, ReasonCode, Run, RunStatus
from orecart.stores import Holder, open_store
from orecart.stores.engine import parse_url
from orecart.stores.sql import DIED, SqlStore
from tests.stores.fixtures import schema_0_1_0 as old_schema
from tests.stores.older import UNDO_0004

BASE = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
HOST = socket.gethostname()


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def make_run(run_id: str, pipeline: str = "graph", minute: float = 0, **changes: object) -> Run:
    values: dict[str, object] = {
        "id": run_id,
        "pipeline": pipeline,
        "status": RunStatus.SUCCEEDED,
        "started_at": at(minute),
        "host": HOST,
        "pid": os.getpid(),
    }
    values.update(changes)
    return Run(**values)  # type: ignore[arg-type]


def member_run(
    run_id: str, member: str, status: MemberStatus, minute: float = 0, **changes: object
) -> MemberRun:
    values: dict[str, object] = {
        "run_id": run_id,
        "member": member,
        "status": status,
        "started_at": at(minute),
        "finished_at": at(minute + 1),
    }
    values.update(changes)
    return MemberRun(**values)  # type: ignore[arg-type]


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# -- runs, member runs, attempts, events ----------------------------------------------------


def test_run_round_trips_every_field(store: SqlStore) -> None:
    berlin = timezone(timedelta(hours=2))
    run = Run(
        id="r-1",
        pipeline="covidgraph",
        status=RunStatus.RUNNING,
        source="/srv/pipelines/covidgraph.yaml",
        params={"release": "2024-01", "region": "eu"},
        profile="prod",
        started_at=datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=berlin),
        finished_at=None,
        host="loader-1",
        pid=4242,
        version="0.1.0",
        backups=("backups/before.dump", "backups/after.dump"),
    )
    store.save_run(run)
    loaded = store.get_run("r-1")
    assert loaded == run
    assert loaded.started_at is not None and loaded.started_at.tzinfo == UTC
    assert loaded.started_at == datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    assert isinstance(loaded.backups, tuple)


def test_save_run_replaces_the_same_id(store: SqlStore) -> None:
    store.save_run(make_run("r-1", status=RunStatus.RUNNING))
    finished = make_run("r-1", status=RunStatus.FAILED, finished_at=at(5), params={"a": "b"})
    store.save_run(finished)
    assert store.get_run("r-1") == finished
    assert [run.id for run in store.runs()] == ["r-1"]


def test_member_run_round_trips_and_upserts(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    running = MemberRun(run_id="r-1", member="pubmed", status=MemberStatus.RUNNING, attempts=1,
                        started_at=at(1))  # fmt: skip
    store.save_member_run(running)
    assert store.member_runs("r-1") == [running]
    done = MemberRun(
        run_id="r-1",
        member="pubmed",
        status=MemberStatus.FAILED,
        attempts=2,
        exit_code=3,
        error="exit code 3",
        reason="fingerprint changed",
        fingerprint="fp-1",
        image="registry.example.org/pubmed:prod",
        digest="sha256:" + "a" * 64,
        log_path="runs/r-1/pubmed/log.txt",
        artifacts="runs/r-1/pubmed",
        started_at=at(1),
        finished_at=at(9),
        delta={"nodes": {"Paper": {"added": 12, "removed": 0}}, "labels": ["Paper"], "n": 1.5},
    )
    store.save_member_run(done)
    loaded = store.member_runs("r-1")
    assert loaded == [done]
    assert loaded[0].finished_at is not None and loaded[0].finished_at.tzinfo == UTC
    assert loaded[0].duration == 480.0


def test_member_runs_are_ordered_by_start(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    store.save_member_run(member_run("r-1", "late", MemberStatus.SUCCEEDED, minute=5))
    store.save_member_run(member_run("r-1", "early", MemberStatus.SUCCEEDED, minute=1))
    store.save_member_run(MemberRun("r-1", "waiting", MemberStatus.PENDING))
    assert [m.member for m in store.member_runs("r-1")] == ["early", "late", "waiting"]
    assert store.member_runs("no-such-run") == []


def test_member_run_of_an_unsaved_run_is_refused(store: SqlStore) -> None:
    with pytest.raises(StateError, match="r-missing"):
        store.save_member_run(member_run("r-missing", "a", MemberStatus.SUCCEEDED))


def test_attempts_upsert_and_filter(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    first = Attempt("r-1", "pubmed", 1, MemberStatus.FAILED, 1, "boom", at(0), at(1))
    second = Attempt("r-1", "pubmed", 2, MemberStatus.RUNNING, started_at=at(2))
    other = Attempt("r-1", "normalize", 1, MemberStatus.SUCCEEDED, 0, None, at(3), at(4))
    for attempt in (second, first, other):
        store.save_attempt(attempt)
    finished = Attempt("r-1", "pubmed", 2, MemberStatus.SUCCEEDED, 0, None, at(2), at(3))
    store.save_attempt(finished)
    assert store.attempts("r-1", "pubmed") == [first, finished]
    assert store.attempts("r-1") == [other, first, finished]
    assert store.attempts("r-1", "nobody") == []


def test_events_keep_order_time_and_data(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    before = datetime.now(UTC)
    store.add_event("r-1", "run_started", {"params": {"a": "1"}})
    store.add_event("r-1", "member_output", {"member": "m", "line": "hello ü"})
    store.add_event("r-1", "run_finished", {"status": "succeeded", "count": 2, "ok": True})
    found = store.events("r-1")
    assert [event.kind for event in found] == ["run_started", "member_output", "run_finished"]
    assert found[1].data == {"member": "m", "line": "hello ü"}
    assert found[2].data == {"status": "succeeded", "count": 2, "ok": True}
    for event in found:
        assert event.run_id == "r-1"
        assert event.at.tzinfo == UTC and before - timedelta(seconds=5) <= event.at
    assert store.events("other") == []


# -- finding runs -------------------------------------------------------------------------


def test_get_run_by_unique_prefix(store: SqlStore) -> None:
    for run_id in ("abc123", "abd456", "abd789", "x_1", "xy1"):
        store.save_run(make_run(run_id))
    assert store.get_run("abc").id == "abc123"
    assert store.get_run("abd4").id == "abd456"
    assert store.get_run("x_").id == "x_1"  # "_" is literal, not a LIKE wildcard


def test_get_run_ambiguous_prefix_lists_candidates(store: SqlStore) -> None:
    for run_id in ("abd456", "abd789"):
        store.save_run(make_run(run_id))
    with pytest.raises(NotFoundError, match="ambiguous") as raised:
        store.get_run("abd")
    assert "abd456" in str(raised.value) and "abd789" in str(raised.value)


def test_exact_id_wins_over_longer_ids(store: SqlStore) -> None:
    store.save_run(make_run("abc"))
    store.save_run(make_run("abcd"))
    assert store.get_run("abc").id == "abc"


@pytest.mark.parametrize("wanted", ["zzz", "", "a%", "abc123x"])
def test_get_run_unknown_raises_not_found(store: SqlStore, wanted: str) -> None:
    store.save_run(make_run("abc123"))
    with pytest.raises(NotFoundError, match="no run"):
        store.get_run(wanted)


def test_runs_newest_first_with_limit_and_pipeline(store: SqlStore) -> None:
    for minute, run_id in [(3, "c"), (1, "a"), (5, "e"), (2, "b"), (4, "d")]:
        store.save_run(make_run(run_id, pipeline="p" if run_id != "d" else "q", minute=minute))
    assert [r.id for r in store.runs()] == ["e", "d", "c", "b", "a"]
    assert [r.id for r in store.runs(limit=2)] == ["e", "d"]
    assert [r.id for r in store.runs("p")] == ["e", "c", "b", "a"]
    assert [r.id for r in store.runs("q")] == ["d"]
    assert store.runs("none") == []
    latest = store.latest_run("p")
    assert latest is not None and latest.id == "e"
    assert store.latest_run("none") is None


def test_a_queued_run_counts_as_newest(store: SqlStore) -> None:
    store.save_run(make_run("old", minute=1))
    store.save_run(make_run("queued", status=RunStatus.QUEUED, started_at=None))
    latest = store.latest_run("graph")
    assert latest is not None and latest.id == "queued"


# -- the ledger and the last statuses -----------------------------------------------------


def test_successes_hold_the_latest_success_per_member(store: SqlStore) -> None:
    store.save_run(make_run("r1", minute=0))
    store.save_member_run(member_run("r1", "a", MemberStatus.SUCCEEDED, 0, fingerprint="fp1"))
    store.save_member_run(member_run("r1", "b", MemberStatus.FAILED, 0, fingerprint="fpb"))
    store.save_run(make_run("r2", minute=10))
    second = member_run("r2", "a", MemberStatus.SUCCEEDED, 10, fingerprint="fp2", digest="d2")
    store.save_member_run(second)
    store.save_member_run(member_run("r2", "b", MemberStatus.SUCCEEDED, 10, fingerprint="fpb"))
    store.save_run(make_run("r3", minute=20, status=RunStatus.FAILED))
    store.save_member_run(member_run("r3", "c", MemberStatus.SKIPPED, 20))
    store.save_member_run(member_run("r3", "b", MemberStatus.CANCELLED, 20))
    store.save_run(make_run("other", pipeline="elsewhere", minute=30))
    store.save_member_run(member_run("other", "a", MemberStatus.SUCCEEDED, 30))

    found = store.successes("graph")
    assert set(found) == {"a", "b"}  # skipped and cancelled member runs did not run
    assert found["a"] == second
    assert (found["b"].run_id, found["b"].fingerprint) == ("r2", "fpb")
    assert store.successes("nothing") == {}


def test_an_older_success_saved_late_does_not_win(store: SqlStore) -> None:
    store.save_run(make_run("r1", minute=0))
    store.save_run(make_run("r2", minute=10))
    store.save_member_run(member_run("r2", "a", MemberStatus.SUCCEEDED, 10, fingerprint="new"))
    store.save_member_run(member_run("r1", "a", MemberStatus.SUCCEEDED, 0, fingerprint="old"))
    assert store.successes("graph")["a"].fingerprint == "new"


def test_a_member_that_ran_again_without_success_is_not_done(store: SqlStore) -> None:
    for status in (MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED,
                   MemberStatus.RUNNING):
        store.save_run(make_run(f"ok-{status}", minute=0))
        store.save_member_run(member_run(f"ok-{status}", "a", MemberStatus.SUCCEEDED, 0))
        assert "a" in store.successes("graph")
        store.save_run(make_run(f"again-{status}", minute=10))
        store.save_member_run(member_run(f"again-{status}", "a", status, 10))
        assert store.successes("graph") == {}, status  # it may have undone what it made


def test_one_record_of_many_members_keeps_the_ledger_as_one_at_a_time_would(
    store: SqlStore,
) -> None:
    """The recorder's batch: several member runs and attempts of one runner step, and
    their events, in one ``record``; the ledger judges each member as alone."""
    store.save_run(make_run("r1", minute=0))
    for name in ("a", "b", "c"):
        store.save_member_run(member_run("r1", name, MemberStatus.SUCCEEDED, 0))
    store.save_run(make_run("r2", minute=10))
    batch = [
        member_run("r2", "a", MemberStatus.SUCCEEDED, 10, fingerprint="new"),
        member_run("r2", "b", MemberStatus.RUNNING, 10, finished_at=None),  # runs again
        member_run("r2", "c", MemberStatus.RUNNING, -5, finished_at=None),  # before r1's end
        member_run("r2", "d", MemberStatus.FAILED, 10, started_at=None),
    ]
    attempts = [Attempt("r2", "a", 1, MemberStatus.SUCCEEDED, 0, None, at(10), at(11)),
                Attempt("r2", "d", 1, MemberStatus.FAILED, 1, "boom", None, at(11))]
    entries = [("member_finished", {"member": "a"}), ("member_started", {"member": "b"})]
    store.record("r2", entries, member_runs=batch, attempts=attempts)
    assert {m.member: m.status for m in store.member_runs("r2")} == {
        "a": MemberStatus.SUCCEEDED, "b": MemberStatus.RUNNING, "c": MemberStatus.RUNNING,
        "d": MemberStatus.FAILED}
    assert store.member_runs("r2", "b")[0].status is MemberStatus.RUNNING
    assert store.member_runs("r2", "nobody") == []
    assert [m.member for m in store.member_runs("r2", offset=1, limit=2)] == ["b", "c"]
    assert [m.member for m in store.member_runs("r2", offset=3)] == ["d"]
    assert store.attempts("r2") == attempts
    assert [e.kind for e in store.events("r2")] == ["member_finished", "member_started"]
    found = store.successes("graph")
    assert set(found) == {"a", "c"} and found["a"].fingerprint == "new"  # c: it started
    # before r1's success ended, so that success stands


def test_an_older_failure_saved_late_keeps_the_newer_success(store: SqlStore) -> None:
    store.save_run(make_run("r1", minute=0))
    store.save_run(make_run("r2", minute=10))
    store.save_member_run(member_run("r2", "a", MemberStatus.SUCCEEDED, 10, fingerprint="new"))
    store.save_member_run(member_run("r1", "a", MemberStatus.FAILED, 0))
    assert store.successes("graph")["a"].fingerprint == "new"


def test_last_statuses_come_from_the_latest_run_with_member_runs(store: SqlStore) -> None:
    assert store.last_statuses("graph") == {}
    store.save_run(make_run("r1", minute=0))
    store.save_member_run(member_run("r1", "a", MemberStatus.SUCCEEDED))
    store.save_member_run(member_run("r1", "b", MemberStatus.FAILED))
    store.save_run(make_run("r2", minute=10, status=RunStatus.FAILED))  # no member runs
    assert store.last_statuses("graph") == {"a": MemberStatus.SUCCEEDED, "b": MemberStatus.FAILED}
    store.save_run(make_run("r3", minute=20))
    store.save_member_run(member_run("r3", "b", MemberStatus.ERRORED))
    store.save_member_run(member_run("r3", "c", MemberStatus.CANCELLED))
    assert store.last_statuses("graph") == {"b": MemberStatus.ERRORED, "c": MemberStatus.CANCELLED}
    assert store.last_statuses("elsewhere") == {}


# -- the lock -----------------------------------------------------------------------------


def test_lock_conflict_names_the_holder(store: SqlStore) -> None:
    first = Holder("r-1", os.getpid(), HOST)
    second = Holder("r-2", os.getpid(), HOST)
    store.lock("graph", first)
    store.lock("graph", first)  # the holder asking again is fine
    with pytest.raises(LockedError) as raised:
        store.lock("graph", second)
    error = raised.value
    assert (error.pipeline, error.run_id, error.pid, error.host) == (
        "graph",
        "r-1",
        os.getpid(),
        HOST,
    )
    assert store.lock_holder("graph") == first
    store.lock("other-pipeline", second)  # locks are per pipeline


def test_unlock_only_by_the_holder(store: SqlStore) -> None:
    first = Holder("r-1", os.getpid(), HOST)
    second = Holder("r-2", os.getpid(), HOST)
    store.lock("graph", first)
    store.unlock("graph", second)
    assert store.lock_holder("graph") == first
    store.unlock("graph", first)
    assert store.lock_holder("graph") is None
    store.lock("graph", second)
    assert store.lock_holder("graph") == second


def test_lock_is_taken_over_from_a_dead_process(store: SqlStore) -> None:
    store.lock("graph", Holder("r-dead", dead_pid(), HOST))
    alive = Holder("r-2", os.getpid(), HOST)
    store.lock("graph", alive)
    assert store.lock_holder("graph") == alive


def test_lock_of_another_host_is_never_taken_over(store: SqlStore) -> None:
    store.lock("graph", Holder("r-far", dead_pid(), "some-other-host"))
    with pytest.raises(LockedError, match="some-other-host"):
        store.lock("graph", Holder("r-2", os.getpid(), HOST))


# -- leases -------------------------------------------------------------------------------


def test_lease_limit_is_enforced(store: SqlStore) -> None:
    holders = [Holder("r-1", os.getpid(), HOST, member=f"m{i}") for i in range(3)]
    assert store.lease("neo4j-write", 2, holders[0])
    assert store.lease("neo4j-write", 2, holders[1])
    assert not store.lease("neo4j-write", 2, holders[2])
    assert store.lease("neo4j-write", 2, holders[0])  # asking again takes no second slot
    assert not store.lease("neo4j-write", 2, holders[2])
    assert store.lease("other-pool", 1, holders[2])  # pools are independent
    store.release("neo4j-write", holders[0])
    assert store.lease("neo4j-write", 2, holders[2])
    assert store.leases("neo4j-write") == [holders[1], holders[2]]


def test_the_smallest_limit_among_the_holders_holds(store: SqlStore) -> None:
    # two pipelines on one store declare the pool with limits 1 and 3
    strict = Holder("r-strict", os.getpid(), HOST, member="one")
    loose = [Holder("r-loose", os.getpid(), HOST, member=f"m{i}") for i in range(3)]
    assert store.lease("neo4j-write", 1, strict)
    assert not store.lease("neo4j-write", 3, loose[0])  # strict runs alone
    store.release("neo4j-write", strict)
    assert store.lease("neo4j-write", 3, loose[0])
    assert store.lease("neo4j-write", 3, loose[1])
    assert not store.lease("neo4j-write", 1, strict)  # two run: more than strict allows
    assert store.lease("neo4j-write", 3, loose[2])  # loose's own limit still holds for it
    assert not store.lease("neo4j-write", 5, Holder("r-5", os.getpid(), HOST, member="x"))


def test_a_database_of_the_previous_release_opens_and_leases(store_url: str) -> None:
    engine = sa.create_engine(parse_url(store_url))  # as orecart 0.1.0 made it: no limit
    with engine.begin() as connection:
        old_schema.metadata.create_all(connection)
        connection.execute(sa.insert(old_schema.runs).values(
            id="r-old", pipeline="graph", status="running", source="", params={},
            host=HOST, pid=os.getpid(), version="0.1.0", backups=[]))
        connection.execute(sa.insert(old_schema.leases).values(
            pool="w", run_id="r-old", member="m", pid=os.getpid(), host=HOST,
            acquired_at=datetime.now(UTC)))
    engine.dispose()
    reopened = open_store(store_url)
    try:
        assert reopened.get_run("r-old").id == "r-old"
        assert not reopened.lease("w", 1, Holder("r-new", os.getpid(), HOST, member="n"))
        assert reopened.lease("w", 2, Holder("r-new", os.getpid(), HOST, member="n"))
    finally:
        reopened.close()


def test_member_runs_keep_their_reason_code_and_older_ones_open_without(
    store_url: str,
) -> None:
    first = open_store(store_url)
    first.save_run(make_run("r-old"))
    first.save_member_run(MemberRun("r-old", "m", MemberStatus.SKIPPED, reason="done by run x"))
    first.close()
    engine = sa.create_engine(first.engine.url)  # as revision 0002 left it: no code column
    with engine.begin() as connection:
        for statement in UNDO_0004:
            connection.execute(sa.text(statement))
        connection.execute(sa.text("ALTER TABLE member_runs DROP COLUMN reason_code"))
        connection.execute(sa.text("DROP TABLE notifications"))
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    engine.dispose()
    reopened = open_store(store_url)
    try:
        assert reopened.member_runs("r-old")[0].reason_code is None
        reopened.save_run(make_run("r-new"))
        coded = MemberRun("r-new", "m", MemberStatus.SKIPPED, reason="done by run r-old",
                          reason_code=ReasonCode.DONE)
        reopened.save_member_run(coded)
        assert reopened.member_runs("r-new")[0].reason_code is ReasonCode.DONE
    finally:
        reopened.close()


def test_concurrent_leases_never_exceed_the_limit(store_url: str, store: SqlStore) -> None:
    other = open_store(store_url)  # a second store: like a second orecart process
    try:
        stores = [store, other]
        barrier = threading.Barrier(16)

        def take(index: int) -> bool:
            holder = Holder(f"r-{index}", os.getpid(), HOST, member="m")
            barrier.wait()
            return stores[index % 2].lease("pool", 3, holder)

        with ThreadPoolExecutor(16) as pool:
            granted = list(pool.map(take, range(16)))
    finally:
        other.close()
    assert sum(granted) == 3
    assert len(store.leases("pool")) == 3


def test_lease_of_a_dead_process_is_reclaimed(store: SqlStore) -> None:
    store.lease("pool", 1, Holder("r-dead", dead_pid(), HOST, member="m"))
    far = Holder("r-far", dead_pid(), "some-other-host", member="m")
    assert store.lease("pool-2", 1, far)
    alive = Holder("r-2", os.getpid(), HOST, member="m")
    assert store.lease("pool", 1, alive)
    assert store.leases("pool") == [alive]
    assert not store.lease("pool-2", 1, alive)  # another host's holder is left alone


# -- recovery -----------------------------------------------------------------------------


def test_recover_aborts_runs_of_dead_processes(store: SqlStore) -> None:
    pid = dead_pid()
    store.save_run(
        make_run("dead", status=RunStatus.RUNNING, pid=pid, started_at=datetime.now(UTC))
    )
    store.save_member_run(member_run("dead", "done", MemberStatus.SUCCEEDED))
    store.save_member_run(
        MemberRun("dead", "busy", MemberStatus.RUNNING, attempts=1, started_at=at(1))
    )
    store.save_member_run(MemberRun("dead", "waiting", MemberStatus.PENDING))
    store.save_attempt(Attempt("dead", "busy", 1, MemberStatus.RUNNING, started_at=at(1)))
    holder = Holder("dead", pid, HOST, member="busy")
    store.lock("graph", holder)
    store.lease("pool", 5, holder)
    # still running: this very process, and a run of another host
    live = make_run("live", status=RunStatus.RUNNING, started_at=datetime.now(UTC))
    store.save_run(live)
    # another host's run is judged by its pipeline's lock: a live one of its own
    far = make_run("far", "far-graph", status=RunStatus.RUNNING, host="some-other-host",
                   pid=pid)
    store.save_run(far)
    store.lock("far-graph", Holder("far", pid, "some-other-host"))

    aborted = store.recover(HOST)

    assert [run.id for run in aborted] == ["dead"]
    run = store.get_run("dead")
    assert run.status is RunStatus.ABORTED and run.finished_at is not None
    assert aborted[0] == run
    states = {m.member: (m.status, m.error) for m in store.member_runs("dead")}
    assert states == {
        "done": (MemberStatus.SUCCEEDED, None),
        "busy": (MemberStatus.ABORTED, DIED),
        "waiting": (MemberStatus.ABORTED, DIED),
    }
    assert store.attempts("dead")[0].status is MemberStatus.ABORTED
    assert store.lock_holder("graph") is None
    assert store.leases("pool") == []
    assert store.get_run("live").status is RunStatus.RUNNING
    assert store.get_run("far").status is RunStatus.RUNNING
    assert store.recover(HOST) == []  # nothing left to do


def test_recover_treats_a_reused_pid_as_dead(store: SqlStore) -> None:
    # this process is alive, but it started long after the run claims it did
    old = make_run(
        "old", status=RunStatus.RUNNING, started_at=datetime.now(UTC) - timedelta(days=3)
    )
    store.save_run(old)
    assert [run.id for run in store.recover(HOST)] == ["old"]


# -- read-only ------------------------------------------------------------------------------


def test_reading_a_store_never_made_shows_no_history_and_creates_nothing(store_url: str) -> None:
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.runs() == [] and reader.latest_run("p") is None
    finally:
        reader.close()
    url = parse_url(store_url)
    if url.get_backend_name() == "sqlite":
        assert not Path(url.database or "").exists()
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            assert sa.inspect(connection).get_table_names() == []
    finally:
        engine.dispose()


def test_a_read_only_store_reads_runs_of_dead_processes_as_aborted(store_url: str) -> None:
    writer = open_store(store_url)
    run = make_run("r-dead", status=RunStatus.RUNNING, host=HOST, pid=dead_pid())
    writer.save_run(run)
    writer.save_member_run(member_run("r-dead", "a", MemberStatus.RUNNING))
    writer.close()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.get_run("r-dead").status is RunStatus.ABORTED
        assert [mr.status for mr in reader.member_runs("r-dead")] == [MemberStatus.ABORTED]
    finally:
        reader.close()
    writer = open_store(store_url)  # nothing was written: the row still says running
    try:
        with writer.engine.connect() as connection:
            status = connection.execute(sa.text("SELECT status FROM runs")).scalar()
        assert status == "running"
    finally:
        writer.close()


def test_a_record_and_its_events_are_written_together_or_not_at_all(store: SqlStore) -> None:
    store.save_run(make_run("r-1"))
    store.record("r-1", [("member_finished", {"member": "a"})],
                 member_runs=[member_run("r-1", "a", MemberStatus.SUCCEEDED)])
    assert [e.kind for e in store.events("r-1")] == ["member_finished"]
    assert store.member_runs("r-1")[0].status is MemberStatus.SUCCEEDED
    # an event of a run that does not exist cannot be appended: its rows are not kept either
    with pytest.raises(StateError):
        store.record("r-ghost", [("run_started", {})], run=make_run("r-2"),
                     member_runs=[member_run("r-1", "b", MemberStatus.SUCCEEDED)])
    with pytest.raises(NotFoundError):
        store.get_run("r-2")
    assert [m.member for m in store.member_runs("r-1")] == ["a"]
    assert "b" not in store.successes("graph")
