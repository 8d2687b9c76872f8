"""The executions of stored queries on SQLite and PostgreSQL: appended, read back newest
first, aggregated per query (count, nearest-rank p50 and p95, max, errors); a database of
revision 0005 reads as having none and is upgraded by a writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from orecart.querying import QueryExecution, QueryStats
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.stores.older import UNDO_0006

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def execution(query: str, seconds: float, at: int, error: str | None = None) -> QueryExecution:
    return QueryExecution("hla", query, NOW + timedelta(seconds=at), seconds, "cli",
                          None if error else 1, error, {"sample": "s1", "n": [1, 2]})


def test_executions_read_back_newest_first_and_aggregate(store: SqlStore) -> None:
    for at, seconds in enumerate((0.4, 0.1, 0.3, 0.2, 1.5, 0.6, 0.7, 0.8, 0.9, 1.0)):
        store.record_query(execution("jobs", seconds, at))
    store.record_query(execution("broken", 0.05, 20, error="SyntaxError: no"))
    newest = store.query_executions("hla", limit=2)
    assert [(e.query, e.error) for e in newest] == [("broken", "SyntaxError: no"),
                                                    ("jobs", None)]
    assert newest[1] == execution("jobs", 1.0, 9)
    assert len(store.query_executions("hla", "jobs")) == 10
    assert store.query_executions("other") == []
    assert store.query_stats("hla") == [QueryStats("broken", 1, 0.05, 0.05, 0.05, 1),
                                        QueryStats("jobs", 10, 0.6, 1.5, 1.5, 0)]


def test_a_0005_database_reads_without_executions_and_a_writer_upgrades_it(
        store_url: str) -> None:
    first = open_store(store_url)
    first.record_query(execution("jobs", 0.1, 0))
    first.close()
    engine = sa.create_engine(first.engine.url)
    with engine.begin() as connection:
        for statement in UNDO_0006:
            connection.execute(sa.text(statement))
    engine.dispose()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.query_executions("hla") == [] and reader.query_stats("hla") == []
    finally:
        reader.close()
    writer = open_store(store_url)
    try:
        writer.record_query(execution("jobs", 0.2, 1))
        assert [e.duration for e in writer.query_executions("hla")] == [0.2]
    finally:
        writer.close()
