"""Neo4j: connection, env handover, backups, status (part A); log nodes, ledger, checks,
snapshots and diffs (part B)."""

from __future__ import annotations

from orecart.graph.backup import (
    BackupInfo,
    backup,
    backup_path,
    prune_backups,
    read_header,
    restore,
)
from orecart.graph.checks import Completion, complete, run_checks
from orecart.graph.connect import GraphConnection, ServerInfo, graph_errors, graph_from_env
from orecart.graph.diff import MemberChange, compare_runs, member_changes
from orecart.graph.guard import GraphGuard
from orecart.graph.handover import SECRET_NAMES, graph_env, py2neo_settings
from orecart.graph.ledger import GraphLedger
from orecart.graph.runlog import GraphRunLog, ensure_schema
from orecart.graph.schema import wipe
from orecart.graph.snapshot import Snapshot, delta, take_snapshot
from orecart.graph.status import GraphStatus, RunSummary, graph_status

__all__ = [
    "GraphConnection",
    "ServerInfo",
    "graph_errors",
    "graph_from_env",
    "SECRET_NAMES",
    "graph_env",
    "py2neo_settings",
    "BackupInfo",
    "backup",
    "backup_path",
    "prune_backups",
    "read_header",
    "restore",
    "wipe",
    "GraphStatus",
    "RunSummary",
    "graph_status",
    "Completion",
    "GraphGuard",
    "GraphLedger",
    "GraphRunLog",
    "MemberChange",
    "Snapshot",
    "compare_runs",
    "complete",
    "delta",
    "ensure_schema",
    "member_changes",
    "run_checks",
    "take_snapshot",
]
