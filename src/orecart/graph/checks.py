"""Cypher assertions about the graph: post-checks (``checks:``) and ``complete_when``.

A check is a query returning one row with one value that must equal ``expect``. Both entry
points turn every problem (wrong value, wrong shape, a query that fails) into a value the
caller records; nothing raises, because a graph that cannot be checked is simply not good.
Checks run in read transactions, so a check cannot change the graph it judges.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orecart.graph.connect import GraphConnection
from orecart.model import Check, CheckResult


@dataclass(frozen=True)
class Completion:
    """The verdict of a ``complete_when`` query: ``done`` and, when not done, why.

    Truthy exactly when ``done``, so ``if complete(conn, q):`` reads naturally, while the
    planner can still print ``reason`` ("complete_when returned false", "... failed: ...").
    """

    done: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.done


def run_checks(conn: GraphConnection, checks: Sequence[Check]) -> list[str]:
    """Run each check; return one human message per failing check (empty: all passed)."""
    return [found.message for found in judge_checks(conn, checks) if not found.passed]


def judge_checks(
    conn: GraphConnection, checks: Sequence[Check], member: str | None = None
) -> list[CheckResult]:
    """Run each check; how each went, passed or not (``member``: whose post-checks)."""
    found: list[CheckResult] = []
    for check in checks:
        problem = _judge(conn, check.query, check.expect)
        message = f"check {check.name!r} failed: {problem}" if problem else (
            f"returned {show(check.expect)}")
        found.append(CheckResult(check.name, not problem, message, member))
    return found


def complete(conn: GraphConnection, query: str) -> Completion:
    """Evaluate ``complete_when``: done only when it returns exactly one ``true``."""
    problem = _judge(conn, query, True)
    if problem:
        return Completion(False, f"complete_when: {problem}")
    return Completion(True)


def _judge(conn: GraphConnection, query: str, expect: Any) -> str:
    """Why ``query`` does not return the single value ``expect``; "" when it does."""
    try:
        rows = conn.read(query)
    except Exception as exc:  # GraphError, or anything a broken query may raise
        return f"query error: {_first_line(exc)}"
    if len(rows) != 1 or len(rows[0]) != 1:
        return f"returned {_shape(rows)}, expected one row with one value"
    value = next(iter(rows[0].values()))
    if not same_value(value, expect):
        return f"got {show(value)}, expected {show(expect)}"
    return ""


def same_value(value: Any, expect: Any) -> bool:
    """Equality without Python's ``True == 1``: a boolean only ever equals a boolean."""
    if isinstance(value, bool) or isinstance(expect, bool):
        return isinstance(value, bool) and isinstance(expect, bool) and value is expect
    return bool(value == expect)


def show(value: Any) -> str:
    """A value the way Cypher prints it: true, 0, "x", null."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _shape(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "no rows"
    if len(rows) > 1:
        return f"{len(rows)} rows"
    return f"one row with {len(rows[0])} values"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
