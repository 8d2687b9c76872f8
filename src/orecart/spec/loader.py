"""Reads a YAML or JSON pipeline file into a tree of located nodes.

Every value keeps the line and column it came from, so any later check can say exactly
where the user went wrong. JSON is read by the same YAML composer (JSON is, for our
purposes, YAML flow style), which is what gives JSON files line and column numbers too.
Duplicate mapping keys, which YAML loaders silently collapse, are errors here.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from orecart.errors import Location, SpecError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = frozenset(
    {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
)
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_CONSTRUCT = SafeConstructor()
_EXPONENT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?[eE][-+]?[0-9]+")


@dataclass(slots=True, eq=False)
class Node:
    """One value of the document and where it stands (1-based line and column).

    ``value`` is a str/int/float/bool/None for scalars, a ``list[Node]`` for sequences and
    a ``dict[str, Node]`` for mappings; ``keys`` then holds each key's own node, so an
    unknown key can be pointed at. ``raw`` is a scalar's source text: env values and tags
    use it, so ``tag: 1.10`` stays "1.10" instead of becoming the float 1.1.
    """

    value: Any
    line: int
    column: int
    source: str
    raw: str = ""
    keys: dict[str, Node] | None = None

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not isinstance(self.value, dict | list)

    def get(self, key: str) -> Node | None:
        """The child under ``key`` of a mapping node (None when absent or not a mapping)."""
        if isinstance(self.value, dict):
            child: Node | None = self.value.get(key)
            return child
        return None

    def key_node(self, key: str) -> Node:
        """Where ``key`` itself is written; the mapping when it is not there."""
        if self.keys and key in self.keys:
            return self.keys[key]
        return self

    @property
    def location(self) -> Location:
        return Location(self.source, self.line, self.column)

    def error(self, field: str, message: str) -> SpecError:
        return SpecError(message, self.location, field)


def read_document(path: Path) -> Node:
    """The located tree of the pipeline file at ``path``; SpecError when it is no document."""
    source = str(path)
    text = _read_text(path, source)
    with paused_gc():
        try:
            root = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, source) from exc
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {exc}", Location(source)) from exc
        if root is None:
            raise SpecError("the file holds no pipeline (it is empty)", Location(source, 1, 1))
        return _Converter(source).convert(root)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large trees of small objects.

    Composing a 10,000-member file allocates hundreds of thousands of objects, each of which
    counts toward CPython's collection thresholds; the repeated full collections made reading
    three to five times slower. None of these objects form cycles worth collecting early.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_text(path: Path, source: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpecError(f"cannot read the pipeline file: {reason}", Location(source)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"the pipeline file is not UTF-8 text (byte {exc.start})", Location(source)
        ) from exc


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        message = f"{message} ({exc.context} at line {exc.context_mark.line + 1})"
    return SpecError(f"invalid YAML: {message}", Location(source, line, column))


class _Converter:
    """Turns composed yaml nodes into located ``Node``s, once per yaml node."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._active: set[int] = set()  # nodes being converted: an alias to one is a cycle

    def convert(self, node: yaml.Node) -> Node:
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:  # only collections can contain themselves
            raise self._at(node).error("", "an alias refers to a node that contains it")
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node)
            assert isinstance(node, yaml.SequenceNode)
            return self._sequence(node)
        finally:
            self._active.discard(id(node))

    def _at(self, node: yaml.Node, value: Any = None, raw: str = "") -> Node:
        mark = node.start_mark
        return Node(value, mark.line + 1, mark.column + 1, self.source, raw)

    def _scalar(self, node: yaml.ScalarNode) -> Node:
        located = self._at(node, raw=node.value)
        tag = node.tag
        if tag == _INT:
            located.value = _CONSTRUCT.construct_yaml_int(node)
        elif tag == _FLOAT:
            located.value = _CONSTRUCT.construct_yaml_float(node)
        elif tag == _BOOL:
            located.value = _CONSTRUCT.construct_yaml_bool(node)
        elif tag == _NULL:
            located.value = None
        elif not node.style and _EXPONENT.fullmatch(node.value):
            located.value = float(node.value)  # YAML 1.1 misses JSON's 1e3; 1.2 has it
        elif tag in _PLAIN_TAGS:
            located.value = node.value
        else:
            raise located.error("", f"unsupported YAML tag {tag!r}")
        return located

    def _sequence(self, node: yaml.SequenceNode) -> Node:
        self._check_tag(node, _SEQ)
        return self._at(node, [self.convert(item) for item in node.value])

    def _mapping(self, node: yaml.MappingNode) -> Node:
        self._check_tag(node, _MAP)
        located = self._at(node, {})
        located.keys = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node))
                continue
            self._add_entry(located, key_node, self.convert(value_node))
        for source in merged:  # explicit keys win over `<<:` merged ones, as in YAML
            for key, value in source.value.items():
                if key not in located.value:
                    located.value[key] = value
                    located.keys[key] = source.key_node(key)
        return located

    def _add_entry(self, mapping: Node, key_node: yaml.Node, value: Node) -> None:
        key = self._at(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            raise key.error("", "mapping keys must be plain scalars")
        name = key.raw = key.value = key_node.value
        assert mapping.keys is not None
        first = mapping.keys.get(name)
        if first is not None:
            raise key.error("", f"duplicate key {name!r} (first at line {first.line})")
        mapping.keys[name] = key
        mapping.value[name] = value

    def _merge_sources(self, node: yaml.Node) -> list[Node]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = [self.convert(item) for item in items]
        for source in sources:
            if not source.is_map:
                raise source.error("", "'<<' merges only mappings")
        return sources

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            raise self._at(node).error("", f"unsupported YAML tag {node.tag!r}")
