"""orecart: run data loaders as one dependency-ordered pipeline that fills a Neo4j graph,
and keep an exact record of what ran, which version, with which configuration.

The public API is what this module exports; the CLI and the REST API are built on
``Service``.
"""

from __future__ import annotations

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
)
from orecart.model import (
    Member,
    MemberRun,
    MemberStatus,
    Pipeline,
    Run,
    RunStatus,
)
from orecart.planner import Decision, Plan, Selection, plan
from orecart.service import Outcome, RunOptions, Service, Source
from orecart.service import orecart_version as _version
from orecart.spec import load_pipeline, pipeline_schema

__version__ = _version()

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
    "Run",
    "RunOptions",
    "RunStatus",
    "SelectionError",
    "Selection",
    "Service",
    "Source",
    "SpecError",
    "StateError",
    "__version__",
    "load_pipeline",
    "pipeline_schema",
    "plan",
]
