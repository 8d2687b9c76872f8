"""Reads a YAML or JSON pipeline file into a tree of located nodes.

Every value keeps the line and column it came from, so any later check can say exactly
where the user went wrong. JSON is read by the same YAML composer (JSON is, for our
purposes, YAML flow style), which is what gives JSON files line and column numbers too.
Duplicate mapping keys, which YAML loaders silently collapse, are errors here.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset(
    {_STR, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
)
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_CONSTRUCT = SafeConstructor()
_TYPED = {
    _INT: _CONSTRUCT.construct_yaml_int,
    _FLOAT: _CONSTRUCT.construct_yaml_float,
    _BOOL: _CONSTRUCT.construct_yaml_bool,
}
#: deepest nesting of mappings and lists a pipeline file may have (a real one needs ~6)
MAX_DEPTH = 100
#: values any file may hold once aliases are expanded; larger files may hold one per byte
MIN_VALUES = 100_000
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
    return parse_document(read_text(path, source), source)


def parse_document(text: str, source: str) -> Node:
    """The located tree of ``text``, read from file ``source``; SpecError when it is none."""
    with paused_gc():
        loader = _Loader(text)
        try:
            root = _Composer(loader, source, _alias_budget(text)).document()
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, source) from exc
        except yaml.reader.ReaderError as exc:
            where = _byte_location(text.encode("utf-8"), exc.position, source)
            raise SpecError(f"invalid YAML: {exc.reason}", where) from exc
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {exc}", Location(source)) from exc
        finally:
            loader.dispose()
        if root is None:
            raise SpecError("the file holds no pipeline (it is empty)", Location(source, 1, 1))
        return root


def _alias_budget(text: str) -> int:
    """How many values the document may hold once aliases are expanded.

    Aliases share one subtree, but everything after reading walks the expanded tree, so a
    "billion laughs" file of 300 bytes would cost minutes and gigabytes. The budget grows
    with the file (a value per byte) above a floor no real pipeline comes near.
    """
    return MIN_VALUES + len(text)


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


def read_text(path: Path, source: str, what: str = "the pipeline file") -> str:
    """The UTF-8 text of ``path`` (a BOM dropped); a file that cannot be read, or is not
    UTF-8, is a SpecError naming ``source`` and, for bad bytes, their line and column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpecError(f"cannot read {what}: {reason}", Location(source)) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = _byte_location(data, exc.start, source)
        raise SpecError(f"{what} is not UTF-8 text", where) from exc


