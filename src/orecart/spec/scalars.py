"""Scalar kinds: strings, numbers, booleans, durations, choices, commands, volumes."""

from __future__ import annotations

import math
import re
import shlex
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orecart.errors import SpecError
from orecart.model import Volume
from orecart.spec import cron, durations
from orecart.spec.kinds import VARIABLE, Ctx, Kind, with_variables
from orecart.spec.loader import Node
from orecart.spec.suggest import did_you_mean, one_of

_PLAIN_WORDS = re.compile(r"[^'\"\\]*")  # nothing shlex would treat specially


@dataclass(frozen=True)
class Text(Kind):
    """A string; with ``scalars`` numbers and booleans count too, as written (env values)."""

    pattern: str | None = None
    hint: str = ""  # what the pattern means, for messages
    scalars: bool = False
    non_empty: bool = False
    _match: Callable[[str], re.Match[str] | None] | None = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        matcher = re.compile(self.pattern).fullmatch if self.pattern else None
        object.__setattr__(self, "_match", matcher)

    def describe(self) -> str:
        return "a string" + (" or number" if self.scalars else "")

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        if isinstance(node.value, str):
            text = ctx.expand(node, path)
        elif self.scalars and node.is_scalar and node.value is not None:
            text = node.raw
        else:
            raise self.mismatch(node, path)
        if self.non_empty and not text.strip():
            raise node.error(path, "must not be empty")
        if self._match is not None and self._match(text) is None:
            if ctx.variables is not None or "${" not in text:
                raise node.error(path, f"{text!r} is not {self.hint or 'valid'}")
        return text

    def schema(self, partial: bool = False) -> dict[str, Any]:
        if self.scalars and self.pattern:
            string = {"type": "string", "pattern": f"^(?:{self.pattern})$"}
            return {"anyOf": [string, {"type": ["number", "boolean"]}, VARIABLE]}
        if self.scalars:
            return {"type": ["string", "number", "boolean"]}
        schema: dict[str, Any] = {"type": "string"}
        if self.pattern:
            schema["pattern"] = f"^(?:{self.pattern})$"
            return with_variables(schema)
        if self.non_empty:
            schema["minLength"] = 1
        return schema


def _referenced(
    node: Node, path: str, ctx: Ctx, parse: Callable[[str], Any], what: str
) -> tuple[Any, bool]:
    """The node's value, with a ``${VAR}`` reference expanded and parsed by ``parse``.

    True beside it when the value is the reference text itself: the file is only being
    checked (no variables), so the value is judged when the pipeline is loaded for real.
    """
    text = ctx.reference(node, path)
    if text is None:
        return node.value, False
    if ctx.variables is None:
        return text, True
    try:
        return parse(text.strip()), False
    except ValueError:
        raise node.error(path, f"expected {what}, got {text!r}") from None


