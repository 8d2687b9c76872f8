"""Checks across members: unique and distinct names, needs that exist, declared pools, no
cycles.

All linear in the number of members and needs; the nearest-name hint runs only once an
error is certain. The cycle search is iterative, so a 10,000-long chain cannot overflow
Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orecart.errors import CycleError
from orecart.model import Member
from orecart.spec.loader import Node
from orecart.spec.names import check_distinct
from orecart.spec.suggest import did_you_mean


@dataclass(frozen=True)
class Placed:
    """A member and the node it was read from, for pointing at its parts."""

    member: Member
    node: Node
    path: str
    needs_key: str = "needs"  # Motherlode files call them dependencies

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def name_node(self) -> Node:
        return self.node.get("name") or self.node


def check_members(placed: Sequence[Placed], pools: Mapping[str, int]) -> None:
    """Raise SpecError (or CycleError) for the first problem among the members."""
    by_name = _unique(placed)
    check_distinct(placed)
    for entry in placed:
        _check_needs(entry, by_name)
        _check_pool(entry, pools)
    _check_cycles(placed, by_name)


def _unique(placed: Sequence[Placed]) -> dict[str, Placed]:
    by_name: dict[str, Placed] = {}
    for entry in placed:
        first = by_name.get(entry.member.name)
        if first is not None:
            name_node = entry.node.get("name") or entry.node
            name, line = entry.member.name, first.node.line
            raise name_node.error(
                entry.path, f"duplicate member name {name!r} (first at line {line})"
            )
        by_name[entry.member.name] = entry
    return by_name


def _need_nodes(entry: Placed) -> list[Node]:
    needs = entry.node.get(entry.needs_key)
    if needs is None:
        return []
    return list(needs.value) if needs.is_seq else [needs]


def _need_node(entry: Placed, need: str) -> Node:
    """The node that names ``need`` in the entry's needs (the member when not found)."""
    nodes = _need_nodes(entry)
    for node in nodes:
        if need in (node.value, node.raw):
            return node
    position = entry.member.needs.index(need) if need in entry.member.needs else -1
    return nodes[position] if 0 <= position < len(nodes) else entry.node


def _check_needs(entry: Placed, by_name: Mapping[str, Placed]) -> None:
    for need in entry.member.needs:
        if need in by_name:
            continue
        where = _need_node(entry, need)
        hint = did_you_mean(need, by_name)
        raise where.error(f"{entry.path}.{entry.needs_key}", f"unknown member {need!r}{hint}")


def _check_pool(entry: Placed, pools: Mapping[str, int]) -> None:
    pool = entry.member.pool
    if pool is None or pool in pools:
        return
    where = entry.node.get("pool") or entry.node
    known = f"; declared pools: {', '.join(sorted(pools))}" if pools else "; no pools are declared"
    hint = did_you_mean(pool, pools) or known
    raise where.error(f"{entry.path}.pool", f"pool {pool!r} is not declared under 'pools'{hint}")


def _check_cycles(placed: Sequence[Placed], by_name: Mapping[str, Placed]) -> None:
    """Depth-first search in file order; the first back edge found is the cycle shown."""
    done: set[str] = set()
    for entry in placed:
        if entry.member.name not in done:
            _search_from(entry.member.name, by_name, done)


def _search_from(start: str, by_name: Mapping[str, Placed], done: set[str]) -> None:
    path: list[str] = [start]
    on_path = {start: 0}
    pending = [iter(by_name[start].member.needs)]
    while pending:
        need = next(pending[-1], None)
        if need is None:
            finished = path.pop()
            del on_path[finished]
            done.add(finished)
            pending.pop()
            continue
        if need in on_path:
            cycle = [*path[on_path[need] :], need]
            raise CycleError(cycle, _need_node(by_name[path[-1]], need).location)
        if need not in done:
            on_path[need] = len(path)
            path.append(need)
            pending.append(iter(by_name[need].member.needs))
