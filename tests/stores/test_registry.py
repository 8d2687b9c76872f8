"""The services registry, on SQLite and PostgreSQL: a registered service is listed while
its heartbeat beats; one whose process died, or whose beats stopped, is not."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from orecart.model import ServiceEntry
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import HOST, dead_pid
from tests.stores.test_leases import TTL, eventually


def entry(service_id: str, host: str = HOST, pid: int | None = None) -> ServiceEntry:
    now = datetime.now(UTC) - timedelta(seconds=1)
    return ServiceEntry(
        id=service_id, host=host, pid=os.getpid() if pid is None else pid,
        address="http://127.0.0.1:8765", version="0.2.0", started_at=now, heartbeat_at=now,
    )


def test_a_live_service_is_listed_until_it_unregisters(store: SqlStore) -> None:
    here = entry("svc-1")
    store.register_service(here)
    (listed,) = store.services()
    assert (listed.id, listed.host, listed.pid, listed.address, listed.version) == (
        "svc-1", HOST, os.getpid(), "http://127.0.0.1:8765", "0.2.0")
    assert listed.started_at == here.started_at and listed.heartbeat_at >= here.heartbeat_at
    store.register_service(here)  # again: replaced, not doubled
    assert [s.id for s in store.services()] == ["svc-1"]
    store.unregister_service("svc-1")
    assert store.services() == []


def test_a_service_whose_process_died_is_not_listed(store: SqlStore) -> None:
    store.register_service(entry("svc-dead", pid=dead_pid()))
    store.register_service(entry("svc-far", host="some-other-host", pid=dead_pid()))
    assert [s.id for s in store.services()] == ["svc-far"]  # another host: judged by expiry


def test_the_heartbeat_keeps_a_service_row_and_it_expires_without_one(store_url: str) -> None:
    short = open_store(store_url, lease_ttl=TTL)
    reader = open_store(store_url)
    try:
        short.register_service(entry("svc-far", host="some-other-host", pid=dead_pid()))
        time.sleep(TTL * 2.5)  # several beats: still listed
        assert [s.id for s in reader.services()] == ["svc-far"]
        short.close()  # the beats stop, as when the service hangs or its host is gone
        eventually(lambda: reader.services() == [], within=TTL * 4)
    finally:
        short.close()
        reader.close()
