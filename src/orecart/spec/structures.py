"""Structure kinds: lists, free mappings, mappings with known fields, and unions by shape.

A ``Struct`` is where the tables live: its fields say which keys exist, which are
required, which exclude each other, and which make sense only beside another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from orecart.spec.kinds import Ctx, Kind, expanded_items, join
from orecart.spec.loader import Node
from orecart.spec.suggest import did_you_mean, one_of

EXTENSION_PREFIX = "x-"


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of ``item``; ``single`` also takes one bare item; ``label`` names items in
    error paths by that key (``members[pubmed]``) instead of their index."""

    item: Kind
    min_items: int = 0
    single: bool = False
    label: str | None = None

    def describe(self) -> str:
        return "a list"

    def check(self, node: Node, path: str, ctx: Ctx) -> list[Any]:
        if self.single and node.is_scalar and node.value is not None:
            return [self.item.check(node, path, ctx)]
        if not node.is_seq:
            raise self.mismatch(node, path)
        items: list[Node] = node.value
        if len(items) < self.min_items:
            wanted = "must not be empty" if self.min_items == 1 else f"needs {self.min_items} items"
            raise node.error(path, wanted)
        check = self.item.check
        return [check(item, self._path(path, i, item), ctx) for i, item in enumerate(items)]

    def _path(self, path: str, index: int, item: Node) -> str:
        name = item.get(self.label) if self.label else None
        if name is not None and name.is_scalar and name.raw:
            return f"{path}[{name.raw}]"
        return f"{path}[{index}]"

    def schema(self, partial: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": self.item.schema(partial)}
        if self.min_items:
            schema["minItems"] = self.min_items
        if self.single:
            return {"anyOf": [self.item.schema(partial), schema]}
        return schema


@dataclass(frozen=True)
class MapOf(Kind):
    """A mapping from free keys (matching ``key_pattern``) to ``item``.

    Keys expand like values (``{"${DATA_DIR}": {bind: /data}}``), as copili expanded them,
    unless they are names (``expand=False``: profiles, the members a profile overlays)."""

    item: Kind
    key_pattern: str | None = None
    key_hint: str = ""
    expand: bool = True

    def describe(self) -> str:
        return "a mapping"

    def check(self, node: Node, path: str, ctx: Ctx) -> dict[str, Any]:
        if not node.is_map:
            raise self.mismatch(node, path)
        out: dict[str, Any] = {}
        for key, written, child in self._items(node, path, ctx):
            if self.key_pattern and not re.fullmatch(self.key_pattern, key):
                if ctx.variables is None and "$" in key:
                    continue  # judged once the key is expanded, when loading for real
                what = self.key_hint or "a valid key"
                raise node.key_node(written).error(path, f"{key!r} is not {what}")
            out[key] = self.item.check(child, join(path, key), ctx)
        return out

    def _items(self, node: Node, path: str, ctx: Ctx) -> list[tuple[str, str, Node]]:
        if self.expand:
            return expanded_items(node, path, ctx)
        return [(key, key, child) for key, child in node.value.items()]

    def schema(self, partial: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        schema["additionalProperties"] = self.item.schema(partial)
        if self.key_pattern:
            pattern = f"^(?:{self.key_pattern})$"
            if self.expand:
                pattern += r"|\$\{"  # or a key that only its expansion can judge
            schema["propertyNames"] = {"pattern": pattern}
        return schema


@dataclass(frozen=True)
class Shaped(Kind):
    """One of several kinds, chosen by the node's shape (scalar, list or mapping)."""

    scalar: Kind | None = None
    seq: Kind | None = None
    mapping: Kind | None = None

    def describe(self) -> str:
        return " or ".join(k.describe() for k in (self.scalar, self.seq, self.mapping) if k)

    def check(self, node: Node, path: str, ctx: Ctx) -> Any:
        kind = self.mapping if node.is_map else self.seq if node.is_seq else self.scalar
        if kind is None or node.value is None:
            raise self.mismatch(node, path)
        return kind.check(node, path, ctx)

    def schema(self, partial: bool = False) -> dict[str, Any]:
        kinds = (self.scalar, self.seq, self.mapping)
        return {"anyOf": [k.schema(partial) for k in kinds if k is not None]}


@dataclass(frozen=True)
class Partial(Kind):
    """An overlay of ``kind``: the same keys and types, but nothing is required."""

    kind: Kind

    def describe(self) -> str:
        return self.kind.describe()

    def check(self, node: Node, path: str, ctx: Ctx) -> Any:
        return self.kind.check(node, path, replace(ctx, partial=True))

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return self.kind.schema(partial=True)


class Anything(Kind):
    """Any YAML value, as plain Python, strings expanded (a check's expected result)."""

    def check(self, node: Node, path: str, ctx: Ctx) -> Any:
        if node.is_map:
            items = expanded_items(node, path, ctx)
            return {k: self.check(v, join(path, k), ctx) for k, _, v in items}
        if node.is_seq:
            return [self.check(v, f"{path}[{i}]", ctx) for i, v in enumerate(node.value)]
        if isinstance(node.value, str):
            return ctx.expand(node, path)
        return node.value

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Field:
    """One key of a mapping: its kind, what it is for, and how it relates to its siblings.

    ``only_with`` names a sibling key this one makes sense only beside (container options
    need ``image``)."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    only_with: str | None = None


@dataclass(frozen=True)
class Struct(Kind):
    """A mapping with known keys. Unknown keys are errors that suggest the nearest one.

    A null value counts as absent. ``exactly_one`` lists keys of which exactly one must be
    given (a member's ``run``, ``shell`` or ``image``). With ``extensions``, keys starting
    with ``x-`` are ignored, as in docker compose, so they can hold YAML anchors."""

    fields: tuple[Field, ...]
    exactly_one: tuple[str, ...] = ()
    extensions: bool = False
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)
    _required: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _paired: tuple[Field, ...] = field(init=False, repr=False, compare=False)

    def describe(self) -> str:
        return "a mapping"

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "_required", tuple(f.name for f in self.fields if f.required))
        object.__setattr__(self, "_paired", tuple(f for f in self.fields if f.only_with))

    def check(self, node: Node, path: str, ctx: Ctx) -> dict[str, Any]:
        if not node.is_map:
            raise self.mismatch(node, path)
        out: dict[str, Any] = {}
        for key, written, child in self._items(node, path, ctx):
            spec = self.by_name.get(key)
            if spec is None:
                if self.extensions and key.startswith(EXTENSION_PREFIX):
                    continue
                hint = did_you_mean(key, self.by_name)
                raise node.key_node(written).error(path, f"unknown key {key!r}{hint}")
            if child.value is not None:
                out[key] = spec.kind.check(child, join(path, key), ctx)
        if not ctx.partial:
            self._complete(node, path, out)
        return out

    @staticmethod
    def _items(node: Node, path: str, ctx: Ctx) -> list[tuple[str, str, Node]]:
        """The entries of ``node``; in copili files even field names expand, as there."""
        if ctx.copili:
            return expanded_items(node, path, ctx)
        return [(key, key, child) for key, child in node.value.items()]

    def _complete(self, node: Node, path: str, out: dict[str, Any]) -> None:
        for name in self._required:
            if name not in out:
                raise node.error(path, f"missing required key {name!r}")
        for spec in self._paired:
            if spec.name in out and spec.only_with not in out:
                message = f"{spec.name!r} applies only together with {spec.only_with!r}"
                raise node.key_node(spec.name).error(path, message)
        if self.exactly_one:
            given = [key for key in self.exactly_one if key in out]
            if not given:
                raise node.error(path, f"needs one of {one_of(self.exactly_one)}")
            if len(given) > 1:
                where = node.key_node(given[1])
                raise where.error(path, f"give only one of {one_of(given)}")

    def schema(self, partial: bool = False) -> dict[str, Any]:
        properties = {f.name: {**f.kind.schema(partial), "description": f.doc} for f in self.fields}
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if self.extensions:
            schema["patternProperties"] = {f"^{EXTENSION_PREFIX}": {}}
        if partial:
            return schema
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        dependent = {f.name: [f.only_with] for f in self.fields if f.only_with}
        if dependent:
            schema["dependentRequired"] = dependent
        if self.exactly_one:
            schema["oneOf"] = [{"required": [key]} for key in self.exactly_one]
        return schema
