"""Where member runs execute: the Executor protocol and the registry of executors by name.

An executor runs one attempt of one member run and hands back a ``Future`` of a ``Result``.
It never raises for a loader's failure (that is a result) and never touches the state
store: the runner records everything. ``Task`` and ``Result`` are the model's
(``orecart.model``); they are imported here too because the protocol speaks them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from orecart.errors import ExecutorError
from orecart.model import Member, Result, Task

__all__ = [
    "EXECUTORS",
    "Executor",
    "OutputSink",
    "Preparing",
    "Result",
    "Task",
    "load_executor",
]

#: Called with (member name, one line of output, without its newline), from any thread.
OutputSink = Callable[[str, str], None]


class Executor(Protocol):
    """Runs member runs. Implementations: local (processes), docker and dask (a cluster)."""

    def submit(self, task: Task, output: OutputSink) -> Future[Result]:
        """Start one attempt; the future always completes with a Result, never an exception."""
        ...

    def resolve(self, member: Member) -> str | None:
        """The identity of what will run (an image digest), or None when there is none."""
        ...

    def abort(self, run_id: str | None = None) -> None:
        """Stop everything in flight now (of run ``run_id`` only, when given); their
        futures complete with status aborted."""
        ...

    def close(self) -> None:
        """Release resources; called once after the run."""
        ...


@runtime_checkable
class Preparing(Protocol):
    """An executor that can get a member run ready before it is started (the docker one
    creates its container). The runner calls ``prepare`` for first attempts likely to start
    soon: ready ones waiting for a slot, and those whose remaining needs are all running.
    It is a hint: nothing may be pulled or run, and ``submit`` of the same task uses it.
    A member that will not start after all (cancelled) is ``discard``ed: its preparation is
    undone then (and by ``close`` in any case)."""

    def prepare(self, task: Task) -> None: ...

    def discard(self, task: Task) -> None: ...


EXECUTORS: dict[str, str] = {
    "local": "orecart.executors.local:LocalExecutor",
    "docker": "orecart.executors.docker:DockerExecutor",
    "dask": "orecart.executors.dask:DaskExecutor",
}


def load_executor(name: str, **options: Any) -> Executor:
    """Create the executor registered under ``name``, importing its module only now."""
    try:
        target = EXECUTORS[name]
    except KeyError:
        known = ", ".join(sorted(EXECUTORS))
        raise ExecutorError(f"unknown executor {name!r}; known: {known}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ExecutorError(f"executor {name!r} is not available: {exc}") from exc
    executor: Executor = getattr(module, class_name)(**options)
    return executor
