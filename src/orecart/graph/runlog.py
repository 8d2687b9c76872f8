"""The run log in the graph: one ``:_PipelineLogRun`` per run, one ``:_PipelineLogNode`` per
member run, linked ``(:_PipelineLogRun)-[:_HAS_MEMBER_RUN]->(:_PipelineLogNode)``.

The labels are Motherlode's (``MATCH (n:`_PipelineLogNode`) RETURN n`` keeps working for
people used to it). The log lives in the graph it describes, so a wiped or restored database
carries exactly the record of what it holds; ``orecart.graph.ledger`` reads it back.

Call outline: ``ensure_schema`` once -> ``emit(RunStarted)`` -> ``emit(MemberFinished)`` per
member run, each written in its own transaction as it finishes (a crash loses at most the
members in flight) -> ``emit(RunFinished)`` rewrites the run node with its final status.

Secrets: events reach this sink already redacted; on top of that every string is passed
through a redactor built from the pipeline's own secret values, and no env is ever written.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from orecart.errors import GraphError
from orecart.events import Event, MemberFinished, MemberStarted, RunFinished, RunStarted
from orecart.graph.connect import GraphConnection
from orecart.model import MemberRun, Pipeline, Run
from orecart.secrets import Redactor, known_secrets

RUN_LABEL = "_PipelineLogRun"
NODE_LABEL = "_PipelineLogNode"
HAS_MEMBER_RUN = "_HAS_MEMBER_RUN"

#: Idempotent schema: the run id is unique; a member run is unique per (run_id, member) so a
#: re-emitted event MERGEs onto the same node; the ledger looks member runs up by pipeline.
SCHEMA = (
    f"CREATE CONSTRAINT orecart_log_run_id IF NOT EXISTS "
    f"FOR (r:`{RUN_LABEL}`) REQUIRE r.id IS UNIQUE",
    f"CREATE CONSTRAINT orecart_log_member_run IF NOT EXISTS "
    f"FOR (n:`{NODE_LABEL}`) REQUIRE (n.run_id, n.member) IS UNIQUE",
    f"CREATE INDEX orecart_log_node_pipeline IF NOT EXISTS "
    f"FOR (n:`{NODE_LABEL}`) ON (n.pipeline, n.member)",
)

_RUN = f"""
MERGE (r:`{RUN_LABEL}` {{id: $run_id}})
SET r += $props
"""

# The run node is MERGEd too, so a member run is linked even when its RunStarted was lost.
_MEMBER_FINISHED = f"""
MERGE (r:`{RUN_LABEL}` {{id: $run_id}})
  ON CREATE SET r.pipeline = $pipeline, r.status = 'running'
MERGE (n:`{NODE_LABEL}` {{run_id: $run_id, member: $member}})
SET n += $props
MERGE (r)-[:`{HAS_MEMBER_RUN}`]->(n)
"""

#: Called with every write failure when the log is used as an event sink.
ErrorHandler = Callable[[GraphError], None]


def ensure_schema(conn: GraphConnection) -> None:
    """Create the log's constraints and index unless they exist (safe to call every run).
    Managed write transactions, so two runs starting at once on one graph (their schema
    locks deadlock: a transient error) are retried by the driver instead of failing."""
    for statement in SCHEMA:
        conn.write(statement)


def orecart_version() -> str:
    """orecart's installed version, or "unknown" when running from an uninstalled tree."""
    try:
        return metadata.version("orecart")
    except metadata.PackageNotFoundError:
        return "unknown"


class GraphRunLog:
    """An EventSink that mirrors runs and member runs into the graph as log nodes.

    ``emit`` never raises (the EventSink contract): a write failure is translated into a
    ``GraphError``, kept in ``failures`` and handed to ``on_error`` when one is given, so the
    runner decides whether a graph without its log is worth stopping for. Callers that want
    the exception call ``record_run`` or ``record_member_run`` directly.
    """

    def __init__(
        self,
        conn: GraphConnection,
        pipeline: Pipeline,
        *,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.conn = conn
        self.pipeline = pipeline
        self.on_error = on_error
        self.failures: list[GraphError] = []
        self._redact = Redactor(known_secrets(pipeline))

    def emit(self, event: Event) -> None:
        try:
            if isinstance(event, RunStarted | RunFinished):
                self.record_run(event.run)
            elif isinstance(event, MemberStarted | MemberFinished):
                self.record_member_run(event.member_run)  # a crash leaves it "running"
        except GraphError as exc:
            self.failures.append(exc)
            if self.on_error is not None:
                self.on_error(exc)

    def record_run(self, run: Run) -> None:
        """Write the run's node as it stands now (started, or finished). Raises GraphError."""
        self.conn.write(_RUN, run_id=run.id, props=self._run_props(run))

    def record_member_run(self, member_run: MemberRun) -> None:
        """Write one member run's node, linked to its run, in one transaction. Raises GraphError."""
        self.conn.write(
            _MEMBER_FINISHED,
            run_id=member_run.run_id,
            member=member_run.member,
            pipeline=self.pipeline.name,
            props=self._member_props(member_run),
        )

    def _run_props(self, run: Run) -> dict[str, Any]:
        return {
            "pipeline": run.pipeline or self.pipeline.name,
            "status": str(run.status),
            "params": json.dumps(
                {k: self._redact(v) for k, v in run.params.items()}, sort_keys=True
            ),
            "profile": run.profile,
            "source": run.source or str(self.pipeline.source),
            "started_at": as_utc(run.started_at),
            "finished_at": as_utc(run.finished_at),
            "orecart_version": run.version or orecart_version(),
            "host": run.host or socket.gethostname(),
            "error": self._redact(run.error) if run.error else None,  # why it was aborted
        }

    def _member_props(self, mr: MemberRun) -> dict[str, Any]:
        # None values remove a property (SET n += map), so a re-emit leaves no stale fields.
        return {
            "pipeline": self.pipeline.name,
            "status": str(mr.status),
            "exit_code": mr.exit_code,
            "image": mr.image,
            "tag": image_tag(mr.image),
            "digest": mr.digest,
            "fingerprint": mr.fingerprint,
            "attempts": mr.attempts,
            "started_at": as_utc(mr.started_at),
            "finished_at": as_utc(mr.finished_at),
            "duration": mr.duration,
            "error": self._text(mr.error),
            "reason": self._text(mr.reason),
            "delta": self._json(mr.delta),
        }

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self._redact(value)

    def _json(self, value: Mapping[str, Any] | None) -> str | None:
        # ensure_ascii=False keeps a secret's text as it is, so the redactor still finds it.
        if value is None:
            return None
        return self._redact(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False))


def as_utc(value: datetime | None) -> datetime | None:
    """A tz-aware UTC datetime (naive values are taken as UTC), stored as a Neo4j DateTime."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def image_tag(image: str | None) -> str | None:
    """The tag of ``name[:tag][@digest]``; "latest" when only a name is given."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return None if "@" in image else "latest"
