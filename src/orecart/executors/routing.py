"""Which executor each member of a run uses: a key into the run's executors.

A member's own ``executor:`` wins, then the run's (``--executor``), then the pipeline's
(``settings.executor``); without any, or with ``local``/``docker``, its kind decides
(``run``: local processes, ``image``: the docker daemon), as it always did. A ``dask``
choice without an address takes the address of the run's or the pipeline's dask choice,
else ``local`` (a LocalCluster orecart starts and owns); its ``artifacts`` mode, unless it
says one, is that of the choice whose cluster it uses (else ``copy``).

Keys: ``run`` and ``image`` for the kinds, ``dask:<artifacts>:<address>`` for a cluster,
so members that name one cluster share one executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orecart.errors import UsageError
from orecart.model import ExecutorChoice, Member

DASK = "dask"
LOCAL_CLUSTER = "local"
ARTIFACT_MODES = ("copy", "shared")
_SCHEME = "dask://"


def route(member: Member, run: ExecutorChoice | None, pipeline: ExecutorChoice | None) -> str:
    """The key of the executor ``member`` runs on."""
    choice = member.executor or run or pipeline
    if choice is None or choice.name != DASK:
        return member.kind
    fallbacks = [c for c in (choice, run, pipeline) if c is not None and c.name == DASK]
    cluster = next((c for c in fallbacks if c.address), None)  # whose cluster it runs on
    address = cluster.address if cluster else LOCAL_CLUSTER
    artifacts = choice.artifacts or (cluster.artifacts if cluster else None)
    return f"{DASK}:{artifacts or ARTIFACT_MODES[0]}:{address}"


def routes(members: Iterable[Member], run: ExecutorChoice | None,
           pipeline: ExecutorChoice | None) -> dict[str, str]:
    """The key of each member that does not simply run by its kind, by member name."""
    keys = {m.name: route(m, run, pipeline) for m in members}
    return {name: key for name, key in keys.items() if key.startswith(DASK + ":")}


def dask_options(key: str) -> Mapping[str, str] | None:
    """The ``DaskExecutor`` options of a dask key; None for any other key."""
    name, _, rest = key.partition(":")
    if name != DASK:
        return None
    artifacts, _, address = rest.partition(":")
    return {"address": address, "artifacts": artifacts}


def parse_run_executor(text: str) -> ExecutorChoice | None:
    """``--executor``'s value: ``local`` (members by their kind: None), ``dask://local``
    or ``dask://HOST:PORT`` (a scheduler, reached over tcp). A UsageError otherwise."""
    if text == "local":
        return None
    if text.startswith(_SCHEME) and len(text) > len(_SCHEME):
        rest = text[len(_SCHEME):]
        address = LOCAL_CLUSTER if rest == LOCAL_CLUSTER else f"tcp://{rest}"
        if address != LOCAL_CLUSTER and not _host_port(rest):
            raise UsageError(f"--executor {text!r}: expected dask://HOST:PORT or dask://local")
        return ExecutorChoice(DASK, address)
    raise UsageError(f"--executor {text!r}: expected local, dask://HOST:PORT or dask://local")


def _host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and "/" not in text
