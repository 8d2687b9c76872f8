"""Opening a state store: URLs, the default SQLite file, connection setup and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from orecart.errors import StateError, UsageError
from orecart.model import Run, RunStatus
from orecart.stores import default_state_url, open_store
from orecart.stores.engine import BUSY_TIMEOUT_MS, redact_url
from tests.services.postgres import free_port

SECRET = "hunter2-very-secret"


def test_default_state_url_is_sqlite_beside_the_pipeline(tmp_path: Path) -> None:
    pipeline = tmp_path / "project" / "pipeline.yaml"
    pipeline.parent.mkdir()
    url = default_state_url(pipeline)
    assert url == f"sqlite:///{tmp_path / 'project' / '.orecart' / 'state.db'}"
    assert (tmp_path / "project" / ".orecart").is_dir()
    store = open_store(url)
    try:
        store.save_run(Run("r-1", "p", RunStatus.QUEUED))
        assert store.get_run("r-1").pipeline == "p"
    finally:
        store.close()
    assert (tmp_path / "project" / ".orecart" / "state.db").is_file()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_opening_twice_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = open_store(url)
    first.save_run(Run("r-1", "p", RunStatus.QUEUED))
    first.close()
    second = open_store(url)
    try:
        assert second.get_run("r-1").id == "r-1"
    finally:
        second.close()


def test_bare_postgresql_url_means_psycopg(postgres_url: str) -> None:
    bare = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    assert bare.startswith("postgresql://")
    store = open_store(bare)
    try:
        assert store.engine.dialect.driver == "psycopg"
        password = make_url(postgres_url).password
        assert password and password not in repr(store) and "***" in repr(store)
    finally:
        store.close()


def test_postgres_alias_scheme_is_accepted(postgres_url: str) -> None:
    alias = (
        make_url(postgres_url)
        .render_as_string(False)
        .replace("postgresql+psycopg://", "postgres://")
    )
    store = open_store(alias)
    try:
        assert store.runs() == []
    finally:
        store.close()


def test_unreachable_server_is_a_state_error_without_password() -> None:
    url = f"postgresql://orecart:{SECRET}@127.0.0.1:{free_port()}/state"
    with pytest.raises(StateError) as raised:
        open_store(url)
    message = str(raised.value)
    assert SECRET not in message
    assert "orecart:***@127.0.0.1" in message


def test_wrong_password_is_a_state_error_without_password(postgres_url: str) -> None:
    url = make_url(postgres_url).set(password=SECRET).render_as_string(False)
    with pytest.raises(StateError, match="password authentication failed") as raised:
        open_store(url)
    assert SECRET not in str(raised.value)


def test_missing_database_is_a_state_error_without_password(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="no_such_db").render_as_string(False)
    password = make_url(postgres_url).password
    with pytest.raises(StateError, match="no_such_db") as raised:
        open_store(url)
    assert password and password not in str(raised.value)


def test_unopenable_sqlite_file_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="unable to open"):
        open_store(f"sqlite:///{tmp_path / 'missing-folder' / 'state.db'}")


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{SECRET}@localhost/db",
        f"postgresql+nosuchdriver://u:{SECRET}@localhost/db",
        "not a url at all",
        "",
    ],
)
def test_bad_urls_are_errors_without_password(url: str) -> None:
    """An unknown scheme is bad input (UsageError); a known one that fails is a StateError."""
    with pytest.raises((StateError, UsageError)) as raised:
        open_store(url)
    assert SECRET not in str(raised.value)


def test_errors_after_opening_are_state_errors(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE events"))
        store.save_run(Run("r-1", "p", RunStatus.QUEUED))
        with pytest.raises(StateError, match="events"):
            store.add_event("r-1", "run_started", {})
    finally:
        store.close()


def test_redact_url_masks_even_unparsable_urls() -> None:
    assert redact_url(f"postgresql://me:{SECRET}@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert SECRET not in redact_url(f"weird url ://me:{SECRET}@db/x")


def test_in_memory_sqlite_keeps_data_across_calls() -> None:
    store = open_store("sqlite://")
    try:
        store.save_run(Run("r-1", "p", RunStatus.QUEUED))
        store.add_event("r-1", "note", {"path": Path("/data/x"), "n": 1})
        assert store.get_run("r-1").pipeline == "p"
        assert store.events("r-1")[0].data == {"path": "/data/x", "n": 1}  # paths kept as text
    finally:
        store.close()