@dataclass(frozen=True)
class Integer(Kind):
    minimum: int | None = None

    def describe(self) -> str:
        return "an integer"

    def check(self, node: Node, path: str, ctx: Ctx) -> int | str:
        value, deferred = _referenced(node, path, ctx, int, "an integer")
        if deferred:
            return str(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.mismatch(node, path)
        if self.minimum is not None and value < self.minimum:
            raise node.error(path, f"must be at least {self.minimum}, got {value}")
        return value

    def schema(self, partial: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        return with_variables(schema)


@dataclass(frozen=True)
class Number(Kind):
    """A float; ``positive`` refuses zero as well as negatives."""

    positive: bool = False

    def describe(self) -> str:
        return "a number"

    def check(self, node: Node, path: str, ctx: Ctx) -> float | str:
        value, deferred = _referenced(node, path, ctx, float, "a number")
        if deferred:
            return str(value)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.mismatch(node, path)
        if not math.isfinite(value) or (self.positive and value <= 0) or value < 0:
            limit = "greater than 0" if self.positive else "at least 0"
            raise node.error(path, f"must be {limit}, got {node.raw or value}")
        return float(value)

    def schema(self, partial: bool = False) -> dict[str, Any]:
        limit = {"exclusiveMinimum": 0} if self.positive else {"minimum": 0}
        return with_variables({"type": "number", **limit})


class Boolean(Kind):
    def describe(self) -> str:
        return "true or false"

    _WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

    def check(self, node: Node, path: str, ctx: Ctx) -> bool | str:
        text = ctx.reference(node, path)
        if text is not None:
            if ctx.variables is None:
                return text
            if text.strip().lower() not in self._WORDS:
                raise node.error(path, f"expected true or false, got {text!r}")
            return self._WORDS[text.strip().lower()]
        if not isinstance(node.value, bool):
            raise self.mismatch(node, path)
        return node.value

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return with_variables({"type": "boolean"})


@dataclass(frozen=True)
class Duration(Kind):
    """Seconds, written as a number or "1h30m"; ``positive`` refuses zero, ``minimum``
    anything shorter."""

    positive: bool = False
    minimum: float = 0.0

    def describe(self) -> str:
        return "a duration"

    def check(self, node: Node, path: str, ctx: Ctx) -> float | str:
        value = node.value
        if isinstance(value, str):
            value = ctx.expand(node, path)
            if ctx.variables is None and "${" in value:
                return value
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.mismatch(node, path)
        try:
            seconds = durations.parse_duration(value)
        except SpecError as exc:
            raise node.error(path, exc.message) from None
        if self.positive and seconds <= 0:
            raise node.error(path, f"must be longer than 0, got {node.raw}")
        if seconds < self.minimum:
            raise node.error(path, f"must be at least {self.minimum:g}s, got {node.raw}")
        return seconds

    def schema(self, partial: bool = False) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "number"}
        if self.minimum:
            number["minimum"] = self.minimum
        else:
            number["exclusiveMinimum" if self.positive else "minimum"] = 0
        return {"anyOf": [number, {"type": "string", "pattern": durations.PATTERN}, VARIABLE]}


@dataclass(frozen=True)
class Choice(Kind):
    values: tuple[str, ...]

    def describe(self) -> str:
        return one_of(self.values)

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        if not isinstance(node.value, str):
            raise self.mismatch(node, path)
        text = ctx.expand(node, path)
        if text not in self.values and not (ctx.variables is None and "${" in text):
            hint = did_you_mean(text, self.values)
            raise node.error(path, f"{text!r} is not {one_of(self.values)}{hint}")
        return text

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return with_variables({"enum": list(self.values)})


@dataclass(frozen=True)
class CronText(Text):
    """A five-field cron expression (``spec.cron``'s grammar); a bad one is refused here,
    with its line, not when the service first asks for its next tick."""

    hint: str = "a cron expression"

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        if ctx.variables is None and "${" in text:
            return text
        try:
            cron.parse_cron(text)
        except cron.CronError as exc:
            raise node.error(path, f"{text!r} is not a cron expression: {exc}") from None
        return text


@dataclass(frozen=True)
class Pattern(Text):
    """A Python regular expression; one that does not compile is refused here, with its
    line, not when a sensor first applies it."""

    hint: str = "a regular expression"

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        try:
            re.compile(text)
        except re.error as exc:
            raise node.error(path, f"{text!r} is not a regular expression: {exc}") from None
        return text


@dataclass(frozen=True)
class TimezoneName(Text):
    """An IANA timezone name that zoneinfo knows (``Europe/Berlin``, ``UTC``)."""

    hint: str = "a timezone"

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        if ctx.variables is None and "${" in text:
            return text
        if not known_timezone(text):
            hint = did_you_mean(text, _zone_names())
            raise node.error(path, f"unknown timezone {text!r}{hint}")
        return text


def known_timezone(name: str) -> bool:
    """Whether zoneinfo has ``name`` (a path-like or empty name is no timezone)."""
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone_names() -> set[str]:
    return set(zoneinfo.available_timezones())


_WORD = Text(scalars=True)


def _words(node: Node, path: str, ctx: Ctx) -> tuple[str, ...]:
    return tuple(_WORD.check(item, f"{path}[{i}]", ctx) for i, item in enumerate(node.value))


class Argv(Kind):
    """A command line: a list of words, or a string split like a shell would (no shell)."""

    def describe(self) -> str:
        return "a command (a list of words or a string)"

    def check(self, node: Node, path: str, ctx: Ctx) -> tuple[str, ...]:
        if isinstance(node.value, str):
            text = ctx.expand(node, path)
            try:
                words = tuple(text.split() if _PLAIN_WORDS.fullmatch(text) else shlex.split(text))
            except ValueError as exc:
                raise node.error(path, f"cannot split {text!r} into words: {exc}") from None
        elif node.is_seq:
            words = _words(node, path, ctx)
        else:
            raise self.mismatch(node, path)
        if not words:
            raise node.error(path, "the command is empty")
        return words

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": _WORD.schema(), "minItems": 1},
            ]
        }


