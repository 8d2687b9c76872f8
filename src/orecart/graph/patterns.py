"""The Cypher of a trigger's pattern (``orecart.triggering.Trigger``): pure functions that
build (text, parameters), never touching a database.

``window(trigger, low, high)`` reads the elements of the pattern's kind whose internal id
is in [low, high] by an id seek, so its cost depends on the window, not on the size of a
label (Neo4j Community has no change data capture: a poll reads what came after the
trigger's cursor). A node pattern::

    UNWIND range($low, $high) AS seek
    MATCH (n) WHERE id(n) = seek
    WITH n, n:`Label` AND n.`prop` = $w0 AS hit
    RETURN max(id(n)) AS top,
           collect(CASE WHEN hit THEN {id: id(n), element: elementId(n),
                                       values: {`param`: n.`prop`}} END) AS hits

(``WHERE id(n) IN range($low, $high)`` reads the same, but Neo4j 5 may plan it as a scan
of every node or relationship, as EXPLAIN shows; an equality per id of the window is
planned as an id seek, which ``tests/graph/test_patterns.py`` checks.)
A relationship pattern matches ``(a)-[r]->(b) WHERE id(r) = seek`` and
reads conditions and values from ``a`` (start), ``r`` (the relationship itself) and ``b``
(end). The one row has ``top``, the highest id of any element of the kind in the window
(null when there is none: the cursor may move to it even when nothing matched), and
``hits``, one ``{id, element, values}`` per matching element, ``values`` the mapped
parameters. The cost grows with the window's width, so a caller reads bounded windows;
ids have gaps (deleted elements), so an empty window says nothing about the next one.

``count(trigger)`` (the count store: constant time) and ``next_id(trigger, after)`` (a
scan) let a poll step over a gap of ids wider than a window, only when the count says
elements exist that the windows did not reach.

``one(trigger, element_id)`` is the same match for one element by its elementId (a retry
reads the element's current values): one row ``hit``, or no row when the element is gone
or no longer matches.

Labels, types and property names are backtick-quoted (``schema.quote``); every condition's
value is a driver parameter (``$w0``, ``$w1``, ...), never text.
"""

from __future__ import annotations

from typing import Any

from orecart.graph.schema import quote
from orecart.triggering import Match, Part, Trigger, TriggerKind

Query = tuple[str, dict[str, Any]]

#: The variable each part of a pattern is bound to.
VARIABLES = {Part.NODE: "n", Part.START: "a", Part.RELATIONSHIP: "r", Part.END: "b"}


def window(trigger: Trigger, low: int, high: int, after: int | None = None) -> Query:
    """The query of the elements with an internal id in [low, high]: one row, ``top``,
    ``hits`` and ``fresh``, how many elements of the kind have an id above ``after``
    (default ``low - 1``: all of them)."""
    text, params = _seek(trigger, "range($low, $high)")
    return text, {**params, "low": low, "high": high,
                  "after": low - 1 if after is None else after}


def elements(trigger: Trigger, ids: list[int]) -> Query:
    """The same row as ``window`` for the elements of the given internal ids."""
    text, params = _seek(trigger, "$ids")
    return text, {**params, "ids": ids, "after": -1}


def _seek(trigger: Trigger, ids: str) -> Query:
    element = _element(trigger)
    condition, params = _condition(trigger)
    text = (f"UNWIND {ids} AS seek\n"
            f"{_match(trigger)} WHERE id({element}) = seek\n"
            f"WITH {_bound(trigger)}, {condition} AS hit\n"
            f"RETURN max(id({element})) AS top, "
            f"sum(CASE WHEN id({element}) > $after THEN 1 ELSE 0 END) AS fresh, "
            f"collect(CASE WHEN hit THEN {_hit(trigger)} END) AS hits")
    return text, params


def matching_count(trigger: Trigger, upto: int) -> Query:
    """How many elements match the pattern up to ``upto`` (a scan that returns one number:
    a sweep reads the ids only when more match than firings hold)."""
    text, params = matching_ids(trigger, upto)
    return text.replace("RETURN id(", "RETURN count(", 1).replace(") AS id", ") AS count"), params


def matching_ids(trigger: Trigger, upto: int) -> Query:
    """The internal ids of every element matching the pattern up to ``upto`` (a scan of
    the label or type: only for a poll that counted elements it could not see, those that
    took the id of a deleted element below the cursor)."""
    element = _element(trigger)
    condition, params = _condition(trigger)
    text = (f"{_match(trigger)} WHERE id({element}) <= $upto AND {condition}\n"
            f"RETURN id({element}) AS id")
    return text, {**params, "upto": upto}


def one(trigger: Trigger, element_id: str) -> Query:
    """The query of the element ``element_id`` if it still matches: a row ``hit``, or none."""
    element = _element(trigger)
    condition, params = _condition(trigger)
    text = (f"{_match(trigger)} WHERE elementId({element}) = $element AND {condition}\n"
            f"RETURN {_hit(trigger)} AS hit")
    return text, {**params, "element": element_id}


def count(trigger: Trigger) -> Query:
    """The number of elements of the pattern's kind in the database, read from Neo4j's
    count store (constant time): a poll that finds nothing new compares it with the last
    one to tell an idle graph from elements beyond a gap of ids."""
    if trigger.kind is TriggerKind.NODE:
        return "MATCH (n) RETURN count(n) AS count", {}
    return "MATCH ()-[r]->() RETURN count(r) AS count", {}


def next_id(trigger: Trigger, after: int) -> Query:
    """The lowest internal id above ``after`` of any element of the pattern's kind (null:
    none). A scan of every element: only for a count that says something lies past a gap."""
    if trigger.kind is TriggerKind.NODE:
        return "MATCH (n) WHERE id(n) > $after RETURN min(id(n)) AS next", {"after": after}
    return ("MATCH ()-[r]->() WHERE id(r) > $after RETURN min(id(r)) AS next",
            {"after": after})


def _element(trigger: Trigger) -> str:
    """The variable of the element that fires: the node, or the relationship."""
    return VARIABLES[Part.NODE if trigger.kind is TriggerKind.NODE else Part.RELATIONSHIP]


def _match(trigger: Trigger) -> str:
    if trigger.kind is TriggerKind.NODE:
        return "MATCH (n)"
    return "MATCH (a)-[r]->(b)"


def _bound(trigger: Trigger) -> str:
    return ", ".join(VARIABLES[part] for part, _ in trigger.parts)


def _condition(trigger: Trigger) -> Query:
    """The pattern's labels, type and conditions as one boolean expression ("true" when
    there is none), and the parameters holding the conditions' values."""
    terms: list[str] = []
    params: dict[str, Any] = {}
    for part, match in trigger.parts:
        terms.extend(_terms(VARIABLES[part], match, params))
    return " AND ".join(terms) or "true", params


def _terms(variable: str, match: Match, params: dict[str, Any]) -> list[str]:
    """``variable:`Name``` and one ``variable.`prop` = $wN`` per condition; each value is
    added to ``params`` (a relationship's ``:`TYPE``` tests its type as a label does)."""
    terms = [f"{variable}:{quote(match.name)}"] if match.name is not None else []
    for prop, value in match.where.items():
        name = f"w{len(params)}"
        params[name] = value
        terms.append(f"{variable}.{quote(prop)} = ${name}")
    return terms


def _hit(trigger: Trigger) -> str:
    element = _element(trigger)
    values = ", ".join(f"{quote(param)}: {VARIABLES[part]}.{quote(prop)}"
                       for part, prop, param in trigger.mapping)
    return f"{{id: id({element}), element: elementId({element}), values: {{{values}}}}}"
