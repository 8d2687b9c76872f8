"""What runs changed in the graph, from recorded member runs alone (no database needed).

Each member run that had a snapshot carries its ``delta`` (see ``orecart.graph.snapshot``);
these pure functions sum and compare those deltas, so ``orecart diff`` works on the state
store or the log nodes long after the graph moved on. Results are plain frozen dataclasses
and dicts of JSON types, for a Rich table and ``--json`` alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orecart.model import MemberRun

#: The fields ``compare_runs`` compares for each member.
MEMBER_FIELDS = ("status", "digest", "fingerprint")


@dataclass(frozen=True)
class MemberChange:
    """What one member run changed: count changes per label and type, keys added/removed."""

    member: str
    run_id: str
    status: str
    nodes: Mapping[str, int] = field(default_factory=dict)
    relationships: Mapping[str, int] = field(default_factory=dict)
    added: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    removed: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "run_id": self.run_id,
            "status": self.status,
            "nodes": dict(self.nodes),
            "relationships": dict(self.relationships),
            "added": {k: list(v) for k, v in self.added.items()},
            "removed": {k: list(v) for k, v in self.removed.items()},
        }


def member_changes(member_runs: Sequence[MemberRun]) -> list[MemberChange]:
    """One MemberChange per member run that carries a delta, in the given order.

    Member runs without a delta (no snapshot taken, skipped, cancelled) changed nothing
    orecart can know of and are left out.
    """
    return [_change(mr, mr.delta) for mr in member_runs if mr.delta is not None]


def compare_runs(a: Sequence[MemberRun], b: Sequence[MemberRun]) -> dict[str, Any]:
    """Run ``a`` against run ``b``: summed deltas per label and type, and member changes.

    ``difference`` is ``b - a``. ``members`` lists every member of either run with its
    status, digest and fingerprint in each (None when absent) and which of them changed.
    """
    return {
        "runs": {"a": _run_id(a), "b": _run_id(b)},
        "nodes": _compare_counts(summed(a, "nodes"), summed(b, "nodes")),
        "relationships": _compare_counts(summed(a, "relationships"), summed(b, "relationships")),
        "members": _compare_members(a, b),
    }


def summed(member_runs: Iterable[MemberRun], part: str) -> dict[str, int]:
    """The sum of every member run's ``delta[part]`` ("nodes" or "relationships")."""
    totals: dict[str, int] = {}
    for mr in member_runs:
        for name, n in _counts((mr.delta or {}).get(part)).items():
            totals[name] = totals.get(name, 0) + n
    return {name: n for name, n in sorted(totals.items()) if n}


def _change(mr: MemberRun, change: Mapping[str, Any]) -> MemberChange:
    return MemberChange(
        member=mr.member,
        run_id=mr.run_id,
        status=str(mr.status),
        nodes=_counts(change.get("nodes")),
        relationships=_counts(change.get("relationships")),
        added=_keys(change.get("added")),
        removed=_keys(change.get("removed")),
    )


def _compare_counts(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, dict[str, int]]:
    names = sorted({*a, *b})
    return {
        n: {"a": a.get(n, 0), "b": b.get(n, 0), "difference": b.get(n, 0) - a.get(n, 0)}
        for n in names
    }


def _compare_members(a: Sequence[MemberRun], b: Sequence[MemberRun]) -> dict[str, Any]:
    by_a, by_b = {mr.member: mr for mr in a}, {mr.member: mr for mr in b}
    names = [*by_a, *(name for name in by_b if name not in by_a)]
    result: dict[str, Any] = {}
    for name in names:
        left, right = _fields(by_a.get(name)), _fields(by_b.get(name))
        changed = [f for f in MEMBER_FIELDS if (left or {}).get(f) != (right or {}).get(f)]
        result[name] = {"a": left, "b": right, "changed": changed}
    return result


def _fields(mr: MemberRun | None) -> dict[str, str | None] | None:
    if mr is None:
        return None
    return {"status": str(mr.status), "digest": mr.digest, "fingerprint": mr.fingerprint}


def _run_id(member_runs: Sequence[MemberRun]) -> str | None:
    ids = {mr.run_id for mr in member_runs}
    return ids.pop() if len(ids) == 1 else None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and v}


def _keys(value: Any) -> dict[str, tuple[Any, ...]]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): tuple(v) for k, v in value.items() if isinstance(v, list | tuple) and v}