class Command(Kind):
    """A container command or entrypoint: a string stays a string (docker splits it)."""

    def describe(self) -> str:
        return "a command (a string or a list of words)"

    def check(self, node: Node, path: str, ctx: Ctx) -> tuple[str, ...] | str:
        if isinstance(node.value, str):
            return ctx.expand(node, path)
        if node.is_seq:
            return _words(node, path, ctx)
        raise self.mismatch(node, path)

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": _WORD.schema()}]}


class VolumeSpec(Kind):
    """Compose's short volume form: ``host:container[:ro|rw]``."""

    def describe(self) -> str:
        return "a volume 'host:container[:ro|rw]'"

    PATTERN = r"[^:]+:[^:]+(:(ro|rw))?"

    def check(self, node: Node, path: str, ctx: Ctx) -> Volume | str:
        if not isinstance(node.value, str):
            raise self.mismatch(node, path)
        text = ctx.expand(node, path)
        if ctx.variables is None and "${" in text:
            return text
        if not re.fullmatch(self.PATTERN, text):
            raise node.error(path, f"expected 'host:container[:ro|rw]', got {text!r}")
        source, target, *mode = text.split(":")
        return Volume(source, target, read_only=mode == ["ro"])

    def schema(self, partial: bool = False) -> dict[str, Any]:
        return with_variables({"type": "string", "pattern": f"^(?:{self.PATTERN})$"})


_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
MEMORY_PATTERN = r"(\d+(?:\.\d+)?)([bkmgBKMG]?)"
MIN_MEMORY = 6 * 1024**2  # Docker refuses smaller limits, and 0 (or 0.5) means none


@dataclass(frozen=True)
class MemorySize(Text):
    """A container memory limit in Docker's units (``512m``, ``2g``), at least 6m."""

    pattern: str | None = MEMORY_PATTERN
    hint: str = "a memory size like 512m or 2g"
    scalars: bool = True

    def check(self, node: Node, path: str, ctx: Ctx) -> str:
        text = super().check(node, path, ctx)
        match = re.fullmatch(MEMORY_PATTERN, text)
        if match is None:
            return text  # a reference, judged once it is expanded
        size = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])
        if size < MIN_MEMORY:
            raise node.error(path, f"must be at least 6m (Docker's smallest limit), got {text!r}")
        return text


_AMOUNT_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
                 "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
AMOUNT_PATTERN = r"(\d+(?:\.\d+)?)\s*(?:([kKmMgGtT]i?)[bB]?|[bB])?"


@dataclass(frozen=True)
class Amount(Kind):
    """How much of a Dask worker resource a member holds: a number (``neo4j: 1``) or a
    size (``memory: 2GB``, ``512MiB``: kB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024),
    as a number of bytes; Dask compares both as plain numbers."""

    def describe(self) -> str:
        return "a number or a size like 2GB"

    def check(self, node: Node, path: str, ctx: Ctx) -> float | str:
        if isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return Number().check(node, path, ctx)
        if not isinstance(node.value, str):
            raise self.mismatch(node, path)
        text = ctx.expand(node, path)
        match = re.fullmatch(AMOUNT_PATTERN, text.strip())
        if match is None:
            if ctx.variables is None and "${" in text:
                return text
            raise node.error(path, f"expected {self.describe()}, got {text!r}")
        return float(match.group(1)) * _AMOUNT_UNITS[(match.group(2) or "").lower()]

    def schema(self, partial: bool = False) -> dict[str, Any]:
        size = {"type": "string", "pattern": f"^{AMOUNT_PATTERN}$"}
        return with_variables({"anyOf": [{"type": "number", "minimum": 0}, size]})
