"""Leases and the lock expire unless their holder's heartbeat renews them, on SQLite and
PostgreSQL: a holder on another host, a hung process and a run that died inside a live
process are reclaimed; a full pool is waited for by reading, and a release wakes waiters."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from orecart.errors import LockedError
from orecart.stores import Holder, open_store
from orecart.stores.engine import lock_key
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import HOST, dead_pid

TTL = 0.6  # seconds: short, so expiry shows within a test
FAR = "some-other-host"  # a host whose processes this one cannot see


def _last_beat(store: SqlStore) -> object:
    with store.engine.connect() as connection:
        return connection.execute(sa.text("SELECT max(heartbeat_at) FROM leases")).scalar()


def eventually(check: Callable[[], bool], within: float, poll: float = 0.05) -> float:
    """Seconds until ``check()`` held; fails after ``within``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, f"still not so after {within}s"
        time.sleep(poll)
    return time.monotonic() - start


@pytest.fixture
def short(store_url: str) -> Iterator[SqlStore]:
    """A store whose leases live ``TTL`` seconds without a heartbeat."""
    opened = open_store(store_url, lease_ttl=TTL)
    yield opened
    opened.close()


def test_a_heartbeat_keeps_a_lease_beyond_its_ttl(short: SqlStore, store: SqlStore) -> None:
    far = Holder("r-far", dead_pid(), FAR, member="m")
    assert short.lease("pool", 1, far)
    time.sleep(TTL * 2.5)  # several beats
    assert not store.lease("pool", 1, Holder("r-here", os.getpid(), HOST, member="m"))


def test_a_lease_of_another_host_expires_once_its_heartbeat_stops(
    short: SqlStore, store: SqlStore
) -> None:
    assert short.lease("pool", 1, Holder("r-far", dead_pid(), FAR, member="m"))
    short.close()  # its host went away: no more beats
    here = Holder("r-here", os.getpid(), HOST, member="m")
    assert not store.lease("pool", 1, here)  # not expired yet
    eventually(lambda: store.lease("pool", 1, here), within=TTL * 4)
    assert store.leases("pool") == [here]


def test_a_lock_of_another_host_expires_too(short: SqlStore, store: SqlStore) -> None:
    short.lock("graph", Holder("r-far", dead_pid(), FAR))
    short.close()
    here = Holder("r-here", os.getpid(), HOST)
    with pytest.raises(LockedError, match=FAR):
        store.lock("graph", here)
    time.sleep(TTL * 1.5)
    store.lock("graph", here)
    assert store.lock_holder("graph") == here


def test_a_run_that_died_inside_a_live_process_loses_its_lease(
    short: SqlStore, store: SqlStore
) -> None:
    # a run whose thread ended without giving its lease back: the process lives on
    worker = threading.Thread(
        target=short.lease, args=("pool", 1, Holder("r-gone", os.getpid(), HOST, member="m"))
    )
    worker.start()
    worker.join()
    here = Holder("r-here", os.getpid(), HOST, member="m")
    assert not store.lease("pool", 1, here)
    eventually(lambda: store.lease("pool", 1, here), within=TTL * 4)


HOLD = """
import os, sys, time
from orecart.stores import Holder, open_store
store = open_store(sys.argv[1], lease_ttl=float(sys.argv[2]))
assert store.lease("pool", 1, Holder("r-hung", os.getpid(), sys.argv[3], member="m"))
print("held", flush=True)
time.sleep(120)
"""


def test_a_hung_process_loses_its_lease(store_url: str, store: SqlStore) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, store_url, str(TTL), HOST], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        here = Holder("r-here", os.getpid(), HOST, member="m")
        time.sleep(TTL * 1.5)
        assert not store.lease("pool", 1, here)  # alive and beating
        # hung: alive, but its heartbeat stops. Never stopped inside a renewal: that one
        # would hold its write lock (SQLite's file lock, PostgreSQL's row locks), and every
        # writer would wait for it. Right after a beat, and (SQLite) while the lock is free
        beat = _last_beat(store)
        eventually(lambda: _last_beat(store) != beat, within=TTL, poll=0.002)
        _stop_outside_a_write(holder, store_url)
        eventually(lambda: store.lease("pool", 1, here), within=TTL * 4)
    finally:
        holder.kill()
        holder.wait()


def _stop_outside_a_write(process: subprocess.Popen[str], url: str) -> None:
    """SIGSTOP ``process`` at a moment it holds no SQLite write lock on ``url``'s file."""
    for _ in range(200):
        os.kill(process.pid, signal.SIGSTOP)
        if _write_lock_free(url):
            return
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the holder never stopped outside a write")


def _write_lock_free(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True  # PostgreSQL: the beat just seen ended its transaction
    connection = sqlite3.connect(parsed.database or "", isolation_level=None, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


@pytest.mark.timeout(30)
def test_a_full_pool_is_seen_without_waiting_for_the_write_lock(
    store_url: str, store: SqlStore
) -> None:
    assert store.lease("pool", 1, Holder("r-1", os.getpid(), HOST, member="m"))
    with _write_lock(store_url, "pool:pool"):  # another writer holds the pool's lock
        start = time.monotonic()
        assert not store.lease("pool", 1, Holder("r-2", os.getpid(), HOST, member="m"))
        assert time.monotonic() - start < 2  # read, refused; no write transaction waited


class _write_lock:
    """Hold what a writer of ``name`` must take: SQLite's write lock, or PostgreSQL's
    advisory lock for that name."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name

    def __enter__(self) -> None:
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            self.sqlite = sqlite3.connect(parsed.database or "", isolation_level=None)
            self.sqlite.execute("BEGIN IMMEDIATE")
            return
        self.pg = psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                  password=parsed.password, dbname=parsed.database)
        self.pg.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.name),))

    def __exit__(self, *_: object) -> None:
        connection = getattr(self, "sqlite", None) or self.pg
        connection.rollback()
        connection.close()


def test_a_release_wakes_a_waiter_at_once(store: SqlStore) -> None:
    first = Holder("r-1", os.getpid(), HOST, member="m")
    assert store.lease("pool", 1, first)
    waited: list[float] = []

    def wait_for_a_slot() -> None:
        second = Holder("r-2", os.getpid(), HOST, member="m")
        while True:
            wake = store.released()  # before asking: a release in between is not missed
            if store.lease("pool", 1, second):
                break
            wake.result(timeout=10)
        waited.append(time.monotonic())

    waiter = threading.Thread(target=wait_for_a_slot)
    waiter.start()
    time.sleep(0.3)
    released_at = time.monotonic()
    store.release("pool", first)
    waiter.join(timeout=10)
    assert waited and waited[0] - released_at < 0.5
