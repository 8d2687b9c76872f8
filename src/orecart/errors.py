"""The errors orecart raises, all under one root.

Failures of loaders are values (a member run with status ``failed`` or ``errored``), never
exceptions. Exceptions are for bad input, unreachable infrastructure and bugs, and foreign
exceptions (yaml, sqlalchemy, neo4j, docker) are translated where they enter.

    OrecartError
    ├── SpecError            a pipeline file is invalid (carries file, line, column)
    │   └── CycleError       the members' needs form a cycle (carries the cycle)
    ├── SelectionError       --only/--from/--skip name members that do not exist
    ├── UsageError           an option or environment value is invalid (a --state URL)
    ├── ConflictError        a request the run's state forbids (cancel an ended run)
    ├── StateError           the state store cannot be opened, read or written
    │   ├── LockedError      another run of the same pipeline holds the lock
    │   ├── NotFoundError    a run id (or prefix) names no run
    │   └── NotAStoreError   an existing file is not an orecart state database
    ├── ExecutorError        an executor cannot be created or reached
    ├── GraphError           the Neo4j graph cannot be reached or queried
    └── SensorError          a sensor's source cannot be read (git remote, URL, files)
"""

from __future__ import annotations

from dataclasses import dataclass


class OrecartError(Exception):
    """Root of every error orecart raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where in a pipeline file something stands (1-based line and column)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(OrecartError):
    """A pipeline file is invalid; the message names file, line, column and field."""

    def __init__(self, message: str, location: Location | None = None, field: str = "") -> None:
        self.message = message
        self.location = location
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class CycleError(SpecError):
    """The needs of some members form a cycle."""

    def __init__(self, cycle: list[str], location: Location | None = None) -> None:
        self.cycle = cycle
        super().__init__("members form a cycle: " + " -> ".join(cycle), location, "needs")


class SelectionError(OrecartError):
    """A selection (--only, --from, --skip) names a member the pipeline does not have."""


class UsageError(OrecartError):
    """An option or environment value is invalid: bad input outside any pipeline file."""


class ConflictError(OrecartError):
    """A request the state it meets forbids: cancel a run that ended, retry one that
    has not (the API answers 409)."""


class StateError(OrecartError):
    """The state store cannot be opened, read or written."""


class LockedError(StateError):
    """Another run of the same pipeline holds its lock."""

    def __init__(self, pipeline: str, run_id: str, pid: int, host: str) -> None:
        self.pipeline, self.run_id, self.pid, self.host = pipeline, run_id, pid, host
        super().__init__(
            f"pipeline {pipeline!r} is locked by run {run_id} (pid {pid} on host {host})"
        )


class TakenOverError(StateError):
    """Another serve took over a run's lock (or lease) after it expired and aborted the run:
    the run's later writes are refused, and the run ends aborted with this message."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(LOST_LOCK)


#: Why a run whose lock another serve took over ends aborted.
LOST_LOCK = "lost its lock: another serve took it over"


class NotFoundError(StateError):
    """A run id or prefix names no run."""


class NotAStoreError(StateError):
    """An existing file (0 bytes, garbage, another application's database) is not an
    orecart state database; it is left untouched."""


class ExecutorError(OrecartError):
    """An executor cannot be created or reached."""


class GraphError(OrecartError):
    """The Neo4j graph cannot be reached or queried."""


class SensorError(OrecartError):
    """A sensor's source could not be read this tick: recorded and shown, never fatal."""
