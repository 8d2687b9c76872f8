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

Restore goes into an empty database (or one it wipes, with ``force=True``); how it loads is
``orecart.graph.restoring``. Lines are encoded and parsed by orjson when it is installed
(the json module otherwise; both write the same lines), and gzip runs in a writer thread.
The header counts are taken when the backup starts; take backups while nothing
writes to the graph (orecart does so between runs), since Neo4j offers no snapshot reads.

Call outline: ``backup -> _export (nodes, then relationships, a page of ids per query)``;
``restore -> Loader.prepare -> Loader.load(prefetch(flushes)) -> Loader.finish``
(``orecart.graph.restoring``).
"""

from __future__ import annotations

import gzip
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j

from orecart.errors import GraphError
from orecart.graph.connect import GraphConnection, graph_errors
from orecart.graph.restoring import Loader, Records, flushes, prefetch
from orecart.graph.schema import (
    is_empty,
    read_schema,
    wipe,
)
from orecart.graph.values import encode_properties, encoded_values

FORMAT = "orecart-graph-backup"
FORMAT_VERSION = 1
SUFFIX = ".graph.jsonl.gz"
COMPRESS_LEVEL = 3  # gzip: level 3 is ~3x faster than 9 for a few percent more bytes
PAGE = 10_000  # ids per backup query (a page comes back as one record)
MAX_SPAN = 1_000_000  # ids per query over sparse id ranges
# A page seeks its ids one by one (``UNWIND .. id(x) = seek`` plans NodeByIdSeek and
# DirectedRelationshipByIdSeek; ``id(x) IN range(..)`` may plan a scan of every element).
NODE_PAGE = (  # {values}: orecart.graph.values.encoded_values
    "UNWIND range($low, $high) AS seek MATCH (n) WHERE id(n) = seek WITH n, properties(n) AS p "
    "RETURN collect([id(n), labels(n), keys(p), {values}]) AS page"
)
RELATIONSHIP_PAGE = (
    "UNWIND range($low, $high) AS seek MATCH ()-[r]->() WHERE id(r) = seek "
    "WITH r, properties(r) AS p "
    "RETURN collect([id(startNode(r)), id(endNode(r)), type(r), keys(p), {values}]) AS page"
)
TOP = {
    "n": "MATCH (n) RETURN max(id(n)) AS top",
    "r": "MATCH ()-[r]->() RETURN max(id(r)) AS top",
}

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
        values = encoded_values("p", tag=_at_least(info.version, (5, 13)))
        with graph_errors(conn.graph, "backup"), _read_transaction(conn) as tx:
            nodes = _export(tx, out, ticker, NODE_PAGE.format(values=values), "n")
            relationships = _export(tx, out, ticker, RELATIONSHIP_PAGE.format(values=values), "r")
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
        header = _header(path, next(lines, b""))
        _make_room(conn, force)
        counts = header["counts"]
        loader = Loader(conn, _Ticker(progress, counts["nodes"] + counts["relationships"]))
        loader.prepare()
        records = Records(path)
        loader.load(prefetch(flushes(records, (_parse(line) for line in lines))))
        loader.finish(records)
    end = records.end or {}
    return _info(path, header, end["nodes"], end["relationships"], time.monotonic() - started)


def read_header(path: Path) -> BackupInfo:
    """What the backup at ``path`` holds, from its first line only."""
    with _reader(path) as lines:
        header = _header(path, next(lines, b""))
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


def _export(tx: neo4j.Transaction, out: _Compressor, ticker: _Ticker, page: str, kind: str) -> int:
    """Stream one kind of entity, a page of ids per query.

    A page comes back as one record holding a list: per-record driver overhead, not the
    values, dominates a record-per-entity stream. A row ends with the property keys and
    their values, tagged by the server where that spares the driver. Pages seek by id, so
    each costs what it returns; the span grows over sparse id ranges so gaps cost few round
    trips.
    """
    highest = tx.run(TOP[kind]).single(strict=True)["top"]
    count, low, span = 0, 0, PAGE
    while highest is not None and low <= highest:
        rows = tx.run(page, low=low, high=low + span - 1).single(strict=True)["page"]
        out.write(b"".join(_line([kind, *row[:-2], _properties(row)]) for row in rows))
        count += len(rows)
        ticker.add(len(rows))
        low += span
        span = min(MAX_SPAN, span * 2) if len(rows) < PAGE // 4 else PAGE
    return count


def _properties(row: list[Any]) -> dict[str, Any]:
    return encode_properties(dict(zip(row[-2], row[-1], strict=True)))


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


def _header(path: Path, text: bytes) -> dict[str, Any]:
    try:
        header = _parse(text) if text else {}
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


def _json_line(record: object) -> bytes:
    return (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


try:
    import orjson
except ImportError:  # optional: the json module writes and reads the same lines, slower

    def _line(record: object) -> bytes:
        return _json_line(record)

    def _parse(text: bytes) -> Any:
        return json.loads(text)

else:

    def _line(record: object) -> bytes:
        """One JSON line; orjson unless it wrote a null, its spelling of NaN and infinity
        (a property is never null, so the json module's ``NaN`` is the value)."""
        try:
            text = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError: e.g. a lone surrogate
            return _json_line(record)
        return _json_line(record) if b"null" in text else text

    def _parse(text: bytes) -> Any:
        try:
            return orjson.loads(text)
        except ValueError:  # NaN, Infinity: only json reads them
            return json.loads(text)


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


class _Compressor:
    """A gzip file written by a thread: zlib lets go of the GIL, so compressing one page
    overlaps fetching and encoding the next. ``write`` hands over, ``close`` drains."""

    def __init__(self, path: Path) -> None:
        self.file = gzip.open(path, "wb", compresslevel=COMPRESS_LEVEL)
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="orecart-backup-gzip", daemon=True)
        self.thread.start()

    def write(self, data: bytes) -> None:
        if self.failure is not None:
            raise self.failure
        self.chunks.put(data)

    def close(self) -> None:
        self.chunks.put(None)
        self.thread.join()
        self.file.close()
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        while (data := self.chunks.get()) is not None:
            if self.failure is None:
                try:
                    self.file.write(data)
                except BaseException as exc:  # raised in the caller's thread
                    self.failure = exc


@contextmanager
def _writer(path: Path) -> Iterator[_Compressor]:
    out = _Compressor(path)
    try:
        yield out
        out.close()
    except BaseException:
        if out.thread.is_alive():
            out.chunks.put(None)
            out.thread.join()
        out.file.close()
        path.unlink(missing_ok=True)
        raise


@contextmanager
def _reader(path: Path) -> Iterator[Iterator[bytes]]:
    try:
        with gzip.open(path, "rb") as lines:
            yield iter(lines)
    except (OSError, EOFError) as exc:
        raise GraphError(f"cannot read backup {path}: {exc}") from exc
