"""Graph triggers' tables on SQLite and PostgreSQL: firings claimed exactly once per
(pipeline, trigger, element), also by two racing processes; retries taken by one caller;
a dead owner's attempts waiting again, outcome unknown; cursors that never move back; a
restore forgetting firings, matches adopting them, the sweep dropping the rest; a
database of revision 0006 reading as having none and upgraded by a writer."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from orecart.querying import QueryExecution
from orecart.service.triggering import live_run_owners, run_owner
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from orecart.stores.triggers import STOPPED
from orecart.triggering import Firing, FiringStatus, params_key
from tests.stores.older import UNDO_0007

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PIPELINE = "trellis"
ELEMENTS = 200  # raced by two processes


def firing(element: int, trigger: str = "fastq", owner: str = "serve-a") -> Firing:
    values = {"sample": f"s{element}"}
    return Firing(PIPELINE, trigger, element, f"4:abc:{element}", values, params_key(values),
                  owner=owner, origin="serve")


def waiting(store: SqlStore, elements: range, owner: str = "serve-a") -> list[Firing]:
    """Firings of ``elements`` whose first attempt failed, due again at NOW."""
    claimed = store.claim_firings([firing(e, owner=owner) for e in elements])
    for f in claimed:
        assert f.id is not None
        assert store.finish_firing(f.id, owner, FiringStatus.WAITING, error="boom",
                                   next_at=NOW)
    return claimed


def test_a_firing_is_claimed_once_and_its_attempt_ended_by_its_owner(store: SqlStore) -> None:
    first = store.claim_firings([firing(1), firing(2), firing(1, trigger="other")])
    assert [(f.trigger, f.element, f.status, f.owner) for f in first] == [
        ("fastq", 1, FiringStatus.RUNNING, "serve-a"), ("fastq", 2, FiringStatus.RUNNING,
                                                        "serve-a"),
        ("other", 1, FiringStatus.RUNNING, "serve-a")]
    assert all(f.id is not None and f.created_at is not None for f in first)
    again = store.claim_firings([firing(2, owner="serve-b"), firing(3, owner="serve-b")])
    assert [(f.element, f.owner, f.params) for f in again] == [(3, "serve-b", {"sample": "s3"})]
    one = first[0]
    assert one.id is not None
    assert not store.finish_firing(one.id, "serve-b", FiringStatus.SUCCEEDED)  # not theirs
    assert store.finish_firing(one.id, "serve-a", FiringStatus.SUCCEEDED, run_id="r-1")
    assert not store.finish_firing(one.id, "serve-a", FiringStatus.FAILED)  # ended already
    [done] = store.firings(PIPELINE, "fastq", FiringStatus.SUCCEEDED)
    assert (done.element, done.run_id, done.attempts, done.error) == (1, "r-1", 1, None)
    assert done.ended_at is not None
    assert [f.element for f in store.firings(PIPELINE, "fastq")] == [3, 2, 1]  # newest first
    assert store.firing_counts(PIPELINE) == {"fastq": {"succeeded": 1, "running": 2},
                                             "other": {"running": 1}}
    with pytest.raises(ValueError, match="next_at"):
        store.finish_firing(one.id, "serve-a", FiringStatus.WAITING)
    assert [f.element for f in store.claim_firings([firing(7), firing(7)])] == [7]  # once
    with pytest.raises(ValueError, match="names its element"):
        store.claim_firings([Firing(PIPELINE, "fastq", None, "4:abc:x")])


def _race(url: str, mode: str, reverse: bool, start: Any, results: Any) -> None:
    """One racing process: claims every element in batches, or takes due firings."""
    store = open_store(url)
    owner = f"proc-{reverse}"
    try:
        start.wait(timeout=60)
        if mode == "claim":
            order = list(range(ELEMENTS))[::-1 if reverse else 1]
            got = []
            for at in range(0, ELEMENTS, 20):
                claimed = store.claim_firings([firing(e, owner=owner) for e in order[at:at + 20]])
                got += [f.element for f in claimed]
        else:
            got = []
            while taken := store.due_firings(PIPELINE, NOW, owner, limit=7):
                got += [f.element for f in taken]
        results.put(got)
    finally:
        store.close()


def race(url: str, mode: str) -> list[list[int]]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_race, args=(url, mode, reverse, start, results))
               for reverse in (False, True)]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return found


def test_two_processes_claiming_the_same_elements_claim_each_once(
        store_url: str, store: SqlStore) -> None:
    first, second = race(store_url, "claim")
    assert sorted(first + second) == list(range(ELEMENTS))  # each element, exactly once
    counts = store.firing_counts(PIPELINE)
    assert counts == {"fastq": {"running": ELEMENTS}}


def test_two_processes_taking_due_firings_never_take_one_twice(
        store_url: str, store: SqlStore) -> None:
    waiting(store, range(60))
    first, second = race(store_url, "due")
    assert sorted(first + second) == list(range(60))
    taken = store.firings(PIPELINE, status=FiringStatus.RUNNING, limit=100)
    assert {(f.attempts, f.next_at) for f in taken} == {(2, None)} and len(taken) == 60
    assert store.due_firings(PIPELINE, NOW, "late", limit=10) == []


def test_due_firings_are_the_waiting_ones_whose_time_came(store: SqlStore) -> None:
    [early, late] = waiting(store, range(2))
    assert late.id is not None
    store.finish_firing(late.id, "serve-a", FiringStatus.WAITING, next_at=NOW)  # not running
    assert store.due_firings(PIPELINE, NOW - timedelta(seconds=1), "b", 10) == []
    [taken] = store.due_firings(PIPELINE, NOW, "serve-b", limit=1)
    assert (taken.element, taken.status, taken.owner, taken.attempts) == (
        early.element, FiringStatus.RUNNING, "serve-b", 2)
    assert taken.error == "boom"  # the last attempt's, until this one ends
    assert taken.id is not None
    assert not store.finish_firing(taken.id, "serve-a", FiringStatus.SUCCEEDED)
    assert store.finish_firing(taken.id, "serve-b", FiringStatus.SUCCEEDED)


def test_a_dead_owners_attempts_wait_again_their_outcome_unknown(store: SqlStore) -> None:
    store.claim_firings([firing(1, owner="dead"), firing(2, owner="alive")])
    waiting(store, range(3, 4), owner="dead")
    assert store.recover_firings({"alive"}) == 1
    found = {f.element: f for f in store.firings(PIPELINE, status=FiringStatus.WAITING)}
    assert (found[1].error, found[3].error) == (STOPPED, "boom")  # 3 was not running
    assert found[1].next_at is not None and found[1].ended_at is not None
    assert store.firing_counts(PIPELINE) == {"fastq": {"waiting": 2, "running": 1}}
    assert store.recover_firings(set()) == 1  # no service lives: every running one waits


def test_the_firings_of_an_orecart_run_still_alive_on_this_host_are_not_recovered(
        store: SqlStore) -> None:
    host = socket.gethostname()
    store.claim_firings([firing(1, owner=run_owner(host, os.getpid())),
                         firing(2, owner=run_owner(host, 2**22 + 7))])  # past pid_max
    assert store.recover_firings(live_run_owners(host)) == 1
    running = store.firings(PIPELINE, status=FiringStatus.RUNNING)
    assert [f.element for f in running] == [1]


def test_a_cursor_never_moves_back_and_keeps_its_last_error(store: SqlStore) -> None:
    assert store.trigger_cursor(PIPELINE, "fastq").position == -1  # never polled
    store.advance_cursor(PIPELINE, "fastq", 120, NOW)
    store.advance_cursor(PIPELINE, "fastq", 80, NOW + timedelta(seconds=1))  # a slower poll
    cursor = store.trigger_cursor(PIPELINE, "fastq")
    assert (cursor.position, cursor.polled_at) == (120, NOW + timedelta(seconds=1))
    store.cursor_error(PIPELINE, "fastq", "Neo4j unavailable", NOW + timedelta(seconds=2))
    store.cursor_error(PIPELINE, "new", "Neo4j unavailable", NOW)
    failed = store.trigger_cursor(PIPELINE, "fastq")
    assert (failed.position, failed.error) == (120, "Neo4j unavailable")
    store.advance_cursor(PIPELINE, "fastq", 130, NOW + timedelta(seconds=3))
    assert [(c.trigger, c.position, c.error) for c in store.trigger_cursors(PIPELINE)] == [
        ("fastq", 130, None), ("new", -1, "Neo4j unavailable")]


def test_a_restore_forgets_firings_matches_adopt_them_and_the_sweep_drops_the_rest(
        store: SqlStore) -> None:
    one, two, three = store.claim_firings([firing(1), firing(2), firing(3)])
    assert one.id is not None and two.id is not None
    store.finish_firing(one.id, "serve-a", FiringStatus.SUCCEEDED, run_id="r-1")
    store.finish_firing(two.id, "serve-a", FiringStatus.WAITING, error="boom", next_at=NOW)
    store.advance_cursor(PIPELINE, "fastq", 3, NOW)
    store.claim_firings([Firing("other-pipeline", "fastq", 1, "e", owner="x")])
    assert store.forget_restored({PIPELINE}) == 3
    assert store.trigger_cursor(PIPELINE, "fastq").position == -1
    assert store.firing_counts(PIPELINE) == {"fastq": {"forgotten": 3}}
    assert store.due_firings(PIPELINE, NOW, "serve-b", 10) == []  # its element is unknown
    # the restored graph holds element 1's values under a new id: it is that firing again
    adopted = store.adopt_firing(PIPELINE, "fastq", one.params_key, 41, "4:new:41")
    assert adopted is not None
    assert (adopted.id, adopted.element, adopted.element_id, adopted.status, adopted.run_id) == (
        one.id, 41, "4:new:41", FiringStatus.SUCCEEDED, "r-1")
    assert store.adopt_firing(PIPELINE, "fastq", one.params_key, 42, "4:new:42") is None
    assert store.claim_firings([firing(41)]) == []  # adopted: not fired again
    back = store.adopt_firing(PIPELINE, "fastq", two.params_key, 42, "4:new:42")
    assert back is not None and back.status is FiringStatus.WAITING
    assert [f.element for f in store.due_firings(PIPELINE, NOW, "serve-b", 10)] == [42]
    # element 3 is still running when the restore forgot it: its owner still ends it
    assert three.id is not None
    assert store.finish_firing(three.id, "serve-a", FiringStatus.SUCCEEDED)
    assert store.firings(PIPELINE, status=FiringStatus.FORGOTTEN)[0].id == three.id
    assert store.drop_forgotten(PIPELINE, "fastq") == 1
    assert store.firing_counts(PIPELINE) == {"fastq": {"succeeded": 1, "running": 1}}
    assert [f.element for f in store.firings("other-pipeline")] == [1]  # not restored
    assert [f.element for f in store.claim_firings([firing(3)])] == [3]  # judged afresh


def test_a_0006_database_reads_without_triggers_and_a_writer_upgrades_it(
        store_url: str) -> None:
    first = open_store(store_url)
    first.record_query(QueryExecution(PIPELINE, "jobs", NOW, 0.1, "cli"))
    first.claim_firings([firing(1)])
    first.advance_cursor(PIPELINE, "fastq", 5, NOW)
    first.close()
    engine = sa.create_engine(first.engine.url)
    with engine.begin() as connection:
        for statement in UNDO_0007:
            connection.execute(sa.text(statement))
    engine.dispose()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.firings(PIPELINE) == [] and reader.firing_counts(PIPELINE) == {}
        assert reader.trigger_cursors(PIPELINE) == []
        assert reader.trigger_cursor(PIPELINE, "fastq").position == -1
    finally:
        reader.close()
    writer = open_store(store_url)
    try:
        assert writer.firings(PIPELINE) == []
        assert [e.query for e in writer.query_executions(PIPELINE)] == ["jobs"]  # kept
        assert [f.element for f in writer.claim_firings([firing(1)])] == [1]
    finally:
        writer.close()


def test_claiming_a_thousand_firings_is_one_fast_write(store: SqlStore) -> None:
    """A poll that finds 1,000 new matches claims them at once, and claiming them again
    (a second process, the same window) finds each held."""
    store.claim_firings([firing(-1)])  # warm the connection pool, as a serve process would
    batch = [firing(e) for e in range(1000)]
    started = time.perf_counter()
    claimed = store.claim_firings(batch)
    elapsed = time.perf_counter() - started
    again = time.perf_counter()
    assert store.claim_firings(batch) == []
    repeated = time.perf_counter() - again
    assert [f.element for f in claimed] == list(range(1000))
    assert elapsed < 1.5 and repeated < 1.5, f"claims took {elapsed:.3f}s, {repeated:.3f}s"
