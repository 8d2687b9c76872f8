"""Logical backups of a whole Neo4j database: export to, and import from, one file.

A backup is gzip-compressed JSON lines, written and read as a stream so memory stays flat
however large the graph::

    {"t": "header", "format": "orecart-graph-backup", "version": 1, "created_at": ...,
     "server": {"version": ..., "edition": ...}, "database": ..., "counts": {...}}
    {"t": "constraint", ...}  {"t": "index", ...}        (orecart.graph.schema)
    ["n", node_id, [labels], {properties}]                one line per node
    ["r", start_id, end_id, type, {properties}]           one line per relationship
    {"t": "end", "nodes": n, "relationships": r}

Property values are encoded by ``orecart.graph.values``. A backup is written to a
``.partial`` file and renamed when complete; restore refuses a file without its end line.

Restore goes into an empty database (or one it wipes, with ``force=True``): nodes are created
in batches with ``UNWIND``, grouped by label set, each carrying its backup id in a temporary
property under a temporary indexed label; relationships find their ends through that index;
then the temporary label, property and index go, and the constraints and indexes are created
and awaited. The header counts are taken when the backup starts; take backups while nothing
writes to the graph (orecart does so between runs), since Neo4j offers no snapshot reads.

Call outline: ``backup -> _export (nodes, then relationships, a page of ids per query)``;
``restore -> _Loader.prepare -> _Loader.load(_prefetch(_flushes)) -> _Loader.finish``.
"""

from __future__ import annotations

import gzip
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import neo4j

from orecart.errors import GraphError
from orecart.graph.connect import GraphConnection, graph_errors
from orecart.graph.schema import (
    await_indexes,
    call_with,
    create_constraint,
    create_index,
    is_empty,
    quote,
    read_schema,
    wipe,
)
from orecart.graph.values import decode_properties, encode_properties

