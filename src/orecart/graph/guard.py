"""The graph guard: snapshots around writing members, and their post-checks.

Call outline (from the member run's worker thread, see ``orecart.guards``):
``before(task)`` -> snapshot when the member writes to the graph, else None -> the attempt
runs -> ``after(task, token, result)`` -> post-checks on success -> after-snapshot and
``delta`` -> the result to record.

A member "writes" when its pool starts with ``neo4j`` (the convention ``neo4j-write: 1``)
or it sets ``snapshot: true``. Graph trouble never raises out of the guard: a graph that
cannot be checked or measured is not a success, so a succeeded result becomes ``failed``
with the reason, and a result that already failed keeps its own error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from orecart.errors import GraphError
from orecart.graph.checks import judge_checks
from orecart.graph.connect import GraphConnection
from orecart.graph.snapshot import Snapshot, delta, take_snapshot
from orecart.model import Member, MemberStatus, Pipeline, Result, Task
from orecart.secrets import Redactor


@dataclass(frozen=True)
class SnapshotFailed:
    """The token ``before`` returns when the before-snapshot could not be taken."""

    reason: str


def writes_graph(member: Member) -> bool:
    """True when the member is expected to change the graph, so it gets a snapshot."""
    return member.snapshot or (member.pool or "").startswith("neo4j")


class GraphGuard:
    """A MemberGuard that snapshots writing members and runs their post-checks."""

    def __init__(self, conn: GraphConnection, pipeline: Pipeline) -> None:
        self.conn = conn
        self.pipeline = pipeline

    def before(self, task: Task) -> Snapshot | SnapshotFailed | None:
        if not writes_graph(task.member):
            return None
        try:
            return take_snapshot(self.conn, self._keys())
        except GraphError as exc:
            return SnapshotFailed(f"graph snapshot before the member ran failed: {exc}")

    def after(self, task: Task, token: object, result: Result) -> Result:
        problems: list[str] = []
        if result.status is MemberStatus.SUCCEEDED and task.member.checks:
            checks = judge_checks(self.conn, task.member.checks, task.member.name)
            redact = Redactor(task.secrets)  # a value the graph holds may be one of them
            checks = [dataclasses.replace(c, message=redact(c.message)) for c in checks]
            result = dataclasses.replace(result, checks=tuple(checks))
            problems += [check.message for check in checks if not check.passed]
        if isinstance(token, SnapshotFailed):
            problems.append(token.reason)
        elif isinstance(token, Snapshot):
            change, problem = self._delta(token)
            result = dataclasses.replace(result, delta=change) if change is not None else result
            problems += [problem] if problem else []
        return _fail(result, problems)

    def _delta(self, before: Snapshot) -> tuple[dict[str, object] | None, str]:
        try:
            return delta(before, take_snapshot(self.conn, self._keys())), ""
        except GraphError as exc:
            return None, f"graph snapshot after the member ran failed: {exc}"

    def _keys(self) -> dict[str, str] | None:
        return dict(self.pipeline.keys) or None


def _fail(result: Result, problems: list[str]) -> Result:
    """Turn a succeeded result with problems into ``failed``; leave other results be."""
    if not problems or result.status is not MemberStatus.SUCCEEDED:
        return result
    return dataclasses.replace(result, status=MemberStatus.FAILED, error="; ".join(problems))
