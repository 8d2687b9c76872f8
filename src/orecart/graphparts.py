"""What a run gets from its graph: the run log, member guards, pipeline checks, backups and
the handover environment, or nothing at all when the pipeline has no graph.

Graph modules are imported only here and only when a graph is configured, so runs without
one never load the Neo4j driver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orecart.errors import GraphError
from orecart.events import EventSink
from orecart.guards import MemberGuard
from orecart.model import CheckResult, Handover, Pipeline


@dataclass
class GraphParts:
    pipeline: Pipeline
    conn: Any = None  # orecart.graph.connect.GraphConnection
    sinks: list[EventSink] = field(default_factory=list)
    guards: list[MemberGuard] = field(default_factory=list)
    env: dict[Handover, dict[str, str]] = field(default_factory=dict)  # secrets: never stored
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, conn: Any, pipeline: Pipeline) -> GraphParts:
        parts = cls(pipeline, conn)
        if conn is None or pipeline.graph is None:
            return parts
        from orecart.graph.guard import GraphGuard
        from orecart.graph.handover import graph_env
        from orecart.graph.runlog import GraphRunLog

        # a graph that stops answering mid-run must not crash it: the state store still
        # records everything, and the next run judges the graph by what it holds
        parts.sinks.append(GraphRunLog(conn, pipeline, on_error=parts._note))
        parts.guards.append(GraphGuard(conn, pipeline))
        handovers = {member.handover for member in pipeline.members}
        parts.env = {handover: graph_env(pipeline.graph, handover) for handover in handovers}
        return parts

    def _note(self, error: Exception) -> None:
        self.errors.append(f"graph run log: {error}")

    @property
    def final_checks(self) -> Callable[[], list[CheckResult]] | None:
        if self.conn is None or not self.pipeline.checks:
            return None
        from orecart.graph.checks import judge_checks

        return lambda: judge_checks(self.conn, self.pipeline.checks)

    def before(self, run_id: str) -> Callable[[], tuple[str, ...]] | None:
        """The run's work on its graph before any member: the log's schema, then the
        `before` backup (the runner records both as part of the run)."""
        if self.conn is None:
            return None
        from orecart.graph.runlog import ensure_schema

        def work() -> tuple[str, ...]:
            ensure_schema(self.conn)
            return self.backup("before", run_id)

        return work

    def after(self, run_id: str) -> Callable[[], tuple[str, ...]] | None:
        """The `after` backup of a run that succeeded, if the pipeline asks for one."""
        if self.conn is None or self.pipeline.backup is None or not self.pipeline.backup.after:
            return None
        return lambda: self.backup("after", run_id)

    def backup(self, when: str, run_id: str) -> tuple[str, ...]:
        """Take the pipeline's `before` or `after` backup; the paths taken."""
        settings = self.pipeline.backup
        if self.conn is None or settings is None or not getattr(settings, when):
            return ()
        from orecart.graph.backup import backup, backup_path, prune_backups

        folder = Path(settings.dir)
        if not folder.is_absolute():
            folder = self.pipeline.base_dir.resolve() / folder
        folder = folder / self.pipeline.name  # `keep` prunes this pipeline's backups only
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = backup_path(folder, tag=f"{run_id}-{when}")
            backup(self.conn, path)
            if settings.keep:
                prune_backups(folder, settings.keep)
        except OSError as exc:
            raise GraphError(f"{when}-backup into {folder}: {exc.strerror or exc}") from exc
        return (str(path),)
