"""Schema migrations: the revisions build what the code declares, the baseline is the schema
of orecart 0.1.0, and a database that release wrote upgrades in place with nothing lost, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from orecart.errors import StateError
from orecart.model import MemberStatus, Run, RunStatus
from orecart.stores import Holder, migrate, open_store
from orecart.stores.engine import parse_url
from orecart.stores.schema import metadata
from tests.stores.fixtures import schema_0_1_0 as old

FIXTURE = Path(__file__).parent / "fixtures" / "state-0.1.0.db"
PIPELINE = "fixture"  # the pipeline the fixture's runs are of
BACKENDS = ["sqlite", "postgresql"]


def engine_of(url: str) -> sa.Engine:
    return sa.create_engine(parse_url(url))


def alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def schema_diff(url: str, declared: sa.MetaData) -> list[Any]:
    engine = engine_of(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, declared))
    finally:
        engine.dispose()


def migrate_empty(url: str, target: str) -> None:
    engine = engine_of(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), target)
    finally:
        engine.dispose()


def fixture_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the 0.1.0 tables, read through the 0.1.0 declarations."""
    engine = engine_of(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [dict(row) for row in connection.execute(
                    sa.select(table).order_by(*table.primary_key.columns)).mappings()]
                for table in old.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def load_into(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """A database as 0.1.0 made it (its own table declarations), holding ``rows``."""
    engine = engine_of(url)
    try:
        with engine.begin() as connection:
            old.metadata.create_all(connection)
            for table in old.metadata.sorted_tables:
                if rows[table.name]:
                    connection.execute(sa.insert(table), rows[table.name])
            if connection.dialect.name == "postgresql":  # copied ids: move the sequence on
                connection.execute(sa.text(
                    "SELECT setval(pg_get_serial_sequence('events', 'id'), max(id)) FROM events"))
    finally:
        engine.dispose()


def fixture_copy(folder: Path) -> str:
    """The URL of a copy of the shipped database (SQLite writes beside a file it reads)."""
    shutil.copy(FIXTURE, folder / "state.db")
    return f"sqlite:///{folder / 'state.db'}"


@pytest.fixture(params=BACKENDS)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state database written by orecart 0.1.0: the shipped file, or its rows in PG."""
    if request.param == "sqlite":
        return fixture_copy(tmp_path)
    url: str = request.getfixturevalue("fresh_database")
    (tmp_path / "source").mkdir()
    load_into(url, fixture_rows(fixture_copy(tmp_path / "source")))
    return url


def revision_of(url: str) -> str | None:
    engine = engine_of(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


# -- the revisions themselves -------------------------------------------------------------


def test_the_revisions_run_from_the_baseline_to_head() -> None:
    script = ScriptDirectory(str(migrate.MIGRATIONS))
    assert script.get_heads() == [migrate.HEAD]
    assert script.get_bases() == [migrate.BASELINE]


def test_the_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    migrate_empty(store_url, "head")
    assert schema_diff(store_url, metadata) == []  # a schema change needs a revision


def test_the_baseline_is_the_schema_of_0_1_0(store_url: str) -> None:
    migrate_empty(store_url, migrate.BASELINE)
    assert schema_diff(store_url, old.metadata) == []


def test_the_shipped_database_has_the_0_1_0_schema(tmp_path: Path) -> None:
    url = fixture_copy(tmp_path)
    assert schema_diff(url, old.metadata) == []
    assert revision_of(url) is None  # 0.1.0 had no version table


def test_a_new_store_is_created_at_head_with_the_declared_schema(store_url: str) -> None:
    open_store(store_url).close()
    assert revision_of(store_url) == migrate.HEAD
    assert schema_diff(store_url, metadata) == []


# -- upgrading a database of 0.1.0 ---------------------------------------------------------


def test_a_0_1_0_database_upgrades_in_place_with_nothing_lost(old_url: str) -> None:
    before = fixture_rows(old_url)
    assert len(before["runs"]) == 3 and len(before["member_runs"]) == 9
    store = open_store(old_url)
    try:
        assert revision_of(old_url) == migrate.HEAD
        assert schema_diff(old_url, metadata) == []
        assert fixture_rows(old_url) == before  # every row, every column, as it was
        runs = store.runs(PIPELINE)
        statuses = [run.status for run in reversed(runs)]
        assert statuses == [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED]
        first = runs[-1]
        assert first.params == {"release": "r1"} and first.version == "0.1.0"
        members = {m.member: m for m in store.member_runs(first.id)}
        assert [m.status for m in members.values()] == [MemberStatus.SUCCEEDED] * 3
        assert members["flaky"].attempts == 2
        flaky = store.attempts(first.id, "flaky")
        assert [(a.number, a.status, a.exit_code) for a in flaky] == [
            (1, MemberStatus.FAILED, 3), (2, MemberStatus.SUCCEEDED, 0)]
        events = [e for run in runs for e in store.events(run.id)]
        assert len(events) == len(before["events"]) > 0
        # the queue's columns read as a run nobody queued; the queue starts empty
        assert {(run.key, run.origin, run.queued_at) for run in runs} == {(None, "", None)}
        assert store.queued() == [] and store.services() == []
        assert set(store.successes(PIPELINE)) == {"extract", "flaky", "load"}
        assert store.last_statuses(PIPELINE)["load"] is MemberStatus.SUCCEEDED
        store.save_run(Run("r-new", PIPELINE, RunStatus.RUNNING))  # and it goes on working
        store.add_event("r-new", "note", {"n": 1})
        holder = Holder("r-new", os.getpid(), "here", member="load")
        assert store.lease("writer", 1, holder)
        assert store.leases("writer") == [holder]
    finally:
        store.close()


def test_a_database_of_the_ad_hoc_pool_limit_column_upgrades(store_url: str) -> None:
    # between 0.1.0 and migrations, an open added leases.pool_limit by hand
    load_into(store_url, {table.name: [] for table in old.metadata.sorted_tables})
    engine = engine_of(store_url)
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE leases ADD COLUMN pool_limit INTEGER"))
    engine.dispose()
    open_store(store_url).close()
    assert revision_of(store_url) == migrate.HEAD
    assert schema_diff(store_url, metadata) == []


def test_stores_opening_one_old_database_at_once_upgrade_it_once(old_url: str) -> None:
    def open_and_count(_: int) -> int:
        store = open_store(old_url)
        try:
            return len(store.runs(PIPELINE))
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_and_count, range(4))) == [3, 3, 3, 3]
    assert revision_of(old_url) == migrate.HEAD


def test_a_database_of_a_newer_orecart_is_refused_by_name(store_url: str) -> None:
    open_store(store_url).close()
    engine = engine_of(store_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StateError, match=r"revision '9999'.*newer orecart"):
        open_store(store_url)


# -- reading an old database never writes ---------------------------------------------------


@pytest.fixture
def old_project(tmp_path: Path) -> Iterator[Path]:
    """A pipeline file with the shipped 0.1.0 database as its default state store."""
    (tmp_path / ".orecart").mkdir()
    shutil.copy(FIXTURE, tmp_path / ".orecart" / "state.db")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "pipeline: fixture\nmembers:\n  - name: extract\n    run: [true]\n"
        "  - name: flaky\n    run: [true]\n  - name: load\n    run: [true]\n")
    yield pipeline


def test_status_reads_a_0_1_0_database_without_upgrading_it(old_project: Path) -> None:
    state = old_project.parent / ".orecart" / "state.db"
    before = hashlib.sha256(state.read_bytes()).hexdigest()
    shown = subprocess.run(
        [sys.executable, "-m", "orecart", "status", str(old_project), "--json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "ORECART_STATE": ""},
    )
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["run"]["status"] == "succeeded", status
    assert hashlib.sha256(state.read_bytes()).hexdigest() == before
    assert revision_of(f"sqlite:///{state}") is None  # still 0.1.0's: readers never migrate


def test_a_read_only_open_of_a_0003_database_reads_its_history(store_url: str) -> None:
    migrate_empty(store_url, "0003")
    engine = engine_of(store_url)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO runs (id, pipeline, status, source, params, host, pid, version,"
            " backups) VALUES ('r-old', 'p', 'succeeded', '', '{}', 'h', 1, '0.1.1', '[]')"))
        connection.execute(sa.text(
            "INSERT INTO events (run_id, at, kind, data)"
            " VALUES ('r-old', '2026-03-01 12:00:00', 'run_finished', '{\"n\": 1}')"))
    engine.dispose()
    reader = open_store(store_url, read_only=True)
    try:
        (run,) = reader.runs()
        assert (run.id, run.status, run.key, run.origin, run.labels) == (
            "r-old", RunStatus.SUCCEEDED, None, "", {})
        assert reader.get_run("r-o") == run and reader.run_for_key("p", "k") is None
        assert reader.queued() == [] and reader.services() == []
        assert [e.data for e in reader.events("r-old")] == [{"n": 1}]
    finally:
        reader.close()
    assert revision_of(store_url) == "0003"  # a reader never migrates
