"""The facade the CLI (and the API) call.

- ``Service`` (``core``): long-lived, built once from a frozen ``ServiceConfig``; it owns the
  state store, executors and graph connections, queues requests and runs them
  (``orecart serve`` keeps one alive; ``orecart run`` builds one in-process).
- ``Tools`` (``tools``): one-shot calls over a pipeline file: load, plan, history, images,
  the graph; ``Tools.run`` is the in-process service of ``orecart run``.
"""

from orecart.service.core import OnePipeline, Service, ServiceConfig
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
