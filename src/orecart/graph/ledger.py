"""The graph ledger: "this member already did its work here", read from the graph's log nodes.

With a graph configured the ledger is the graph itself, so the answer follows the data: a
new or wiped database holds no ``:_PipelineLogNode`` and everything runs again; a restored
backup holds the log nodes of what it contains and only the rest runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orecart.graph.connect import GraphConnection
from orecart.graph.runlog import NODE_LABEL, as_utc
from orecart.model import MemberRun, MemberStatus

# The latest member run per member that actually ran (skipped and cancelled ones did not),
# counted only when it succeeded: a later failure or a run cut off mid-way (still "running")
# may have undone the success before it. Nodes without started_at sort last.
_SUCCESSES = f"""
MATCH (n:`{NODE_LABEL}`)
WHERE n.pipeline = $pipeline AND n.member IS NOT NULL AND n.status IN $ran
WITH n ORDER BY n.started_at IS NULL, n.started_at DESC, n.run_id DESC
WITH n.member AS member, collect(n)[0] AS latest
WHERE latest.status = 'succeeded'
RETURN properties(latest) AS node
"""
_RAN = ["succeeded", "failed", "errored", "aborted", "running"]


class GraphLedger:
    """The Ledger protocol over ``:_PipelineLogNode``s: the latest success per member."""

    def __init__(self, conn: GraphConnection) -> None:
        self.conn = conn

    def successes(self, pipeline: str) -> Mapping[str, MemberRun]:
        """Latest succeeded member run per member of ``pipeline``. Raises GraphError."""
        rows = self.conn.read(_SUCCESSES, pipeline=pipeline, ran=_RAN)
        runs = (member_run_from_node(row["node"]) for row in rows)
        return {run.member: run for run in runs}


def member_run_from_node(node: Mapping[str, Any]) -> MemberRun:
    """Map a ``:_PipelineLogNode``'s properties back onto a MemberRun."""
    delta = node.get("delta")
    exit_code = node.get("exit_code")
    return MemberRun(
        run_id=str(node["run_id"]),
        member=str(node["member"]),
        status=MemberStatus(node["status"]),
        attempts=int(node.get("attempts") or 0),
        exit_code=int(exit_code) if exit_code is not None else None,
        error=node.get("error"),
        reason=node.get("reason"),
        fingerprint=node.get("fingerprint"),
        image=node.get("image"),
        digest=node.get("digest"),
        started_at=from_graph_time(node.get("started_at")),
        finished_at=from_graph_time(node.get("finished_at")),
        delta=json.loads(delta) if isinstance(delta, str) else None,
    )


def from_graph_time(value: Any) -> datetime | None:
    """A Neo4j DateTime (or an ISO string) as a tz-aware UTC datetime."""
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return as_utc(value)
