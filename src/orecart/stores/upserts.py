"""Inserts that replace: the dialect's ``INSERT ... ON CONFLICT DO UPDATE``, each statement
shape built once and then run with parameters (saving rows sits on the runner's hot path).

SQLite and PostgreSQL spell it the same in SQLAlchemy, from their own dialect modules; the
one in use is imported only when a store opens. A run is replaced with one rule of its own:
the queue's fields (its key, labels, when it was queued and when a cancel was asked) are
kept when the new record leaves them empty, so the runner's record of a queued run need
not carry them, and can never wipe a cancel asked while it ran.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orecart.model import RunStatus
from orecart.stores.schema import runs

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

    _Insert = postgresql.Insert | sqlite.Insert

_INSERTS: dict[str, str] = {
    "sqlite": "sqlalchemy.dialects.sqlite",
    "postgresql": "sqlalchemy.dialects.postgresql",
}
#: Columns of ``runs`` that belong to the queue: a save that leaves them empty keeps them.
QUEUE_FIELDS = ("key", "labels", "queued_at", "cancel_requested_at")
Values = dict[str, Any] | list[dict[str, Any]]


def _insert_of(dialect: str) -> Callable[[sa.Table], _Insert] | None:
    """The dialect's INSERT with ON CONFLICT, imported only for the dialect in use."""
    module = _INSERTS.get(dialect)
    return importlib.import_module(module).insert if module else None


class Upserts:
    """The upserts of one dialect. ``Upserts.of(dialect)`` (None: not SQLite nor
    PostgreSQL) -> ``row(...)`` for any table, ``run(...)`` for a run."""

    def __init__(self, insert: Callable[[sa.Table], _Insert]) -> None:
        self._insert = insert
        self._built: dict[tuple[str, tuple[str, ...], tuple[str, ...], int], Any] = {}
        self._run: Any = None

    @classmethod
    def of(cls, dialect: str) -> Upserts | None:
        insert = _insert_of(dialect)
        return cls(insert) if insert is not None else None

    def insert(self, table: sa.Table) -> _Insert:
        """The dialect's INSERT of ``table``, for statements with their own ON CONFLICT."""
        return self._insert(table)

    def row(
        self,
        connection: Connection,
        table: sa.Table,
        values: Values,
        keys: Sequence[str],
        where: sa.ColumnElement[bool] | None = None,
    ) -> None:
        """Insert or update ``values`` (one row, or many of one shape in one statement);
        ``where``: update only rows where it holds. It must be a constant clause (binding
        no values): statements are kept by their shape and its identity."""
        columns = tuple(values if isinstance(values, dict) else values[0])
        shape = (table.name, columns, tuple(keys), id(where))
        statement = self._built.get(shape)
        if statement is None:
            statement = self._built[shape] = self._statement(table, columns, shape[2], where)
        connection.execute(statement, values)

    def run(self, connection: Connection, values: dict[str, Any]) -> bool:
        """Insert or replace the ``runs`` row ``values``, keeping its queue fields; False
        when the row is ``aborted`` already (then it stays as it is)."""
        if self._run is None:
            self._run = self._run_statement()
        return connection.execute(self._run, values).first() is not None

    def _statement(
        self,
        table: sa.Table,
        columns: tuple[str, ...],
        keys: tuple[str, ...],
        where: sa.ColumnElement[bool] | None,
    ) -> Any:
        statement = self._insert(table)
        changes = {name: statement.excluded[name] for name in columns if name not in keys}
        return statement.on_conflict_do_update(
            index_elements=list(keys), set_=changes, where=where
        )

    def _run_statement(self) -> Any:
        statement = self._insert(runs)
        new = statement.excluded
        changes: dict[str, Any] = {c.name: new[c.name] for c in runs.columns if c.name != "id"}
        for name in QUEUE_FIELDS:
            changes[name] = sa.func.coalesce(new[name], runs.c[name])
        changes["origin"] = sa.case((new["origin"] == "", runs.c.origin), else_=new["origin"])
        # a run recovery aborted (its lock expired, another serve took it over) is final:
        # the later writes of the serve that lost it change nothing (no row returned;
        # rowcount is not told by every driver)
        aborted = runs.c.status == str(RunStatus.ABORTED)
        return statement.on_conflict_do_update(
            index_elements=["id"], set_=changes, where=sa.not_(aborted)
        ).returning(runs.c.id)
