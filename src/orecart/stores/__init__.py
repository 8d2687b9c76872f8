"""The state store: run history, the store-backed ledger, the pipeline lock and pool leases.

One SQLAlchemy implementation (``orecart.stores.sql.SqlStore``) serves SQLite and
PostgreSQL; ``open_store(url)`` picks it by URL scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orecart.model import Attempt, MemberRun, Run


@dataclass(frozen=True)
class Holder:
    """Who holds a lock or lease: a run, in a process on a host."""

    run_id: str
    pid: int
    host: str
    member: str = ""


class RunLog(Protocol):
    """Writes and reads the run history."""

    def save_run(self, run: Run) -> None: ...
    def save_member_run(self, member_run: MemberRun) -> None: ...
    def save_attempt(self, attempt: Attempt) -> None: ...
    def add_event(self, run_id: str, kind: str, data: Mapping[str, Any]) -> None: ...
    def runs(self, pipeline: str | None = None, limit: int = 20) -> list[Run]: ...
    def get_run(self, run_id: str) -> Run: ...
    def member_runs(self, run_id: str) -> list[MemberRun]: ...


class Ledger(Protocol):
    """Decides "this member already did its work here": its latest success per member."""

    def successes(self, pipeline: str) -> Mapping[str, MemberRun]: ...


class Locks(Protocol):
    """The per-pipeline run lock and the pool leases; a dead holder's entries are reclaimed."""

    def lock(self, pipeline: str, holder: Holder) -> None: ...
    def unlock(self, pipeline: str, holder: Holder) -> None: ...
    def lease(self, pool: str, limit: int, holder: Holder) -> bool: ...
    def release(self, pool: str, holder: Holder) -> None: ...


STORES: dict[str, str] = {
    "sqlite": "orecart.stores.sql:SqlStore",
    "postgresql": "orecart.stores.sql:SqlStore",
}
