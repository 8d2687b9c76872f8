"""Neo4j: connection, env handover, backups, status (part A); log nodes, ledger, checks,
snapshots and diffs (part B).

Import what you need from its module (``orecart.graph.backup``, ``.connect``, ...): the
package itself imports nothing, so a command that only needs the trigger patterns or the
handover names does not load the Neo4j driver."""
