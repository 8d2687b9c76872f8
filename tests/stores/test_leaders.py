"""The lead among services on one store, on SQLite and PostgreSQL: one holder at a time,
renewed by its heartbeat beyond its ttl, taken over once it expired (its holder gone on
another host) or was given back; a holder that lost it learns so at its next ask. And a
running run of another host is judged by its pipeline's lock: aborted once it expired."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from orecart.model import RunStatus, ServiceEntry
from orecart.stores import Holder, open_store
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import HOST, dead_pid, make_run
from tests.stores.test_leases import FAR, TTL, eventually


def leader(service: str, host: str = HOST, pid: int | None = None) -> ServiceEntry:
    now = datetime.now(UTC)
    return ServiceEntry(service, host, os.getpid() if pid is None else pid, None, "0", now,
                        now)


KINDS = {"recovery", "pipeline:a"}


@pytest.fixture
def short(store_url: str) -> Iterator[SqlStore]:
    """A store whose rows live ``TTL`` seconds without a heartbeat."""
    opened = open_store(store_url, lease_ttl=TTL)
    yield opened
    opened.close()


def test_one_holder_leads_beyond_its_ttl_and_another_takes_over_once_it_expired(
        short: SqlStore, store: SqlStore) -> None:
    far = leader("far", FAR, dead_pid())
    assert short.lead(KINDS, far) == KINDS
    assert short.lead(KINDS, far) == KINDS  # asking again: still the leader
    for _ in range(5):  # several beats, asked as a serve's loop asks
        time.sleep(TTL / 4)
        assert short.lead(KINDS, far) == KINDS
    assert store.lead({*KINDS, "pipeline:b"}, leader("here")) == {"pipeline:b"}
    assert [(lead.kind, lead.service, lead.host) for lead in store.leaders()] == [
        ("pipeline:a", "far", FAR), ("pipeline:b", "here", HOST), ("recovery", "far", FAR)]
    short.close()  # its host went away: no more beats (a SIGKILL there)
    took = eventually(lambda: store.lead(KINDS, leader("here")) == KINDS, within=TTL * 4)
    assert took <= TTL * 2
    assert {lead.service for lead in store.leaders()} == {"here"}


def test_a_holder_that_stops_asking_loses_its_leads_though_its_process_lives(
        short: SqlStore, store: SqlStore) -> None:
    """A serve whose loop hangs (its main thread alive, its heartbeat beating) asks no
    more: its leads are renewed no longer, and another takes them after their ttl."""
    far = leader("far", FAR, dead_pid())
    assert short.lead(KINDS, far) == KINDS
    took = eventually(lambda: store.lead(KINDS, leader("here")) == KINDS, within=TTL * 5)
    assert took <= TTL * 3
    assert short.lead(KINDS, far) == set()  # it learns so at its next ask


def test_a_lead_given_back_is_taken_at_once_and_its_old_holder_leads_no_more(
        short: SqlStore, store: SqlStore) -> None:
    assert short.lead(KINDS, leader("first")) == KINDS
    assert store.lead(KINDS, leader("second")) == set()
    short.resign({"recovery"})
    assert [lead.kind for lead in store.leaders()] == ["pipeline:a"]
    assert store.lead(KINDS, leader("second")) == {"recovery"}
    assert short.lead(KINDS, leader("first")) == {"pipeline:a"}
    for _ in range(6):  # the beats keep both; the resign stopped first's of recovery
        time.sleep(TTL / 4)
        assert short.lead(KINDS, leader("first")) == {"pipeline:a"}
    assert [(lead.kind, lead.service) for lead in short.leaders()] == [
        ("pipeline:a", "first"), ("recovery", "second")]
    store.resign(KINDS)


def test_a_lead_of_a_dead_process_on_this_host_is_free_at_once(store: SqlStore,
                                                               store_url: str) -> None:
    other = open_store(store_url)
    try:
        assert other.lead(KINDS, leader("dead", pid=dead_pid())) == KINDS
        assert store.lead(KINDS, leader("here")) == KINDS  # no wait for the 60 s ttl
    finally:
        other.close()


def test_a_running_run_of_another_host_is_aborted_once_its_lock_expired(
        short: SqlStore, store: SqlStore) -> None:
    pid = dead_pid()
    store.save_run(make_run("far", status=RunStatus.RUNNING, host=FAR, pid=pid,
                            started_at=datetime.now(UTC)))
    store.save_run(make_run("kept", "kept", status=RunStatus.RUNNING, host=FAR, pid=pid,
                            started_at=datetime.now(UTC)))
    # far's lock taken in a thread that ends: its beats stop, as when its host died
    worker = threading.Thread(target=short.lock, args=("graph", Holder("far", pid, FAR)))
    worker.start()
    worker.join()
    short.lock("kept", Holder("kept", pid, FAR))  # renewed while this thread lives
    assert store.recover(HOST) == []  # far's lock not expired yet
    eventually(lambda: bool(store.recover(HOST)), within=TTL * 4)
    assert store.get_run("far").status is RunStatus.ABORTED
    assert store.lock_holder("graph") is None
    assert store.get_run("kept").status is RunStatus.RUNNING


def test_a_pipeline_with_a_long_name_is_led(store: SqlStore) -> None:
    """Pipeline names run to 200 characters (Motherlode's): its kind fits the column, also
    where PostgreSQL enforces the length."""
    kinds = {"pipeline:" + "p" * 200}
    assert store.lead(kinds, leader("here")) == kinds
