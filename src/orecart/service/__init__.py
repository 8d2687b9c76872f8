"""The facade the CLI (and the API) call.

- ``Service`` (``core``): long-lived, built once from a frozen ``ServiceConfig``; it owns the
  state store, executors and graph connections, queues requests and runs them
  (``orecart serve`` keeps one alive; ``orecart run`` builds one in-process).
- ``Tools`` (``tools``): one-shot calls over a pipeline file: load, plan, history, images,
  the graph; ``Tools.run`` is the in-process service of ``orecart run``.

``core`` (the runner, executors, recorder) loads when one of its names is first used, so
a history command that needs only ``Tools`` does not import what running needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orecart.service.requests import (
    Outcome,
    RunDetail,
    RunOptions,
    RunRequest,
    Submitted,
)
from orecart.service.tools import (
    Source,
    Tools,
    home_dir,
    orecart_version,
    runs_dir,
    with_pull,
)

if TYPE_CHECKING:
    from orecart.service.core import OnePipeline, Service, ServiceConfig

_CORE = frozenset({"OnePipeline", "Service", "ServiceConfig"})


def __getattr__(name: str) -> Any:
    if name in _CORE:
        from orecart.service import core

        return getattr(core, name)
    raise AttributeError(f"module 'orecart.service' has no attribute {name!r}")

__all__ = [
    "OnePipeline",
    "Outcome",
    "RunDetail",
    "RunOptions",
    "RunRequest",
    "Service",
    "ServiceConfig",
    "Source",
    "Submitted",
    "Tools",
    "home_dir",
    "orecart_version",
    "runs_dir",
    "with_pull",
]
