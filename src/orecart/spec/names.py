"""The name grammar, in one place, for both formats, and the check that keeps the names
derived from member names apart.

A member's name becomes a folder (``runs/<run>/<name>/``), a variable
(``ORECART_INPUT_<NAME>``), part of container names and a key in the state store. So a
name starts with a letter, digit or ``_`` (never ``.`` or ``-``: no ``.``, ``..`` or
option-like names), goes on with letters, digits, ``_``, ``.`` and ``-``, and is at most
``MAX_LENGTH`` characters long (PostgreSQL keeps 200). A member is never called ``logs``,
the folder of the run's logs beside the members' folders. Pipelines, pools, profiles and
sidecars are named by the same grammar.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from orecart.environ import input_variable
from orecart.spec.kinds import Ctx
from orecart.spec.loader import Node
from orecart.spec.scalars import Text

MAX_LENGTH = 100
PATTERN = rf"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_LENGTH - 1}}}"
HINT = (
    f"a valid name (up to {MAX_LENGTH} letters, digits, '_', '.', '-';"
    " starting with a letter, digit or '_')"
)
#: folders a run keeps beside its members' artifact folders
RESERVED = frozenset({"logs"})
#: a Motherlode/copili pipeline's name is its file's top key, free text as copili had it;
#: it must still fit the state store (200 characters) and print as text
FREE_MAX_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_free_name(node: Node, path: str, name: str) -> None:
    """Refuse a free-text name (a Motherlode pipeline's) that is empty, longer than
    ``FREE_MAX_LENGTH`` or holds control characters (escape sequences, newlines)."""
    if not name.strip():
        raise node.error(path, "must not be empty")
    if len(name) > FREE_MAX_LENGTH:
        raise node.error(path, f"is {len(name)} characters long; at most {FREE_MAX_LENGTH}")
    if _CONTROL.search(name):
        raise node.error(path, f"{name!r} holds control characters")


@dataclass(frozen=True)
class MemberName(Text):
    """A member's name: the grammar, and none of the reserved names (in any case, since
    file systems may not tell ``Logs`` from ``logs``)."""

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        if text.lower() in RESERVED:
            raise node.error(path, f"{text!r} is reserved (the folder of the run's logs)")
        return text


MEMBER_NAME = MemberName(PATTERN, HINT, scalars=True)  # `name: 2021` is a fine member name


class Named(Protocol):
    """A member as read from its file: its name and where that stands."""

    @property
    def name(self) -> str: ...

    @property
    def name_node(self) -> Node: ...

    @property
    def path(self) -> str: ...


def check_distinct(named: Sequence[Named]) -> None:
    """Refuse two members whose names differ only where derived names cannot tell them
    apart: case (one folder on a case-insensitive file system) and ``-``/``.``/``_`` (one
    ``ORECART_INPUT_*`` variable). Identical names are reported as duplicates elsewhere."""
    seen: dict[str, Named] = {}
    for entry in named:
        variable = input_variable(entry.name)
        first = seen.setdefault(variable, entry)
        if first is entry or first.name == entry.name:
            continue
        message = (
            f"members {first.name!r} (line {first.name_node.line}) and {entry.name!r} (line"
            f" {entry.name_node.line}) would share the variable {variable}: names must differ"
            " in more than case, '-', '.' and '_'"
        )
        raise entry.name_node.error(f"{entry.path}.name", message)


def unique_entries(items: Sequence[Mapping[str, Any]], node: Node | None, section: str,
                   what: str) -> Iterator[tuple[Mapping[str, Any], Node]]:
    """Each entry of a list of named entries (``queries``, ``sensors``, ``triggers``) with
    its node, in order; a name taken by an earlier entry is an error at the later one's
    name, with the first one's line."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        assert node is not None
        at, name = node.value[index], item["name"]
        if name in first:
            line = node.value[first[name]].location.line
            raise (at.get("name") or at).error(
                f"{section}[{name}].name", f"duplicate {what} name {name!r} (first at line {line})")
        first[name] = index
        yield item, at