FORMAT = "orecart-graph-backup"
FORMAT_VERSION = 1
SUFFIX = ".graph.jsonl.gz"
BATCH = 10_000  # rows per UNWIND on restore, and records between progress calls
COMPRESS_LEVEL = 3  # gzip: level 3 is ~3x faster than 9 for a few percent more bytes
PAGE = 10_000  # ids per backup query (a page comes back as one record)
MAX_SPAN = 1_000_000  # ids per query over sparse id ranges
NODE_PAGE = (
    "MATCH (n) WHERE id(n) IN range($low, $high) "
    "RETURN collect([id(n), labels(n), properties(n)]) AS page"
)
RELATIONSHIP_PAGE = (
    "MATCH ()-[r]->() WHERE id(r) IN range($low, $high) "
    "RETURN collect([id(startNode(r)), id(endNode(r)), type(r), properties(r)]) AS page"
)
TEMP_LABEL = "_OrecartRestore"
TEMP_KEY = "_orecart_restore_id"
TEMP_INDEX = "orecart_restore_id"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds (from its header), or what a restore loaded."""

    path: Path
    created_at: str  # ISO 8601, UTC
    server_version: str
    database: str
    nodes: int
    relationships: int
    constraints: int
    indexes: int
    seconds: float = 0.0
    format_version: int = FORMAT_VERSION

    @property
    def rate(self) -> float:
        """Nodes plus relationships per second."""
        return (self.nodes + self.relationships) / self.seconds if self.seconds else 0.0


def backup_path(directory: Path, when: datetime | None = None, tag: str = "") -> Path:
    """Where a new backup goes: a UTC timestamp (sortable), an optional tag, ``SUFFIX``."""
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return directory / f"{stamp}{'-' + tag if tag else ''}{SUFFIX}"


def backup(conn: GraphConnection, path: Path, progress: Progress | None = None) -> BackupInfo:
    """Write the whole database of ``conn`` to ``path``."""
    started = time.monotonic()
    constraints, indexes = read_schema(conn)
    count = {  # from the count store: instant on any graph
        "nodes": conn.read("MATCH (n) RETURN count(n) AS n")[0]["n"],
        "relationships": conn.read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"],
    }
    info = conn.server()
    header = {
        "t": "header",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "server": {"version": info.version, "edition": info.edition},
        "database": conn.database,
        "counts": {**count, "constraints": len(constraints), "indexes": len(indexes)},
    }
    ticker = _Ticker(progress, count["nodes"] + count["relationships"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with _writer(partial) as out:
        out.write(_line(header))
        for item in constraints:
            out.write(_line({"t": "constraint", **item}))
        for item in indexes:
            out.write(_line({"t": "index", **item}))
        with graph_errors(conn.graph, "backup"), _read_transaction(conn) as tx:
            nodes = _export_nodes(tx, out, ticker)
            relationships = _export_relationships(tx, out, ticker)
        out.write(_line({"t": "end", "nodes": nodes, "relationships": relationships}))
    partial.replace(path)
    ticker.done()
    return _info(path, header, nodes, relationships, time.monotonic() - started)


def restore(
    conn: GraphConnection, path: Path, progress: Progress | None = None, *, force: bool = False
) -> BackupInfo:
    """Load the backup at ``path`` into the (empty, or with ``force`` wiped) database."""
    started = time.monotonic()
    with _reader(path) as lines:
        header = _header(path, next(lines, ""))
        _make_room(conn, force)
        counts = header["counts"]
        loader = _Loader(conn, _Ticker(progress, counts["nodes"] + counts["relationships"]))
        loader.prepare()
        records = _Records(path)
        loader.load(_prefetch(_flushes(records, lines)))
        loader.finish(records)
    end = records.end or {}
    return _info(path, header, end["nodes"], end["relationships"], time.monotonic() - started)


def read_header(path: Path) -> BackupInfo:
    """What the backup at ``path`` holds, from its first line only."""
    with _reader(path) as lines:
        header = _header(path, next(lines, ""))
    counts = header["counts"]
    return _info(path, header, counts["nodes"], counts["relationships"], 0.0)


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups in ``directory``; return what was deleted."""
    if keep < 0:
        raise ValueError("keep must be >= 0")
    found = sorted(
        (p for p in directory.glob("*" + SUFFIX) if p.is_file()),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    doomed = found[: max(0, len(found) - keep)]
    for old in doomed:
        old.unlink()
    return doomed


def _export_nodes(tx: neo4j.Transaction, out: IO[str], ticker: _Ticker) -> int:
    return _export(tx, out, ticker, NODE_PAGE, "MATCH (n) RETURN max(id(n)) AS top", "n")


def _export_relationships(tx: neo4j.Transaction, out: IO[str], ticker: _Ticker) -> int:
    return _export(
        tx, out, ticker, RELATIONSHIP_PAGE, "MATCH ()-[r]->() RETURN max(id(r)) AS top", "r"
    )


def _export(
    tx: neo4j.Transaction, out: IO[str], ticker: _Ticker, page: str, top: str, kind: str
) -> int:
    """Stream one kind of entity, a page of ids per query.

    A page comes back as one record holding a list: per-record driver overhead, not the
    values, dominates a record-per-entity stream. Pages seek by id, so each costs what it
    returns; the span grows over sparse id ranges so gaps cost few round trips.
    """
    highest = tx.run(top).single(strict=True)["top"]
    count, low, span = 0, 0, PAGE
    while highest is not None and low <= highest:
        rows = tx.run(page, low=low, high=low + span - 1).single(strict=True)["page"]
        out.writelines(_line([kind, *row[:-1], encode_properties(row[-1])]) for row in rows)
        count += len(rows)
        ticker.add(len(rows))
        low += span
        span = min(MAX_SPAN, span * 2) if len(rows) < PAGE // 4 else PAGE
    return count


@dataclass
class _Records:
    """What a backup holds besides nodes and relationships, filled while it is read."""

    path: Path
    constraints: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None

    def note(self, record: dict[str, Any]) -> bool:
        """Keep a schema record; True at the end record."""
        kind = record.get("t")
        if kind == "constraint":
            self.constraints.append(record)
        elif kind == "index":
            self.indexes.append(record)
        elif kind == "end":
            self.end = record
        return kind == "end"


@dataclass(frozen=True)
class _Flush:
    """Ready-to-send writes: (query, rows) per label set or type, and the records in them."""

    writes: list[tuple[str, list[list[Any]]]]
    count: int


def _flushes(records: _Records, lines: Iterator[str]) -> Iterator[_Flush]:
    """Group the records after the header into batches of about ``BATCH`` rows.

    Every node is sent before the first relationship, which must find both its ends.
    """
    nodes: dict[tuple[str, ...], list[list[Any]]] = {}
    relationships: dict[str, list[list[Any]]] = {}
    pending = 0
    for text in lines:
        record = json.loads(text)
        if isinstance(record, list):
            if record[0] == "n":
                row = [record[1], decode_properties(record[3])]
                nodes.setdefault(tuple(record[2]), []).append(row)
            else:
                if nodes:
                    yield _flush(nodes, relationships, pending)
                    nodes, relationships, pending = {}, {}, 0
                row = [record[1], record[2], decode_properties(record[4])]
                relationships.setdefault(record[3], []).append(row)
            pending += 1
            if pending >= BATCH:
                yield _flush(nodes, relationships, pending)
                nodes, relationships, pending = {}, {}, 0
        elif records.note(record):
            break
    if records.end is None:
        raise GraphError(
            f"backup {records.path} is incomplete (no end record); the database holds only "
            "part of it"
        )
    if pending:
        yield _flush(nodes, relationships, pending)


def _flush(
    nodes: dict[tuple[str, ...], list[list[Any]]],
    relationships: dict[str, list[list[Any]]],
    count: int,
) -> _Flush:
    temp = quote(TEMP_LABEL)
    key = quote(TEMP_KEY)
    writes = [
        (
            f"UNWIND $rows AS row CREATE (n:{temp}{''.join(':' + quote(x) for x in labels)} "
            f"{{{key}: row[0]}}) SET n += row[1]",
            rows,
        )
        for labels, rows in nodes.items()
    ]
    writes += [
        (
            f"UNWIND $rows AS row MATCH (a:{temp} {{{key}: row[0]}}) "
            f"MATCH (b:{temp} {{{key}: row[1]}}) CREATE (a)-[r:{quote(kind)}]->(b) SET r = row[2]",
            rows,
        )
        for kind, rows in relationships.items()
    ]
    return _Flush(writes, count)


def _prefetch(source: Iterator[_Flush], depth: int = 2) -> Iterator[_Flush]:
    """Run ``source`` in a thread, ``depth`` items ahead: decoding the next batch overlaps
    the server's work on this one."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> None:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            for item in source:
                put(("item", item))
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    thread = threading.Thread(target=produce, name="orecart-restore-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "error":
                raise value
            if kind == "done":
                return
            yield value
    finally:
        stop.set()
        thread.join()


class _Loader:
    """Sends batches in write transactions; owns the temporary id label and index."""

    def __init__(self, conn: GraphConnection, ticker: _Ticker) -> None:
        self.conn = conn
        self.ticker = ticker

    def prepare(self) -> None:
        self.conn.run(
            f"CREATE INDEX {quote(TEMP_INDEX)} IF NOT EXISTS "
            f"FOR (n:{quote(TEMP_LABEL)}) ON (n.{quote(TEMP_KEY)})"
        )
        await_indexes(self.conn)

    def load(self, flushes: Iterator[_Flush]) -> None:
        with graph_errors(self.conn.graph, "restore"), self.conn.session() as session:
            for flush in flushes:
                for query, rows in flush.writes:
                    session.execute_write(_run_unwind, query, rows)
                self.ticker.add(flush.count)

    def finish(self, records: _Records) -> None:
        """Drop the temporary id, create the schema and wait until it is online."""
        self.conn.run(f"DROP INDEX {quote(TEMP_INDEX)} IF EXISTS")
        self.conn.run(
            f"MATCH (n:{quote(TEMP_LABEL)}) {call_with(self.conn, 'n')} "
            f"REMOVE n:{quote(TEMP_LABEL)} REMOVE n.{quote(TEMP_KEY)} "
            "} IN TRANSACTIONS OF $batch ROWS",
            batch=BATCH,
        )
        for item in records.constraints:
            create_constraint(self.conn, item)
        for item in records.indexes:
            create_index(self.conn, item)
        await_indexes(self.conn)
        self.ticker.done()


def _run_unwind(tx: neo4j.ManagedTransaction, query: str, rows: list[list[Any]]) -> None:
    tx.run(query, rows=rows).consume()


class _Ticker:
    """Calls ``progress(done, total)`` as work is done; total grows if the guess was low."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.count = 0

    def add(self, n: int) -> None:
        if n <= 0:
            return
        self.count += n
        self.total = max(self.total, self.count)
        if self.progress is not None:
            self.progress(self.count, self.total)

    def done(self) -> None:
        if self.progress is not None:
            self.progress(self.count, self.count)


def _make_room(conn: GraphConnection, force: bool) -> None:
    if is_empty(conn):
        return
    if not force:
        raise GraphError(
            f"database {conn.database!r} at {conn.graph.uri} is not empty: restore needs an "
            "empty database (force=True wipes it first)"
        )
    wipe(conn)


def _header(path: Path, text: str) -> dict[str, Any]:
    try:
        header = json.loads(text) if text else {}
    except ValueError as exc:
        raise GraphError(f"{path} is not an orecart graph backup: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise GraphError(f"{path} is not an orecart graph backup")
    if header.get("version", 0) > FORMAT_VERSION:
        raise GraphError(
            f"{path} has backup format {header.get('version')}; this orecart reads up to "
            f"{FORMAT_VERSION}"
        )
    return header


def _info(
    path: Path, header: dict[str, Any], nodes: int, relationships: int, seconds: float
) -> BackupInfo:
    counts = header["counts"]
    return BackupInfo(
        path=path,
        created_at=header["created_at"],
        server_version=header["server"]["version"],
        database=header["database"],
        nodes=nodes,
        relationships=relationships,
        constraints=counts["constraints"],
        indexes=counts["indexes"],
        seconds=seconds,
        format_version=header["version"],
    )


def _line(record: object) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


@contextmanager
def _read_transaction(conn: GraphConnection) -> Iterator[neo4j.Transaction]:
    """One read transaction for the whole export.

    Pages use ``id()``, deprecated in Neo4j 5 yet the only id with a range seek; from 5.7 on
    the server is asked to spare us one deprecation warning per page.
    """
    config: dict[str, Any] = {"default_access_mode": neo4j.READ_ACCESS}
    if _at_least(conn.server().version, (5, 7)):
        config["notifications_disabled_classifications"] = ["DEPRECATION"]
    with conn.session(**config) as session, session.begin_transaction() as tx:
        yield tx


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]] + [0, 0]
    return (parts[0], parts[1]) >= wanted


@contextmanager
def _writer(path: Path) -> Iterator[IO[str]]:
    try:
        with gzip.open(path, "wt", compresslevel=COMPRESS_LEVEL, encoding="utf-8") as out:
            yield out
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@contextmanager
def _reader(path: Path) -> Iterator[Iterator[str]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            yield iter(lines)
    except (OSError, EOFError) as exc:
        raise GraphError(f"cannot read backup {path}: {exc}") from exc
