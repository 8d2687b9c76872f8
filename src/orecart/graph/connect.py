"""The connection to the target Neo4j graph: open (waiting for readiness), query, close.

Everything in orecart that talks to Neo4j goes through a ``GraphConnection`` so that
readiness waits, database selection and the translation of driver exceptions into
``GraphError`` happen in one place. Call outline::

    GraphConnection.open(graph, on_wait=...)  -> driver -> _probe (retried while the
        server starts; each refusal told to a ``waiting.WaitClock``, which reports)
        .read(q, **p) / .write(q, **p)   managed transactions (retried on transient errors)
        .run(q, **p)                      auto-commit (CALL ... IN TRANSACTIONS, schema)
        .server() / .database / .driver
        .close()

Messages name the URI, user and database, never the password. A URI's user info
(``bolt://user:password@host``, which the driver refuses) becomes the graph's user and
password (``credentials_from_uri``), so no URI shown or handed to a member holds it.

The driver logs what the server notes about a query (an unknown label in a check on a fresh
database, a deprecation) as warnings. With logging not configured, Python's last-resort
handler would print each on stderr, query and all, mid-run; a ``NullHandler`` on the
``neo4j`` logger keeps them off the terminal, while an application that configures logging
still gets them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import neo4j
from neo4j import exceptions as nx

from orecart.errors import GraphError
from orecart.graph.waiting import WaitClock, WaitReport
from orecart.model import Graph
from orecart.secrets import Redactor, hide_userinfo

MIN_MAJOR_VERSION = 5
_FIRST_DELAY = 0.2  # seconds between readiness probes, growing to _MAX_DELAY
_MAX_DELAY = 2.0
_DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"

logging.getLogger("neo4j").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class ServerInfo:
    """What ``CALL dbms.components()`` says about the server."""

    version: str
    edition: str

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0


def graph_from_env(graph: Graph | None, environ: Mapping[str, str]) -> Graph | None:
    """Apply NEO4J_URI/NEO4J_USERNAME (or NEO4J_USER)/NEO4J_PASSWORD/NEO4J_DATABASE.

    The variables override the pipeline's graph; NEO4J_URI alone is enough to create one.
    Empty values count as unset, as shells export them.
    """
    uri = environ.get("NEO4J_URI") or None
    if graph is None and uri is None:
        return None
    base = graph if graph is not None else Graph(uri=uri or "")
    changes: dict[str, Any] = {}
    if uri:
        changes["uri"] = uri
    user = environ.get("NEO4J_USERNAME") or environ.get("NEO4J_USER")
    if user:
        changes["user"] = user
    if environ.get("NEO4J_PASSWORD"):
        changes["password"] = environ["NEO4J_PASSWORD"]
    if environ.get("NEO4J_DATABASE"):
        changes["database"] = environ["NEO4J_DATABASE"]
    return credentials_from_uri(replace(base, **changes))


def credentials_from_uri(graph: Graph) -> Graph:
    """``graph`` with the user info of its URI moved into its user and password
    (percent-decoded); the user info wins over both."""
    try:
        parts = urlsplit(graph.uri)
    except ValueError:
        return graph  # the driver names what is wrong; messages hide the user info
    if "@" not in parts.netloc:
        return graph
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    changes: dict[str, Any] = {"uri": urlunsplit(parts._replace(netloc=host))}
    if user:
        changes["user"] = unquote(user)
    if colon:
        changes["password"] = unquote(password)
    return replace(graph, **changes)


class GraphConnection:
    """An open driver bound to one database of one server; a context manager."""

    def __init__(self, graph: Graph, driver: neo4j.Driver, database: str, info: ServerInfo):
        self._graph = graph
        self._driver = driver
        self._database = database
        self._info = info

    @classmethod
    def open(
        cls,
        graph: Graph,
        *,
        wait: float | None = None,
        on_wait: WaitReport | None = None,
        stop: threading.Event | None = None,
    ) -> GraphConnection:
        """Connect, waiting up to ``wait`` (default ``graph.wait``) seconds for readiness.

        A server that is still starting refuses connections or reports its database
        unavailable: that is retried, and ``on_wait`` hears of it (see ``waiting``). A wrong
        password, an unknown database or a server older than Neo4j 5 fail at once. Once
        ``stop`` is set (a service shutting down), the wait ends with a ``GraphError``.
        """
        graph = credentials_from_uri(graph)
        limit = graph.wait if wait is None else wait
        driver = _driver(graph, limit)
        try:
            database, info = _await_ready(driver, graph, WaitClock(graph, limit, on_wait, stop))
        except BaseException:
            driver.close()
            raise
        if info.major < MIN_MAJOR_VERSION:
            driver.close()
            raise GraphError(
                f"{_where(graph)} is version {info.version}; orecart needs "
                f"{MIN_MAJOR_VERSION}.0 or newer"
            )
        return cls(graph, driver, database, info)

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def database(self) -> str:
        """The database queried: the configured one, or the user's home database."""
        return self._database

    @property
    def driver(self) -> neo4j.Driver:
        """The underlying driver, for streaming; wrap its use in ``graph_errors``."""
        return self._driver

    def server(self) -> ServerInfo:
        return self._info

    def read(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run ``query`` in a managed read transaction; rows as dicts of driver values."""
        return self._execute(query, params, neo4j.RoutingControl.READ)

    def write(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run ``query`` in a managed write transaction (retried on transient errors)."""
        return self._execute(query, params, neo4j.RoutingControl.WRITE)

    def run(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run ``query`` in an auto-commit transaction: needed by ``CALL {...} IN
        TRANSACTIONS`` and convenient for schema commands. Not retried."""
        with graph_errors(self._graph, "query"), self.session() as session:
            result = session.run(query, params)
            keys = result.keys()
            return [dict(zip(keys, record, strict=True)) for record in result]

    @contextmanager
    def session(self, **config: Any) -> Iterator[neo4j.Session]:
        """A driver session on this connection's database (errors not translated)."""
        with self._driver.session(database=self._database, **config) as session:
            yield session

    def _execute(
        self, query: str, params: dict[str, Any], routing: neo4j.RoutingControl
    ) -> list[dict[str, Any]]:
        with graph_errors(self._graph, "query"):
            records, _, keys = self._driver.execute_query(
                query, params, routing_=routing, database_=self._database
            )
        return [dict(zip(keys, record, strict=True)) for record in records]

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> GraphConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphConnection({hide_userinfo(self._graph.uri)!r}, database={self._database!r})"


@contextmanager
def graph_errors(graph: Graph, doing: str) -> Iterator[None]:
    """Translate neo4j driver exceptions raised inside the block into ``GraphError``."""
    try:
        yield
    except (nx.Neo4jError, nx.DriverError) as exc:
        raise GraphError(describe(exc, graph, doing)) from exc


def describe(exc: BaseException, graph: Graph, doing: str) -> str:
    """A one-line message for a driver exception, naming where and never the password."""
    where = _where(graph)
    if isinstance(exc, nx.AuthError):
        text = f"{where} refused the credentials of user {graph.user!r} (wrong user or password)"
    elif isinstance(exc, nx.Neo4jError) and exc.code == _DATABASE_NOT_FOUND:
        text = f"{where} has no database {graph.database!r}"
    elif isinstance(exc, nx.ServiceUnavailable | nx.SessionExpired):
        text = f"{where} is unreachable: {_message(exc)}"
    elif isinstance(exc, nx.Neo4jError):
        text = f"{doing} failed on {where}: {exc.code}: {_message(exc)}"
    else:
        text = f"{doing} failed on {where}: {_message(exc)}"
    return _redact(text, graph.password)


def _message(exc: BaseException) -> str:
    if isinstance(exc, nx.Neo4jError) and exc.message:
        return str(exc.message)
    return str(exc) or type(exc).__name__


def _where(graph: Graph) -> str:
    return f"Neo4j at {hide_userinfo(graph.uri)}"


def _redact(text: str, password: str) -> str:
    """``text`` without the password (in any form it is printed) or any URI's user info."""
    return Redactor([password])(text)


def _driver(graph: Graph, wait: float) -> neo4j.Driver:
    """The driver; bad URIs and options surface here as ``GraphError``."""
    try:
        return neo4j.GraphDatabase.driver(
            graph.uri,
            auth=(graph.user, graph.password),
            connection_timeout=min(30.0, max(1.0, wait)),
            user_agent="orecart",
        )
    except (ValueError, nx.DriverError) as exc:  # ConfigurationError is a DriverError
        doing = f"connecting to {hide_userinfo(graph.uri)!r}"
        raise GraphError(describe(exc, graph, doing)) from exc


def _await_ready(
    driver: neo4j.Driver, graph: Graph, clock: WaitClock
) -> tuple[str, ServerInfo]:
    """Probe until the server answers; retry only what a starting server does."""
    wait = clock.limit
    deadline = time.monotonic() + wait
    delay = _FIRST_DELAY
    while True:
        try:
            with graph_errors(graph, "connecting"):
                found = _probe(driver, graph.database)
            clock.ready()
            return found
        except GraphError as exc:
            cause = exc.__cause__ or exc
            retryable = isinstance(cause, nx.ServiceUnavailable | nx.SessionExpired)
            retryable = retryable or isinstance(cause, nx.TransientError)
            remaining = deadline - time.monotonic()
            if not retryable:
                raise
            if remaining <= 0:
                raise GraphError(
                    f"{_where(graph)} is unreachable after waiting {wait:g}s: "
                    f"{_redact(_message(cause), graph.password)}"
                ) from cause
            clock.failed(_redact(_message(cause), graph.password))
            if not clock.pause(min(delay, remaining)):
                raise GraphError(f"{_where(graph)}: not waited for any longer: orecart is "
                                 "stopping") from cause
            delay = min(_MAX_DELAY, delay * 2)


def _probe(driver: neo4j.Driver, database: str | None) -> tuple[str, ServerInfo]:
    """One auto-commit round trip: the database name and the server's version/edition.

    Auto-commit, because managed transactions would retry on their own clock.
    """
    with driver.session(database=database) as session:
        row = session.run(
            "CALL dbms.components() YIELD name, versions, edition "
            "RETURN versions[0] AS version, edition"
        ).single(strict=True)
        info = ServerInfo(version=str(row["version"]), edition=str(row["edition"]))
        if info.major < MIN_MAJOR_VERSION:
            return database or "", info  # db.info() may not exist there
        name = session.run("CALL db.info() YIELD name RETURN name").single(strict=True)["name"]
    return str(name), info
