"""What a value kind is: the checking context, the Kind base class, and message helpers.

Pipeline formats are tables of fields (``structures.Field``) whose kinds come from
``scalars`` and ``structures``. Each kind both checks a node and describes itself as JSON
Schema, so validation and the schema can never disagree: both are read off the same
objects. ``check`` returns the cleaned Python value (strings expanded, durations in
seconds, volumes parsed) and raises SpecError at the offending node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from orecart.errors import SpecError
from orecart.spec.expand import ExpansionError, Variables
from orecart.spec.loader import Node

VARIABLE = {"type": "string", "pattern": r"\$\{"}  # a value that only expansion can tell


@dataclass(frozen=True)
class Ctx:
    """How to check: with ``variables`` to expand strings, or raw (``None``), before
    expansion, where ``${...}`` strings pass for any scalar. ``partial`` checks overlays,
    which need no required keys."""

    variables: Variables | None
    partial: bool = False

    def expand(self, node: Node, path: str) -> str:
        text: str = node.value
        if self.variables is None:
            return text
        try:
            expanded = self.variables.expand(text)
        except ExpansionError as exc:
            raise node.error(path, str(exc)) from exc
        if "\x00" in expanded:  # from a parameter: no argv, env or path can hold one
            raise node.error(path, "the expanded value holds a NUL character")
        return expanded

    @property
    def copili(self) -> bool:
        """Whether every key expands, as copili expanded them (Motherlode files)."""
        return self.variables is not None and self.variables.copili

    def expand_key(self, mapping: Node, key: str, path: str) -> str:
        """``key`` of ``mapping`` expanded like a value; errors point at the key."""
        if self.variables is None:
            return key
        try:
            return self.variables.expand(key)
        except ExpansionError as exc:
            raise mapping.key_node(key).error(path, str(exc)) from exc

    def reference(self, node: Node, path: str) -> str | None:
        """The expansion of a string scalar that holds a reference; None for any other."""
        if not isinstance(node.value, str) or "$" not in node.value:
            return None
        return self.expand(node, path)


def expanded_items(node: Node, path: str, ctx: Ctx) -> list[tuple[str, str, Node]]:
    """(key expanded, key as written, value) of each entry of mapping ``node``.

    Two keys that expand to the same text would silently lose one value: an error naming
    where both are written.
    """
    seen: dict[str, str] = {}
    items = []
    for key, child in node.value.items():
        expanded = ctx.expand_key(node, key, path)
        first = seen.setdefault(expanded, key)
        if first != key:
            raise _collision(node, (first, key), expanded, path)
        items.append((expanded, key, child))
    return items


def _collision(node: Node, keys: tuple[str, str], expanded: str, path: str) -> SpecError:
    first, second = (node.key_node(key) for key in keys)
    message = (
        f"keys {keys[0]!r} ({first.source}:{first.line}) and {keys[1]!r} "
        f"({second.source}:{second.line}) both expand to {expanded!r}"
    )
    return second.error(path, message)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def shape(node: Node) -> str:
    """What a node holds, for "expected X, got Y" messages."""
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({node.raw})"
    if isinstance(value, int | float):
        return f"a number ({node.raw})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) < 40 else "a string"
    return "a list" if isinstance(value, list) else "a mapping"


def with_variables(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, VARIABLE]}


class Kind(ABC):
    """One kind of value. ``describe`` completes "expected ..."."""

    def describe(self) -> str:
        return "a value"

    @abstractmethod
    def check(self, node: Node, path: str, ctx: Ctx) -> Any:
        """The cleaned value of ``node``; SpecError when it is not of this kind."""

    @abstractmethod
    def schema(self, partial: bool = False) -> dict[str, Any]:
        """This kind as JSON Schema (draft 2020-12)."""

    def mismatch(self, node: Node, path: str) -> SpecError:
        return node.error(path, f"expected {self.describe()}, got {shape(node)}")
