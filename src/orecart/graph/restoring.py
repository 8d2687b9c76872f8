"""Loading a backup's records into Neo4j: batches planned from the records, sent by UNWIND.

Nodes are created in batches with ``UNWIND``, grouped by label set, each carrying its backup
id in a temporary property under a temporary indexed label; relationships find their ends
through that index; then the temporary label, property and index go, and the constraints
and indexes are created and awaited. Temporal and spatial values are rebuilt by the query
(``orecart.graph.values.rebuild``), never built as driver objects here.

Call outline: ``Loader.prepare -> Loader.load(prefetch(flushes(records))) -> Loader.finish``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import neo4j

from orecart.errors import GraphError
from orecart.graph.connect import GraphConnection, graph_errors
from orecart.graph.schema import (
    await_indexes,
    call_with,
    create_constraint,
    create_index,
    quote,
)
from orecart.graph.values import Typed, rebuild, split_properties

BATCH = 10_000  # rows per UNWIND, and records between progress calls
TEMP_LABEL = "_OrecartRestore"
TEMP_KEY = "_orecart_restore_id"
TEMP_INDEX = "orecart_restore_id"


class Tally(Protocol):
    """Where progress goes (``orecart.graph.backup``'s ticker)."""

    def add(self, n: int) -> None: ...

    def done(self) -> None: ...


@dataclass
class Records:
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
class Flush:
    """Ready-to-send writes: (query, rows) per label set or type, and the records in them."""

    writes: list[tuple[str, list[list[Any]]]]
    count: int


def flushes(records: Records, items: Iterator[Any]) -> Iterator[Flush]:
    """Group the parsed records after the header into batches of about ``BATCH`` rows.

    Rows are grouped by label set (or type) and by which keys hold temporal or spatial
    values, which the query rebuilds on the server (``orecart.graph.values``). Every node
    is sent before the first relationship, which must find both its ends.
    """
    nodes: dict[tuple[tuple[str, ...], Typed], list[list[Any]]] = {}
    relationships: dict[tuple[str, Typed], list[list[Any]]] = {}
    pending = 0
    for record in items:
        if isinstance(record, list):
            if record[0] == "n":
                plain, typed, fields = split_properties(record[3])
                nodes.setdefault((tuple(record[2]), typed), []).append([record[1], plain, *fields])
            else:
                if nodes:
                    yield _flush(nodes, relationships, pending)
                    nodes, relationships, pending = {}, {}, 0
                plain, typed, fields = split_properties(record[4])
                row = [record[1], record[2], plain, *fields]
                relationships.setdefault((record[3], typed), []).append(row)
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
    nodes: dict[tuple[tuple[str, ...], Typed], list[list[Any]]],
    relationships: dict[tuple[str, Typed], list[list[Any]]],
    count: int,
) -> Flush:
    temp = quote(TEMP_LABEL)
    key = quote(TEMP_KEY)
    writes = [
        (
            f"UNWIND $rows AS row CREATE (n:{temp}{''.join(':' + quote(x) for x in labels)} "
            f"{{{key}: row[0]}}) SET n += row[1]{_rebuilt('n', typed, 2)}",
            rows,
        )
        for (labels, typed), rows in nodes.items()
    ]
    writes += [
        (
            f"UNWIND $rows AS row MATCH (a:{temp} {{{key}: row[0]}}) "
            f"MATCH (b:{temp} {{{key}: row[1]}}) CREATE (a)-[r:{quote(kind)}]->(b) "
            f"SET r = row[2]{_rebuilt('r', typed, 3)}",
            rows,
        )
        for (kind, typed), rows in relationships.items()
    ]
    return Flush(writes, count)


def _rebuilt(var: str, typed: Typed, first: int) -> str:
    """The SET items for the typed keys, whose fields follow the plain map in each row."""
    return "".join(
        f", {var}.{quote(name)} = {rebuild(kind, f'row[{first + i}]')}"
        for i, (name, kind) in enumerate(typed)
    )


def prefetch(source: Iterator[Flush], depth: int = 2) -> Iterator[Flush]:
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


class Loader:
    """Sends batches in write transactions; owns the temporary id label and index."""

    def __init__(self, conn: GraphConnection, ticker: Tally) -> None:
        self.conn = conn
        self.ticker = ticker

    def prepare(self) -> None:
        self.conn.run(
            f"CREATE INDEX {quote(TEMP_INDEX)} IF NOT EXISTS "
            f"FOR (n:{quote(TEMP_LABEL)}) ON (n.{quote(TEMP_KEY)})"
        )
        await_indexes(self.conn)

    def load(self, flushes: Iterator[Flush]) -> None:
        with graph_errors(self.conn.graph, "restore"), self.conn.session() as session:
            for flush in flushes:
                for query, rows in flush.writes:
                    session.execute_write(_run_unwind, query, rows)
                self.ticker.add(flush.count)

    def finish(self, records: Records) -> None:
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
