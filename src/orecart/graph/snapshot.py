"""Graph snapshots and their difference: what a member run changed in the graph.

A snapshot holds node counts per label and relationship counts per type, read from Neo4j's
count store (``MATCH (n:`L`) RETURN count(n)`` never touches a node), so it costs the same on
a small graph and a big one. With ``keys`` ({Label: property}) it also holds the set of key
values per label (read in chunks of values), so a delta can name what was added or removed.
orecart's own log labels (``_Pipeline*``) and relationship type are left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orecart.graph.connect import GraphConnection, graph_errors
from orecart.graph.runlog import HAS_MEMBER_RUN
from orecart.graph.schema import quote

OWN_LABEL_PREFIX = "_Pipeline"
OWN_TYPES = frozenset({HAS_MEMBER_RUN})
KEY_CHUNK = 10_000  # key values per record when reading keys

# One round trip for both token lists (a UNION, since a CALL that yields no rows would
# swallow the other list).
_TOKENS = """
CALL db.labels() YIELD label RETURN 'n' AS kind, label AS name
UNION ALL
CALL db.relationshipTypes() YIELD relationshipType RETURN 'r' AS kind, relationshipType AS name
"""


@dataclass(frozen=True)
class Snapshot:
    """Counts per label and relationship type (zero counts left out), and key sets."""

    nodes: Mapping[str, int] = field(default_factory=dict)
    relationships: Mapping[str, int] = field(default_factory=dict)
    keys: Mapping[str, frozenset[Hashable]] = field(default_factory=dict)
    taken_at: datetime | None = None


def take_snapshot(conn: GraphConnection, keys: Mapping[str, str] | None = None) -> Snapshot:
    """Count nodes per label and relationships per type; collect key values. Raises GraphError."""
    labels, types = _tokens(conn)
    counts = _counts(conn, labels, types)
    key_sets = {label: _key_values(conn, label, prop) for label, prop in (keys or {}).items()}
    return Snapshot(
        nodes={k[2:]: v for k, v in counts.items() if k.startswith("n:") and v},
        relationships={k[2:]: v for k, v in counts.items() if k.startswith("r:") and v},
        keys=key_sets,
        taken_at=datetime.now(UTC),
    )


def delta(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """What changed from ``before`` to ``after``, JSON-serialisable, zero entries left out.

    ``{"nodes": {label: +n/-n}, "relationships": {type: +n/-n},
    "added": {label: [keys]}, "removed": {label: [keys]}}``
    """
    added: dict[str, list[Any]] = {}
    removed: dict[str, list[Any]] = {}
    for label in sorted(set(before.keys) & set(after.keys)):
        old, new = before.keys[label], after.keys[label]
        if new - old:
            added[label] = _json_list(new - old)
        if old - new:
            removed[label] = _json_list(old - new)
    return {
        "nodes": _count_changes(before.nodes, after.nodes),
        "relationships": _count_changes(before.relationships, after.relationships),
        "added": added,
        "removed": removed,
    }


def _tokens(conn: GraphConnection) -> tuple[list[str], list[str]]:
    """The labels and relationship types in use, without orecart's own."""
    rows = conn.read(_TOKENS)
    labels = [r["name"] for r in rows if r["kind"] == "n"]
    types = [r["name"] for r in rows if r["kind"] == "r"]
    labels = [x for x in labels if not x.startswith(OWN_LABEL_PREFIX)]
    return sorted(labels), sorted(x for x in types if x not in OWN_TYPES)


def _counts(conn: GraphConnection, labels: list[str], types: list[str]) -> dict[str, int]:
    if not labels and not types:
        return {}
    query, params = count_query(labels, types)
    return {str(row["k"]): int(row["c"]) for row in conn.read(query, **params)}


def count_query(labels: list[str], types: list[str]) -> tuple[str, dict[str, str]]:
    """All counts in one round trip: a UNION ALL of count-store lookups, one per token.

    Rows are ``k`` ("n:Label" or "r:TYPE") and ``c``. The count is taken before the name is
    projected: ``RETURN $k, count(n)`` would make the planner scan the label instead.
    """
    branches: list[str] = []
    params: dict[str, str] = {}
    for label in labels:
        key = f"k{len(params)}"
        params[key] = "n:" + label
        branches.append(f"MATCH (n:{quote(label)}) WITH count(n) AS c RETURN ${key} AS k, c")
    for rel_type in types:
        key = f"k{len(params)}"
        params[key] = "r:" + rel_type
        branches.append(
            f"MATCH ()-[r:{quote(rel_type)}]->() WITH count(r) AS c RETURN ${key} AS k, c"
        )
    return "\nUNION ALL\n".join(branches), params


def _key_values(conn: GraphConnection, label: str, prop: str) -> frozenset[Hashable]:
    """Every value of ``label.prop``, fetched as lists of KEY_CHUNK values.

    One record per value costs the Python driver ~25 us each (0.5 s for 20k keys); lists
    of 10k values decode about ten times faster. The server holds the values of one label
    in the transaction's memory while it cuts the chunks.
    """
    query = (
        f"MATCH (n:{quote(label)}) WHERE n.{quote(prop)} IS NOT NULL "
        f"WITH collect(n.{quote(prop)}) AS keys "
        "UNWIND range(0, size(keys) - 1, $chunk) AS i "
        "RETURN keys[i..i + $chunk] AS chunk"
    )
    values: set[Hashable] = set()
    with graph_errors(conn.graph, f"reading the keys of {label}.{prop}"):
        with conn.session(default_access_mode="READ") as session:
            with session.begin_transaction() as tx:
                for record in tx.run(query, chunk=KEY_CHUNK):
                    values.update(_hashable(v) for v in record[0])
    return frozenset(values)


def _count_changes(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    changes = {name: after.get(name, 0) - before.get(name, 0) for name in {*before, *after}}
    return {name: n for name, n in sorted(changes.items()) if n}


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Hashable):
        return value
    return str(value)


def _json_list(values: Iterable[Hashable]) -> list[Any]:
    items = list(values)
    try:
        items.sort()  # type: ignore[call-arg]
    except TypeError:  # mixed types: any stable order will do
        items.sort(key=repr)
    return [_jsonable(v) for v in items]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return str(value)
