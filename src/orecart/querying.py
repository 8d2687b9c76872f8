"""The model of stored queries: what a pipeline's ``queries:`` declares (a name, Cypher,
typed parameters, read or write), the conversion of a parameter's text (``-p k=v``) to its
declared type, the ``$name`` references of a Cypher text, and the record of one execution.

Plain frozen dataclasses and enums, beside ``orecart.model`` (which holds a pipeline's
``queries``); running one is ``orecart.graph.queries``, recording it ``orecart.stores``.
A parameter's value always travels as a driver parameter, never in the query's text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from orecart.errors import UsageError

#: The origin of an execution by ``orecart query`` (a graph trigger's comes later).
CLI = "cli"


class QueryMode(StrEnum):
    """A read query runs in a read transaction (the server refuses a write in it)."""

    READ = "read"
    WRITE = "write"


class ParamType(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"


LIST_OF = "list[{}]"  # the one spelling of a list type: list[int]
TYPE_NAMES = (*(t.value for t in ParamType), *(LIST_OF.format(t.value) for t in ParamType))


@dataclass(frozen=True)
class Param:
    """One declared parameter: its name in the Cypher (``$name``), its type, a list or not."""

    name: str
    type: ParamType
    many: bool = False

    @classmethod
    def parse(cls, name: str, spelled: str) -> Param:
        """From ``str`` .. ``datetime`` or ``list[str]`` .. (one of ``TYPE_NAMES``)."""
        if spelled.startswith("list["):
            return cls(name, ParamType(spelled[5:-1]), many=True)
        return cls(name, ParamType(spelled))

    @property
    def spelled(self) -> str:
        return LIST_OF.format(self.type.value) if self.many else self.type.value

    def convert(self, text: str) -> Any:
        """The value of ``text`` as this type (a list: comma-separated); a wrong one is a
        ``UsageError`` such as ``-p sample: expected int, got 'x'``."""
        if not self.many:
            return _one(self, text)
        return [] if not text.strip() else [_one(self, part.strip()) for part in text.split(",")]


def _one(param: Param, text: str) -> Any:
    try:
        return _CONVERT[param.type](text)
    except ValueError:
        raise UsageError(f"-p {param.name}: expected {param.spelled}, got {text!r}") from None


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValueError(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_CONVERT: dict[ParamType, Callable[[str], Any]] = {
    ParamType.STR: str,
    ParamType.INT: int,
    ParamType.FLOAT: _float,
    ParamType.BOOL: _bool,
    ParamType.DATE: date.fromisoformat,
    ParamType.DATETIME: datetime.fromisoformat,
}


@dataclass(frozen=True)
class StoredQuery:
    """One entry of ``queries:``."""

    name: str
    cypher: str
    params: tuple[Param, ...] = ()
    mode: QueryMode = QueryMode.READ
    desc: str | None = None

    def values(self, given: Mapping[str, str]) -> dict[str, Any]:
        """The driver parameters from ``given`` texts: every declared one is needed, and
        nothing undeclared is taken."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise UsageError(f"query {self.name}: no parameter {unknown[0]!r} (declared: {known})")
        missing = [name for name in declared if name not in given]
        if missing:
            raise UsageError(f"query {self.name}: parameter {missing[0]!r} is needed "
                             f"(-p {missing[0]}=...)")
        return {name: declared[name].convert(text) for name, text in given.items()}


# -- the $name references of a Cypher text ------------------------------------------------

#: String literals, comments and quoted names hold no parameters; they are skipped whole.
_TOKENS = re.compile(
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/|`(?:[^`]|``)*`"""
    r"""|\$(?:([A-Za-z_][A-Za-z0-9_]*)|`((?:[^`]|``)*)`|([0-9]+))""",
    re.DOTALL,
)


def referenced(cypher: str) -> list[str]:
    """The parameters ``cypher`` uses (``$name``, ``$`quoted```, ``$0``), in order, once."""
    found: dict[str, None] = {}
    for match in _TOKENS.finditer(cypher):
        name = match.group(1) or match.group(3)
        if name is None and match.group(2) is not None:
            name = match.group(2).replace("``", "`")
        if name is not None:
            found.setdefault(name)
    return list(found)


# -- executions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryExecution:
    """One execution as the state store keeps it. ``params`` holds the values as JSON,
    a secret one masked (``orecart.secrets``); ``rows`` is None when it failed."""

    pipeline: str
    query: str
    started_at: datetime
    duration: float
    origin: str
    rows: int | None = None
    error: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryStats:
    """Per query: executions, p50, p95 and max duration (seconds), and failed ones."""

    query: str
    count: int
    p50: float
    p95: float
    max: float
    errors: int


def stats_of(query: str, durations: Sequence[float], errors: int) -> QueryStats:
    """Nearest-rank percentiles of ``durations`` (no interpolation: a p95 is a duration
    that happened)."""
    ordered = sorted(durations)
    return QueryStats(query, len(ordered), _rank(ordered, 0.50), _rank(ordered, 0.95),
                      ordered[-1] if ordered else 0.0, errors)


def _rank(ordered: Sequence[float], share: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
