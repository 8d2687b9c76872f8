"""orecart: run data loaders as one dependency-ordered pipeline that fills a Neo4j graph,
and keep an exact record of what ran, which version, with which configuration.

The public API is what ``__all__`` names; the CLI and the REST API are built on
``Service``. Names are imported on first use, so ``import orecart.model`` (or the reaper
process, ``python -m orecart.executors.reaper``) does not pay for the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orecart.errors import (
        CycleError,
        ExecutorError,
        GraphError,
        LockedError,
        NotFoundError,
        OrecartError,
        SelectionError,
        SpecError,
        StateError,
        UsageError,
    )
    from orecart.model import (
        Member,
        MemberRun,
        MemberStatus,
        Pipeline,
        ReasonCode,
        Run,
        RunStatus,
    )
    from orecart.planner import Decision, Plan, Selection, plan
    from orecart.service import Outcome, RunOptions, Service, Source, Tools
    from orecart.spec import load_pipeline, pipeline_schema

_WHERE = {
    "orecart.errors": (
        "CycleError ExecutorError GraphError LockedError NotFoundError OrecartError "
        "SelectionError SpecError StateError UsageError"
    ),
    "orecart.model": "Member MemberRun MemberStatus Pipeline ReasonCode Run RunStatus",
    "orecart.planner": "Decision Plan Selection plan",
    "orecart.service": "Outcome RunOptions Service Source Tools",
    "orecart.spec": "load_pipeline pipeline_schema",
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names.split()}

__all__ = [
    "CycleError",
    "Decision",
    "ExecutorError",
    "GraphError",
    "LockedError",
    "Member",
    "MemberRun",
    "MemberStatus",
    "NotFoundError",
    "OrecartError",
    "Outcome",
    "Pipeline",
    "Plan",
    "ReasonCode",
    "Run",
    "RunOptions",
    "RunStatus",
    "SelectionError",
    "Selection",
    "Service",
    "Source",
    "SpecError",
    "StateError",
    "Tools",
    "UsageError",
    "__version__",
    "load_pipeline",
    "pipeline_schema",
    "plan",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from orecart.service import orecart_version

        return orecart_version()
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orecart' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
