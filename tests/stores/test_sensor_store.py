"""The sensors' tables on SQLite and PostgreSQL: a tick's state and its new versions in
one write, a version seen twice (two serve processes) kept once, in source order; a
database of revision 0004 reads as having no sensors and is upgraded by a writer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

from orecart.model import Run, RunStatus
from orecart.sensing import SensorState, SourceVersion
from orecart.stores import open_store
from orecart.stores.sql import SqlStore
from tests.stores.older import UNDO_0005

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def version(ident: str) -> SourceVersion:
    return SourceVersion("hla", "releases", ident, ident.upper(), ref=f"refs/tags/{ident}",
                         commit="c" * 40, params={"version": ident.upper()}, seen_at=NOW)


def test_a_tick_adds_only_new_versions_after_the_last(store_url: str, store: SqlStore) -> None:
    state = SensorState("hla", "releases", "git", {"refs": {"refs/tags/a": "1"}}, NOW)
    added = store.record_sensing(state, [version("a"), version("b")])
    assert [(v.id, v.position) for v in added] == [("a", 1), ("b", 2)]
    other = open_store(store_url)  # a second serve process saw the same and one more
    try:
        later = replace(state, cursor={"refs": {}}, error=None)
        again = other.record_sensing(later, [version("b"), version("c")])
    finally:
        other.close()
    assert [(v.id, v.position) for v in again] == [("c", 3)]
    assert [v.id for v in store.source_versions("hla")] == ["a", "b", "c"]
    assert store.sensor_states("hla") == [later]
    failed = replace(later, error="git ls-remote failed", error_at=NOW)
    store.save_sensor_state(failed)
    assert store.sensor_states("hla") == [failed] and store.sensor_states("other") == []


def test_asked_versions_keep_their_latest_run_and_count(store: SqlStore) -> None:
    store.record_sensing(SensorState("hla", "releases", "git"), [version("a")])
    [seen] = store.source_versions("hla", "releases")
    for run_id in ("r1", "r2"):
        store.enqueue(Run(run_id, "hla", RunStatus.QUEUED, key=seen.key, origin="sensor"), {})
        store.version_asked(seen, run_id)
    store.version_asked(seen, "r2", counted=False)
    [asked] = store.source_versions("hla")
    assert (asked.run_id, asked.runs, asked.params) == ("r2", 2, {"version": "A"})
    assert [r.id for r in store.keyed_runs("hla", [seen.key, "other"])] == ["r1"]


def test_a_0004_database_reads_without_sensors_and_a_writer_upgrades_it(
        store_url: str) -> None:
    first = open_store(store_url)
    first.record_sensing(SensorState("hla", "releases", "git"), [version("a")])
    first.close()
    engine = sa.create_engine(first.engine.url)
    with engine.begin() as connection:
        for statement in UNDO_0005:
            connection.execute(sa.text(statement))
    engine.dispose()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.sensor_states("hla") == [] and reader.source_versions("hla") == []
    finally:
        reader.close()
    writer = open_store(store_url)
    try:
        assert writer.source_versions("hla") == []
        writer.record_sensing(SensorState("hla", "releases", "git"), [version("b")])
        assert [v.position for v in writer.source_versions("hla")] == [1]
    finally:
        writer.close()


def test_due_versions_leave_out_the_settled_ones(store: SqlStore) -> None:
    """Never asked, or asked at most ``retries`` times and neither queued nor succeeded:
    an idle tick reads those alone, not every version the sensor ever saw."""
    store.record_sensing(SensorState("hla", "releases", "git"),
                         [version(i) for i in "abcdefgh"])
    store.record_sensing(SensorState("hla", "other", "git"),
                         [replace(version("z"), sensor="other")])
    seen = {v.id: v for v in store.source_versions("hla", "releases")}
    ran = {"b": RunStatus.QUEUED, "c": RunStatus.SUCCEEDED, "d": RunStatus.FAILED,
           "e": RunStatus.FAILED, "f": RunStatus.CANCELLED, "g": RunStatus.RUNNING}
    for ident, status in ran.items():
        store.enqueue(Run(f"r{ident}", "hla", RunStatus.QUEUED, key=seen[ident].key), {})
        if status != RunStatus.QUEUED:
            store.save_run(Run(f"r{ident}", "hla", status, key=seen[ident].key))
        for _ in range(3 if ident == "e" else 1):  # e: its retries used up
            store.version_asked(seen[ident], f"r{ident}")
    with store.engine.begin() as connection:  # latest_only skipped it
        connection.execute(sa.text("UPDATE source_versions SET skipped = true WHERE id = 'h'"))
    due = store.due_versions("hla", "releases", retries=2)
    assert [v.id for v in due] == ["a", "d", "f", "g"]
    assert [v.id for v in store.due_versions("hla", "releases", retries=0)] == ["a"]
