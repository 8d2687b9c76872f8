"""``triggers:`` in the native format: the field table of one trigger, and the checks
that span the file (names unique, the action's query or member exists, the mapped
parameters are what the action takes), ending in ``orecart.triggering.Trigger``s.

A trigger's labels, type and property names are backtick-quoted in its Cypher
(``orecart.graph.patterns``), so any text is allowed there but the empty one, NUL and
more than ``MAX_GRAPH_NAME`` characters. A run action's parameters are ``${params.NAME}``
references: each mapped one must be referred to somewhere in the file as loaded (a
parameter nothing reads is a typo); ``expand.Variables.params_in`` knows them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from orecart.querying import StoredQuery
from orecart.spec import names
from orecart.spec.durations import SHORTEST_EVERY
from orecart.spec.kinds import Ctx, Kind
from orecart.spec.loader import Node
from orecart.spec.scalars import Choice, Duration, Integer, Text
from orecart.spec.structures import Field, MapOf, Shaped, Struct
from orecart.spec.suggest import did_you_mean
from orecart.triggering import Match, Part, QueryAction, RunAction, Trigger, TriggerKind

MAX_GRAPH_NAME = 100
GRAPH_NAME = rf"[^\x00]{{1,{MAX_GRAPH_NAME}}}"
GRAPH_NAME_HINT = f"a name of 1 to {MAX_GRAPH_NAME} characters without NUL"
#: A run parameter's name, as ``${params.NAME}`` spells it (``spec.expand``).
RUN_PARAM = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
WHOLE_PIPELINE = "pipeline"  # `run: pipeline`; a member called so is `run: {member: ...}`
_INT64 = 2**63


@dataclass(frozen=True)
class GraphName(Text):
    """A label, relationship type or property name: say which rule a bad one breaks (NUL
    never gets this far: the reader and ``${VAR}`` expansion refuse it)."""

    pattern: str | None = GRAPH_NAME
    hint: str = GRAPH_NAME_HINT
    scalars: bool = True

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = node.raw if node.is_scalar and not isinstance(node.value, str) else node.value
        if isinstance(text, str) and not text:
            raise node.error(path, "must not be empty")
        if isinstance(text, str) and len(text) > MAX_GRAPH_NAME:
            raise node.error(path, f"is {len(text)} characters long; at most {MAX_GRAPH_NAME}")
        return super().check(node, path, ctx)


@dataclass(frozen=True)
class Literal(Kind):
    """A condition's value: a string (expanded), an integer, a finite float or a boolean,
    exactly as Cypher will compare it (it travels as a driver parameter)."""

    def describe(self) -> str:
        return "a string, number or boolean"

    def check(self, node: Node, path: str, ctx: Ctx) -> str | int | float | bool:
        value = node.value
        if isinstance(value, str):
            return ctx.expand(node, path)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            raise node.error(path, f"{node.raw} does not fit Neo4j's 64-bit integers")
        if isinstance(value, float) and not math.isfinite(value):
            raise node.error(path, f"{node.raw} never equals a stored value")
        if isinstance(value, int | float):
            return value
        raise self.mismatch(node, path)

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return {"type": ["string", "number", "boolean"]}


def _match(name_key: str, doc: str) -> Struct:
    return Struct(
        (
            Field(name_key, GraphName(), doc),
            Field("where", MapOf(Literal(), GRAPH_NAME, "a property name", expand=False),
                  "Equality conditions: property: value (a string, number or boolean)."),
            Field("properties",
                  MapOf(Text(RUN_PARAM, "a parameter name"), GRAPH_NAME, "a property name",
                        expand=False),
                  "Property: the action's parameter its value becomes."),
        )
    )


NODE_MATCH = _match("label", "The label the node must have (default: any).")
RELATIONSHIP_MATCH = _match("type", "The relationship's type (default: any).")

RUN_TARGET = Struct(
    (Field("member", names.MEMBER_NAME, "The member to run (one called `pipeline` too).",
           required=True),)
)

TRIGGER = Struct(
    (
        Field("name", Text(names.PATTERN, names.HINT), "Trigger name (in run keys).",
              required=True),
        Field("type", Choice(tuple(kind.value for kind in TriggerKind)),
              "node or relationship: the kind of element that fires it.", required=True),
        Field("node", NODE_MATCH, "A node trigger's node: label, where, properties."),
        Field("start", NODE_MATCH, "A relationship trigger's start node."),
        Field("relationship", RELATIONSHIP_MATCH,
              "A relationship trigger's relationship: type, where, properties."),
        Field("end", NODE_MATCH, "A relationship trigger's end node."),
        Field("query", Text(names.PATTERN, names.HINT),
              "Action: a stored query of `queries:`, its parameters the mapped properties."),
        Field("run", Shaped(scalar=names.MEMBER_NAME, mapping=RUN_TARGET),
              "Action: a run of `pipeline` (the whole pipeline), a MEMBER or {member: NAME}."),
        Field("every", Duration(minimum=SHORTEST_EVERY),
              "How often `orecart serve` polls the graph (default 10s; at least 1s)."),
        Field("retries", Integer(0), "Tries of a failed action after the first (default 2)."),
        Field("retry_delay", Duration(),
              "Wait before the first retry, doubled for each next one (default 5s)."),
    ),
    exactly_one=("query", "run"),
)

_PARTS_OF = {
    TriggerKind.NODE: (Part.NODE,),
    TriggerKind.RELATIONSHIP: (Part.START, Part.RELATIONSHIP, Part.END),
}


@dataclass(frozen=True)
class Context:
    """What a trigger's action may refer to: the file's stored queries, its members, and
    the run parameters its texts refer to (``${params.NAME}``)."""

    queries: Mapping[str, StoredQuery]
    members: Sequence[str]
    params: frozenset[str]


def load_triggers(items: Sequence[Mapping[str, Any]], node: Node | None,
                  context: Context) -> tuple[Trigger, ...]:
    """The triggers of the checked ``items`` (``node`` is the ``triggers`` list)."""
    triggers = []
    for item, at in names.unique_entries(items, node, "triggers", "trigger"):
        trigger = _trigger(item, at)
        _Checked(trigger, at, context).check()
        triggers.append(trigger)
    return tuple(triggers)


def _trigger(item: Mapping[str, Any], at: Node) -> Trigger:
    kind = TriggerKind(item["type"])
    path = f"triggers[{item['name']}]"
    for part in Part:
        if part.value in item and part not in _PARTS_OF[kind]:
            wanted = " and ".join(p.value for p in _PARTS_OF[kind])
            raise at.key_node(part.value).error(
                f"{path}.{part.value}", f"a {kind.value} trigger has no {part.value!r} "
                                        f"(its parts: {wanted})")
    matches = {part: _part(item[part.value], part) for part in Part if part.value in item}
    trigger = Trigger(item["name"], kind, _action(item), node=matches.get(Part.NODE),
                      start=matches.get(Part.START), end=matches.get(Part.END),
                      relationship=matches.get(Part.RELATIONSHIP))
    options = {key: item[key] for key in ("every", "retries", "retry_delay") if key in item}
    return replace(trigger, **options)


def _part(data: Mapping[str, Any], part: Part) -> Match:
    name = data.get("type" if part is Part.RELATIONSHIP else "label")
    return Match(name, dict(data.get("where", {})), dict(data.get("properties", {})))


def _action(item: Mapping[str, Any]) -> QueryAction | RunAction:
    if "query" in item:
        return QueryAction(item["query"])
    run = item["run"]
    if isinstance(run, Mapping):
        return RunAction(run["member"])
    return RunAction(None if run == WHOLE_PIPELINE else run)


@dataclass(frozen=True)
class _Checked:
    """One trigger against its file: its parameters mapped once, and its action's query
    or member there, taking exactly those parameters."""

    trigger: Trigger
    node: Node
    context: Context

    @property
    def path(self) -> str:
        return f"triggers[{self.trigger.name}]"

    def check(self) -> None:
        self._mapped_once()
        action = self.trigger.action
        if isinstance(action, QueryAction):
            self._query(action)
        else:
            self._run(action)

    def _where(self, part: Part, prop: str) -> tuple[Node, str]:
        """The node and field path of ``prop`` under the part's ``properties``."""
        properties = (self.node.get(part.value) or self.node).get("properties")
        at = properties.key_node(prop) if properties is not None else self.node
        return at, f"{self.path}.{part.value}.properties.{prop}"

    def _mapped_once(self) -> None:
        first: dict[str, tuple[Part, str]] = {}
        for part, prop, param in self.trigger.mapping:
            if param in first:
                earlier, line = first[param], self._where(*first[param])[0].line
                at, path = self._where(part, prop)
                raise at.error(path, f"parameter {param!r} is mapped twice (first by "
                                     f"{earlier[0].value}.properties.{earlier[1]} at line {line})")
            first[param] = (part, prop)

    def _query(self, action: QueryAction) -> None:
        at = self.node.get("query") or self.node
        stored = self.context.queries.get(action.query)
        if stored is None:
            known = ", ".join(self.context.queries) or "none"
            raise at.error(f"{self.path}.query",
                           f"no stored query {action.query!r} under queries: (known: {known})")
        declared = tuple(param.name for param in stored.params)
        for part, prop, param in self.trigger.mapping:
            if param not in declared:
                where, path = self._where(part, prop)
                raise where.error(path, f"query {stored.name!r} has no parameter {param!r} "
                                        f"(its parameters: {_listed(declared)})")
        for param in declared:
            if param not in self.trigger.params:
                raise at.error(f"{self.path}.query", f"parameter {param!r} of query "
                               f"{stored.name!r} is mapped by no property (map one under "
                               "properties)")

    def _run(self, action: RunAction) -> None:
        members = self.context.members
        if action.member is not None and action.member not in members:
            run = self.node.get("run") or self.node
            at = run.get("member") or run
            hint = did_you_mean(action.member, members)
            raise at.error(f"{self.path}.run", f"no member {action.member!r}{hint}")
        for part, prop, param in self.trigger.mapping:
            if param not in self.context.params:
                where, path = self._where(part, prop)
                raise where.error(path, f"parameter {param!r} is not a ${{params.{param}}} "
                                        f"this file refers to (it refers to: "
                                        f"{_listed(sorted(self.context.params))})")


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"
