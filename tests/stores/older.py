"""Databases of older revisions, made from a head database by hand: what each revision
after them added, as the SQL that takes it away again."""

from __future__ import annotations

#: Takes a head database back to revision 0010: no leaders, no index of runs by status.
UNDO_0011 = (
    "DROP INDEX ix_runs_status",
    "DROP TABLE leaders",
    "UPDATE alembic_version SET version_num = '0010'",
)

#: Takes a head database back to revision 0009: no waits, no check results.
UNDO_0010 = (
    *UNDO_0011,
    *(f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in (
        ("runs", "checks"), ("member_runs", "waited_at"), ("member_runs", "waited_for"),
        ("member_runs", "checks"), ("attempts", "waited_at"), ("attempts", "waited_for"))),
    "UPDATE alembic_version SET version_num = '0009'",
)

#: Takes a head database back to revision 0008: no callback deliveries.
UNDO_0009 = (
    *UNDO_0010,
    "DROP INDEX ix_callback_deliveries_due",
    "DROP TABLE callback_deliveries",
    "UPDATE alembic_version SET version_num = '0008'",
)

#: Takes a head database back to revision 0007: no API tokens, no run labels.
UNDO_0008 = (
    *UNDO_0009,
    "DROP INDEX ix_runs_queued",
    "DROP INDEX ix_run_labels_name_value",
    "DROP TABLE run_labels",
    "DROP TABLE api_tokens",
    "UPDATE alembic_version SET version_num = '0007'",
)

#: Takes a head database back to revision 0006: no trigger cursors, no firings.
UNDO_0007 = (
    *UNDO_0008,
    "DROP INDEX ix_trigger_firings_params",
    "DROP INDEX ix_trigger_firings_due",
    "DROP INDEX ux_trigger_firings_element",
    "DROP TABLE trigger_firings",
    "DROP TABLE trigger_cursors",
    "UPDATE alembic_version SET version_num = '0006'",
)

#: Takes a head database back to revision 0005: no executions of stored queries.
UNDO_0006 = (
    *UNDO_0007,
    "DROP INDEX ix_query_runs_query",
    "DROP TABLE query_runs",
    "UPDATE alembic_version SET version_num = '0005'",
)

#: Takes a head database back to revision 0004: no sensors, no source versions.
UNDO_0005 = (
    *UNDO_0006,
    "DROP INDEX ix_source_versions_position",
    "DROP TABLE source_versions",
    "DROP TABLE sensors",
    "UPDATE alembic_version SET version_num = '0004'",
)

#: Takes a head database back to revision 0003: no queue columns, requests or services.
UNDO_0004 = (
    *UNDO_0005,
    "DROP TABLE requests",
    "DROP TABLE services",
    "DROP INDEX ix_runs_pipeline_key",
    *(f"ALTER TABLE runs DROP COLUMN {column}"
      for column in ("key", "origin", "labels", "queued_at", "cancel_requested_at")),
    "UPDATE alembic_version SET version_num = '0003'",
)
