"""Waits and check results in the state store (migration 0010), on SQLite and PostgreSQL:
they round-trip, and a database of revision 0009 is upgraded, or read as it is, without
them."""

from __future__ import annotations

import sqlalchemy as sa

from orecart.model import PARALLEL, Attempt, CheckResult, MemberRun, MemberStatus
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.stores.older import UNDO_0010
from tests.stores.test_contract import at, make_run

CHECKS = (CheckResult("genes", True, "returned true", "load"),
          CheckResult("edges", False, "check 'edges' failed: got 0, expected 1", "load"))
PIPELINE_CHECK = CheckResult("total", False, "check 'total' failed: got 1, expected 2")


def _record_waited(store: SqlStore) -> None:
    store.save_run(make_run("r-1", checks=(PIPELINE_CHECK,), backups=("/b/r-1-before.json",)))
    waited = MemberRun("r-1", "load", MemberStatus.SUCCEEDED, attempts=2, started_at=at(1),
                       finished_at=at(5), waited_at=at(3), waited_for="neo4j-write",
                       checks=CHECKS)
    store.save_member_run(waited)
    store.save_attempt(Attempt("r-1", "load", 1, MemberStatus.FAILED, 1, started_at=at(1),
                               finished_at=at(2), waited_at=at(0.5), waited_for=PARALLEL))
    store.save_attempt(Attempt("r-1", "load", 2, MemberStatus.SUCCEEDED, 0, started_at=at(4),
                               finished_at=at(5), waited_at=at(3), waited_for="neo4j-write"))


def test_waits_and_checks_round_trip(store: SqlStore) -> None:
    _record_waited(store)
    run = store.get_run("r-1")
    assert (run.checks, run.backups) == ((PIPELINE_CHECK,), ("/b/r-1-before.json",))
    [member] = store.member_runs("r-1")
    assert (member.waited_at, member.waited_for, member.checks) == (at(3), "neo4j-write", CHECKS)
    waits = [(a.number, a.waited_at, a.waited_for) for a in store.attempts("r-1")]
    assert waits == [(1, at(0.5), PARALLEL), (2, at(3), "neo4j-write")]


def test_a_member_run_saved_again_keeps_nothing_of_an_older_wait(store: SqlStore) -> None:
    """The runner's record is the whole truth: a wait it no longer carries is gone."""
    _record_waited(store)
    store.save_member_run(MemberRun("r-1", "load", MemberStatus.SUCCEEDED))
    [member] = store.member_runs("r-1")
    assert (member.waited_at, member.waited_for, member.checks) == (None, None, ())


def _back_to_0009(url: sa.URL) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in UNDO_0010:
            connection.execute(sa.text(statement))
    engine.dispose()


def test_a_0009_database_reads_as_it_is_and_upgrades(store_url: str) -> None:
    old = open_store(store_url)
    old.save_run(make_run("r-old"))
    old.save_member_run(MemberRun("r-old", "load", MemberStatus.SUCCEEDED, attempts=1))
    old.save_attempt(Attempt("r-old", "load", 1, MemberStatus.SUCCEEDED, 0, started_at=at(1)))
    old.close()
    _back_to_0009(old.engine.url)
    reader = open_store(store_url, read_only=True)  # never upgrades: reads what is there
    try:
        assert reader.get_run("r-old").checks == ()
        assert reader.member_runs("r-old")[0].waited_for is None
        assert [a.waited_at for a in reader.attempts("r-old")] == [None]
    finally:
        reader.close()
    upgraded = open_store(store_url)
    try:
        _record_waited(upgraded)
        assert upgraded.member_runs("r-1")[0].waited_for == "neo4j-write"
        assert upgraded.attempts("r-old")[0].waited_for is None
    finally:
        upgraded.close()


def test_the_attempts_of_retried_members_are_read_alone(store: SqlStore) -> None:
    _record_waited(store)  # load: two attempts
    store.save_member_run(MemberRun("r-1", "once", MemberStatus.SUCCEEDED, attempts=1))
    store.save_attempt(Attempt("r-1", "once", 1, MemberStatus.SUCCEEDED, 0))
    assert {a.member for a in store.attempts("r-1")} == {"load", "once"}
    assert [(a.member, a.number) for a in store.attempts("r-1", retried=True)] == [
        ("load", 1), ("load", 2)]
