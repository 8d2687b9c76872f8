"""The ``notifications`` records of runs, on every backend, and in a database an older
orecart made (no such table yet)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from orecart.model import Notification, Run, RunStatus, SendStatus
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.stores.older import UNDO_0004


def test_notifications_round_trip_in_the_order_they_were_made(store: SqlStore) -> None:
    store.save_run(Run("r-1", "p", RunStatus.SUCCEEDED))
    at = datetime(2026, 11, 22, 3, 11, 14, tzinfo=UTC)
    first = Notification("r-1", "json://u:***@hook/x", SendStatus.FAILED, 3, "refused", at)
    second = Notification("r-1", "mailto://smtp/ops", SendStatus.SENT, 1, None, at)
    store.save_notification(first)
    store.save_notification(second)
    assert store.notifications("r-1") == [first, second]
    assert store.notifications("r-2") == []


def test_an_older_database_gets_the_table_and_reads_without_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:  # as revision 0002, before notifications, left it
        for statement in UNDO_0004:
            db.execute(statement)
        db.execute("DROP TABLE notifications")
        db.execute("ALTER TABLE member_runs DROP COLUMN reason_code")
        db.execute("UPDATE alembic_version SET version_num = '0002'")
    reader = open_store(f"sqlite:///{path}", read_only=True)
    try:
        assert reader.notifications("r-1") == []  # a history read writes nothing
    finally:
        reader.close()
    writer = open_store(f"sqlite:///{path}")
    try:
        writer.save_run(Run("r-1", "p", RunStatus.SUCCEEDED))
        sent = Notification("r-1", "json://hook/x", SendStatus.SENT, 1)
        writer.save_notification(sent)
        assert writer.notifications("r-1") == [sent]
    finally:
        writer.close()