def _byte_location(data: bytes, offset: int, source: str) -> Location:
    """The line and column (in characters) of byte ``offset`` of ``data``."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Location(source, data.count(b"\n", 0, offset) + 1, column)


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    message = exc.problem or "invalid YAML"
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        message = f"{message} ({exc.context} at line {exc.context_mark.line + 1})"
    return SpecError(f"invalid YAML: {message}", Location(source, line, column))


@dataclass(slots=True, eq=False)
class _Open:
    """A collection being composed: its node, anchor, expanded size and pending key."""

    node: Node
    anchor: str | None
    is_map: bool = False
    wants_key: bool = False  # a mapping whose next scalar is a key
    size: int = 1
    key: Node | None = None
    merge: bool = False
    merged: list[Node] = field(default_factory=list)


class _Composer:
    """Composes located ``Node``s straight from the parser's events, without recursion.

    PyYAML's composer recurses once per nesting level (its C version crashes the process
    on a file of ``[`` characters), so the tree is built here with an explicit stack,
    refusing more than ``MAX_DEPTH`` levels. An alias shares the anchored node (nothing is
    copied), and counts with its expanded size toward ``budget``. Events are typed ``Any``:
    the parser's always carry marks, which the stubs say may be missing.

        document -> _event (each) -> _scalar / _alias / _open / _close -> _place -> _add
    """

    def __init__(self, loader: Any, source: str, budget: int) -> None:
        self.loader, self.source, self.budget = loader, source, budget
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Node, int]] = {}  # finished nodes and their sizes
        self.defined: dict[str, int] = {}  # every anchor set so far, and its line
        self.root: Node | None = None

    def document(self) -> Node | None:
        """The single document of the stream; None for an empty stream."""
        get = self.loader.get_event
        get()  # stream start
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        handlers: dict[type, Callable[[Any], None]] = {
            yaml.ScalarEvent: self._scalar,
            yaml.AliasEvent: self._alias,
            yaml.SequenceStartEvent: self._open,
            yaml.MappingStartEvent: self._open,
            yaml.SequenceEndEvent: self._close,
            yaml.MappingEndEvent: self._close,
        }
        event = get()  # the document's start is behind us
        while not isinstance(event, yaml.DocumentEndEvent):
            handlers[type(event)](event)
            event = get()
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            raise self._at(event).error("", "the file holds more than one YAML document")
        return self.root

    def _at(self, event: Any, value: Any = None, raw: str = "") -> Node:
        mark = event.start_mark
        return Node(value, mark.line + 1, mark.column + 1, self.source, raw)

    def _define(self, event: Any) -> None:
        """Note where an anchor is set: a second one of the same name is an error, as in
        PyYAML (an alias after both would be ambiguous to a reader)."""
        first = self.defined.setdefault(event.anchor, event.start_mark.line + 1)
        if first != event.start_mark.line + 1 or event.anchor in self.anchors:
            message = f"duplicate anchor {event.anchor!r} (first at line {first})"
            raise self._at(event).error("", message)

    def _scalar(self, event: Any) -> None:
        if event.anchor is not None:
            self._define(event)
        text: str = event.value
        if "\x00" in text:
            raise self._at(event).error("", "NUL characters are not allowed")
        top = self.stack[-1] if self.stack else None
        if top is not None and top.wants_key:
            top.key, top.wants_key = self._at(event, text, text), False
            top.merge = text == "<<" and self._tag(event, yaml.ScalarNode) == _MERGE
            if event.anchor is not None:
                self.anchors[event.anchor] = (self._value(event), 1)
            return
        self._place(self._value(event), 1, event.anchor, event)

    def _value(self, event: Any) -> Node:
        located = self._at(event, raw=event.value)
        tag = self._tag(event, yaml.ScalarNode)
        if tag in _TYPED:
            located.value = _TYPED[tag](yaml.ScalarNode(tag, event.value))
        elif tag == _NULL:
            located.value = None
        elif not event.style and _EXPONENT.fullmatch(event.value):
            located.value = float(event.value)  # YAML 1.1 misses JSON's 1e3; 1.2 has it
        elif tag in _PLAIN_TAGS:
            located.value = event.value
        else:
            raise located.error("", f"unsupported YAML tag {tag!r}")
        return located

    def _tag(self, event: Any, kind: type[yaml.Node]) -> str:
        tag: str | None = event.tag
        if tag is None and kind is yaml.ScalarNode and not event.implicit[0]:
            return _STR  # quoted: what resolve would say, without asking it
        if tag is None or tag == "!":
            value = event.value if kind is yaml.ScalarNode else None
            resolved: str = self.loader.resolve(kind, value, event.implicit)
            return resolved
        return tag

    def _alias(self, event: Any) -> None:
        found = self.anchors.get(event.anchor)
        if found is None:
            if any(entry.anchor == event.anchor for entry in self.stack):
                raise self._at(event).error("", "an alias refers to a node that contains it")
            raise self._at(event).error("", f"undefined alias {event.anchor!r}")
        node, size = found
        top = self.stack[-1] if self.stack else None
        if top is not None and top.wants_key:
            if not node.is_scalar:
                raise self._at(event).error("", "mapping keys must be plain scalars")
            top.key = Node(node.raw, node.line, node.column, self.source, node.raw)
            top.wants_key = False
            return
        self._add(node, size, event)

    def _open(self, event: Any) -> None:
        is_map = isinstance(event, yaml.MappingStartEvent)
        if event.anchor is not None:
            self._define(event)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.wants_key:
            raise self._at(event).error("", "mapping keys must be plain scalars")
        if len(self.stack) >= MAX_DEPTH:
            raise self._at(event).error("", f"values are nested deeper than {MAX_DEPTH} levels")
        kind, expected = (yaml.MappingNode, _MAP) if is_map else (yaml.SequenceNode, _SEQ)
        tag = self._tag(event, kind)
        located = self._at(event, {} if is_map else [])
        if tag != expected:
            raise located.error("", f"unsupported YAML tag {tag!r}")
        if is_map:
            located.keys = {}
        self.stack.append(_Open(located, event.anchor, is_map, wants_key=is_map))

    def _close(self, event: Any) -> None:
        done = self.stack.pop()
        if done.merged:
            _apply_merges(done.node, done.merged)
        self._place(done.node, done.size, done.anchor, event)

    def _place(self, node: Node, size: int, anchor: str | None, event: Any) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, size)
        if self.stack:
            self._add(node, size, event)
        else:
            self.root = node

    def _add(self, node: Node, size: int, event: Any) -> None:
        top = self.stack[-1]
        top.size += size
        if top.size > self.budget:
            raise self._at(event).error(
                "", f"aliases expand the document past {self.budget} values"
            )
        if not top.is_map:
            top.node.value.append(node)
            return
        if top.merge:
            top.merged.extend(_merge_sources(node))
            top.key, top.merge = None, False
        else:
            self._entry(top, node)
        top.wants_key = True

    def _entry(self, top: _Open, value: Node) -> None:
        key, mapping = top.key, top.node
        assert key is not None and mapping.keys is not None
        top.key = None
        name: str = key.value
        first = mapping.keys.get(name)
        if first is not None:
            raise key.error("", f"duplicate key {name!r} (first at line {first.line})")
        mapping.keys[name] = key
        mapping.value[name] = value


def _merge_sources(node: Node) -> list[Node]:
    sources: list[Node] = node.value if node.is_seq else [node]
    for source in sources:
        if not source.is_map:
            raise source.error("", "'<<' merges only mappings")
    return sources


def _apply_merges(mapping: Node, merged: list[Node]) -> None:
    """Explicit keys win over ``<<:`` merged ones, and earlier sources over later, as in YAML."""
    assert mapping.keys is not None
    for source in merged:
        for key, value in source.value.items():
            if key not in mapping.value:
                mapping.value[key] = value
                mapping.keys[key] = source.key_node(key)
