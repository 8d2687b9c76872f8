"""The graph's constraints and indexes as data: read, recreate, drop; and wiping a database.

Backups store constraints and indexes as the fields ``SHOW CONSTRAINTS``/``SHOW INDEXES``
report (never their ``createStatement`` text, so a backup file cannot smuggle Cypher in):
restore rebuilds each statement from a fixed template with backtick-quoted names, labels and
properties, and passes the index configuration as a parameter. Token lookup indexes (every
database has them) and indexes owned by a constraint (the constraint recreates them) are
left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orecart.errors import GraphError

if TYPE_CHECKING:  # the patterns import ``quote`` without the driver
    from orecart.graph.connect import GraphConnection

WIPE_BATCH = 10_000

_CONSTRAINT_PREDICATES = {
    "UNIQUENESS": "IS UNIQUE",
    "RELATIONSHIP_UNIQUENESS": "IS UNIQUE",
    "NODE_KEY": "IS NODE KEY",
    "RELATIONSHIP_KEY": "IS RELATIONSHIP KEY",
    "NODE_PROPERTY_EXISTENCE": "IS NOT NULL",
    "RELATIONSHIP_PROPERTY_EXISTENCE": "IS NOT NULL",
    "NODE_PROPERTY_TYPE": "IS ::",
    "RELATIONSHIP_PROPERTY_TYPE": "IS ::",
}
_KEPT = ("name", "type", "entityType", "labelsOrTypes", "properties")
_INDEX_KINDS = {"RANGE", "TEXT", "POINT", "FULLTEXT", "VECTOR"}
_PROPERTY_TYPE = re.compile(r"^[A-Z0-9 <>|_,]+$")  # e.g. "LIST<INTEGER NOT NULL> | STRING"


def quote(name: str) -> str:
    """A label, type, property or schema name as a backtick-quoted Cypher identifier.

    Names come from the database or the pipeline file and cannot be parameters, so they are
    checked and quoted (a backtick inside is doubled) instead of pasted in.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise GraphError(f"invalid label, type, property or schema name: {name!r}")
    return "`" + name.replace("`", "``") + "`"


def read_schema(conn: GraphConnection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The constraints and the (non-lookup, non-constraint) indexes, as plain dicts.

    ``YIELD *`` because the columns differ between 5.x releases (``propertyType`` is 5.9+).
    """
    constraints = [_fields(row) for row in conn.read("SHOW CONSTRAINTS YIELD *")]
    indexes = [
        _fields(row)
        for row in conn.read("SHOW INDEXES YIELD *")
        if row.get("type") != "LOOKUP" and row.get("owningConstraint") is None
    ]
    return sorted(constraints, key=_name), sorted(indexes, key=_name)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    options = row.get("options") or {}
    item = {key: row.get(key) for key in _KEPT}
    item["config"] = options.get("indexConfig") or {}
    if row.get("propertyType") is not None:
        item["propertyType"] = row["propertyType"]
    return item


def _name(item: dict[str, Any]) -> str:
    return str(item["name"])


def create_constraint(conn: GraphConnection, item: dict[str, Any]) -> None:
    kind = item["type"]
    predicate = _CONSTRAINT_PREDICATES.get(kind)
    if predicate is None:
        raise GraphError(f"cannot recreate constraint {item['name']!r} of type {kind!r}")
    if predicate == "IS ::":
        predicate += " " + _property_type(item.get("propertyType"))
    target, var = _pattern(item["entityType"], item["labelsOrTypes"])
    props = ", ".join(f"{var}.{quote(p)}" for p in item["properties"])
    query = f"CREATE CONSTRAINT {quote(item['name'])} FOR {target} REQUIRE ({props}) {predicate}"
    _create(conn, query, item.get("config"))


def create_index(conn: GraphConnection, item: dict[str, Any]) -> None:
    kind = item["type"]
    if kind not in _INDEX_KINDS:
        raise GraphError(f"cannot recreate index {item['name']!r} of type {kind!r}")
    name = quote(item["name"])
    if kind == "FULLTEXT":
        target, var = _pattern(item["entityType"], item["labelsOrTypes"], union=True)
        props = ", ".join(f"{var}.{quote(p)}" for p in item["properties"])
        query = f"CREATE FULLTEXT INDEX {name} FOR {target} ON EACH [{props}]"
    else:
        target, var = _pattern(item["entityType"], item["labelsOrTypes"])
        props = ", ".join(f"{var}.{quote(p)}" for p in item["properties"])
        on = f"ON {props}" if kind == "VECTOR" else f"ON ({props})"
        query = f"CREATE {kind} INDEX {name} FOR {target} {on}"
    _create(conn, query, item.get("config"))


def _create(conn: GraphConnection, query: str, config: dict[str, Any] | None) -> None:
    if config:
        conn.run(query + " OPTIONS $options", options={"indexConfig": config})
    else:
        conn.run(query)


def _pattern(entity: str, tokens: Sequence[str], union: bool = False) -> tuple[str, str]:
    if not tokens or (len(tokens) > 1 and not union):
        raise GraphError(f"unexpected labels or types in graph schema: {tokens!r}")
    joined = "|".join(quote(t) for t in tokens)
    if entity == "NODE":
        return f"(n:{joined})", "n"
    if entity == "RELATIONSHIP":
        return f"()-[r:{joined}]-()", "r"
    raise GraphError(f"unexpected entity type in graph schema: {entity!r}")


def _property_type(text: object) -> str:
    if not isinstance(text, str) or not _PROPERTY_TYPE.match(text):
        raise GraphError(f"unexpected property type in graph schema: {text!r}")
    return text


def call_with(conn: GraphConnection, var: str) -> str:
    """The opening of a ``CALL`` subquery importing ``var``: ``CALL (n) {`` on 5.23+, where
    ``CALL { WITH n`` is deprecated, and the older form before."""
    major, minor = _version(conn.server().version)
    if (major, minor) >= (5, 23):
        return f"CALL ({var}) {{"
    return f"CALL {{ WITH {var}"


def _version(text: str) -> tuple[int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def await_indexes(conn: GraphConnection, timeout: int = 3600) -> None:
    """Wait until every index is online (a restore is done only when they are)."""
    conn.run("CALL db.awaitIndexes($timeout)", timeout=timeout)


def is_empty(conn: GraphConnection) -> bool:
    """True when the database has no nodes, constraints or (non-lookup) indexes."""
    if conn.read("MATCH (n) RETURN count(n) AS n")[0]["n"]:
        return False
    constraints, indexes = read_schema(conn)
    return not constraints and not indexes


def wipe(conn: GraphConnection) -> None:
    """Delete all nodes and relationships (in batches) and drop constraints and indexes.

    Token lookup indexes stay, as in a fresh database.
    """
    conn.run(
        f"MATCH (n) {call_with(conn, 'n')} DETACH DELETE n }} IN TRANSACTIONS OF $batch ROWS",
        batch=WIPE_BATCH,
    )
    for row in conn.read("SHOW CONSTRAINTS YIELD name RETURN name"):
        conn.run(f"DROP CONSTRAINT {quote(row['name'])} IF EXISTS")
    for row in conn.read("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
        conn.run(f"DROP INDEX {quote(row['name'])} IF EXISTS")
