"""Connections to the state store database: URLs, engines, transactions and error translation.

SQLite and PostgreSQL differ in three places, all kept here so the store itself reads the
same for both: the URL (``postgresql://`` means psycopg 3), the connection setup (SQLite
needs WAL, a busy timeout and foreign keys on every connection) and how a writer serializes
with other writers (``BEGIN IMMEDIATE`` on SQLite, an advisory transaction lock on
PostgreSQL). Every SQLAlchemy or driver error leaves this package as a ``StateError`` that
names the database without its password.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from orecart.errors import StateError, UsageError
from orecart.secrets import Redactor, hide_userinfo
from orecart.stores.sqlitefile import read_only, sqlite_file

BUSY_TIMEOUT_MS = 30_000  # concurrent writers wait this long for SQLite's write lock
CONNECT_TIMEOUT_S = 10  # an unreachable PostgreSQL server fails within this many seconds
_WRITE = "orecart_write"  # execution option: this transaction writes (BEGIN IMMEDIATE)
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}
# event data may hold paths or datetimes; recording them as text beats failing the run
_dumps = functools.partial(json.dumps, default=str)


def redact_url(url: str) -> str:
    """The URL without its password; works on strings SQLAlchemy cannot even parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is still shown, masked by hand
        return hide_userinfo(url)


def parse_url(url: str) -> URL:
    """Parse ``url``, choosing psycopg 3 for a bare ``postgresql://`` or ``postgres://``.

    A URL that cannot be read (no host, a port that is no number, a driver SQLAlchemy does
    not know) is bad input, a ``UsageError``; the message never repeats its password."""
    try:
        parsed = make_url(url)
        driver = _DRIVERS.get(parsed.drivername)
        parsed = parsed.set(drivername=driver) if driver else parsed
        parsed.get_dialect()  # an unknown +driver fails here, not at the first connection
    except (exc.ArgumentError, ValueError) as error:
        why = "unknown driver" if isinstance(error, exc.NoSuchModuleError) else "cannot be read"
        raise UsageError(
            f"state store URL {redact_url(url)!r} is not valid ({why}); use "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST[:PORT]/DB"
        ) from error
    return parsed


def create(url: str, read_only: bool = False) -> Engine:
    """An engine for ``url`` with the per-dialect connection setup already attached;
    ``read_only``: one that cannot write (SQLite files: opened ``mode=ro``)."""
    parsed = parse_url(url)
    with translate(url):
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_reader(parsed) if read_only else _sqlite_engine(parsed, wal=True)
        elif backend == "postgresql":
            options = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "orecart"}
            engine = sa.create_engine(
                parsed, json_serializer=_dumps, pool_pre_ping=True, connect_args=options
            )
        else:
            engine = sa.create_engine(parsed)
    return engine


def _sqlite_engine(url: URL, wal: bool) -> Engine:
    engine = sa.create_engine(url, json_serializer=_dumps, **_sqlite_pool(url))
    _setup_sqlite(engine, wal)
    return engine


def _sqlite_reader(url: URL) -> Engine:
    """An engine that only reads the file: a WAL database in a folder nobody may write to
    cannot even get its shared-memory index, and is then read as immutable."""
    path = sqlite_file(url)
    if path is None:
        return _sqlite_engine(url, wal=False)
    engine = _sqlite_engine(read_only(url, path), wal=False)
    try:
        with engine.connect() as connection:  # SQLite opens the file at the first read
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
    except exc.OperationalError:
        engine.dispose()
        engine = _sqlite_engine(read_only(url, path, immutable=True), wal=False)
    return engine


def _sqlite_pool(url: URL) -> dict[str, Any]:
    """An in-memory database lives in one connection: share it (single-threaded use only)."""
    if url.database in (None, "", ":memory:"):
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    return {}


def _setup_sqlite(engine: Engine, wal: bool) -> None:
    """Own SQLite's transactions so writers can ``BEGIN IMMEDIATE``; set the pragmas.

    pysqlite starts transactions lazily and only before a write, so a transaction that reads
    then writes can fail at once with SQLITE_BUSY instead of waiting. Taking the write lock at
    ``BEGIN`` makes writers queue on the busy timeout instead; readers never block in WAL mode.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if wal:  # setting it writes; a reader takes the file's mode as it is
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable across crashes in WAL
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take SQLite's write lock at once."""
    return engine.execution_options(**{_WRITE: True})


def serialize(connection: Connection, name: str) -> None:
    """Hold an exclusive lock named ``name`` until the transaction ends.

    On SQLite the writer's ``BEGIN IMMEDIATE`` already excludes every other writer; on
    PostgreSQL an advisory transaction lock does the same for this name only.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name``, as PostgreSQL's advisory locks take."""
    digest = hashlib.blake2b(f"orecart:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def translate(url: str) -> Iterator[None]:
    """Turn SQLAlchemy and driver errors into ``StateError`` naming the redacted URL."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        raise StateError(f"state store {redact_url(url)}: {_reason(error, url)}") from error


def _reason(error: exc.SQLAlchemyError, url: str) -> str:
    """The driver's own first line, without SQLAlchemy's SQL dump and never the password."""
    cause = error.orig if isinstance(error, exc.DBAPIError) else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = "; ".join(lines[:2]) or type(cause).__name__
    password = _password(url)
    return Redactor([password])(text) if password else hide_userinfo(text)


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (exc.ArgumentError, ValueError):
        return None
