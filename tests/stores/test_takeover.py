"""A serve that lost its run to another (PostgreSQL): its link to the store dropped for
longer than the lock's ttl, another serve's recovery aborted the run and took its lock
over; once the link is back, its heartbeat reports the lock lost, and the run's later
writes are refused rather than written over the abort."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from orecart.errors import TakenOverError
from orecart.model import RunStatus
from orecart.stores import Holder, open_store
from orecart.stores.orphans import DIED
from orecart.stores.sql import SqlStore
from tests.stores.conftest import fresh_database  # noqa: F401 - a fixture used below
from tests.stores.relay import Relay, relayed
from tests.stores.test_contract import HOST, dead_pid, make_run
from tests.stores.test_leases import FAR, TTL, eventually


@pytest.fixture
def relay(fresh_database: str) -> Iterator[Relay]:  # noqa: F811
    with relayed(fresh_database) as opened:
        yield opened


def _beat_of(store: SqlStore, pipeline: str) -> object:
    holder = store.lock_holder(pipeline)
    with store.engine.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT heartbeat_at FROM locks WHERE pipeline = %(p)s", {"p": pipeline}
        ).scalar() if holder else None


def test_a_holder_whose_lock_was_taken_over_hears_so_and_cannot_overwrite_the_abort(
        fresh_database: str, relay: Relay) -> None:  # noqa: F811
    b = open_store(fresh_database, lease_ttl=TTL)
    a = open_store(relay.url(fresh_database), lease_ttl=TTL)
    lost: list[str] = []
    a.on_lost(lost.append)
    try:
        run = make_run("r", status=RunStatus.RUNNING, host=FAR, pid=dead_pid(),
                       started_at=datetime.now(UTC))
        a.save_run(run)
        a.lock("graph", Holder("r", run.pid, FAR))
        first = _beat_of(b, "graph")
        eventually(lambda: _beat_of(b, "graph") != first, within=TTL * 4)  # a beat done
        relay.pause()  # A's link drops, right after a beat
        assert b.recover(HOST) == []  # not expired yet: A is alive as far as B knows
        eventually(lambda: bool(b.recover(HOST)), within=TTL * 4)
        b.lock("graph", Holder("r2", 1, FAR))  # the run queued again takes the lock
        time.sleep(TTL / 2)  # A's beats meanwhile wait on the link
        assert lost == []
        relay.resume()
        eventually(lambda: lost == ["r"], within=TTL * 4)
        with pytest.raises(TakenOverError, match="lost its lock"):
            a.save_run(replace(run, status=RunStatus.SUCCEEDED, finished_at=datetime.now(UTC)))
        shown = b.get_run("r")
        assert (shown.status, shown.error) == (RunStatus.ABORTED, DIED)
        assert b.lock_holder("graph") == Holder("r2", 1, FAR)  # A's renew took nothing back
    finally:
        relay.resume()
        a.close()
        b.close()
