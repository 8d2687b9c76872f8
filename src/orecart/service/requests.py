"""What is asked of a service and what it answers: run requests, their stored payload,
and the typed results of submitting, running and reading a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from orecart.errors import StateError
from orecart.model import Attempt, ExecutorChoice, MemberRun, Notification, Run, RunStatus
from orecart.planner import Selection


@dataclass(frozen=True)
class RunOptions:
    selection: Selection = Selection()
    max_parallel: int | None = None
    fail_fast: bool | None = None
    keep: bool = False
    executor: ExecutorChoice | None = None  # --executor: where members run (routing)


#: the origin of an ``orecart run``: executed in its own process, never queued again when
#: that process dies (nobody waits for it any more; its user runs it again)
IN_PROCESS = "run"


@dataclass(frozen=True)
class RunRequest:
    """One request to run a pipeline (by its name), from the CLI, a schedule, a sensor,
    a trigger or the API. ``key`` deduplicates: a key whose run is queued, running or
    succeeded is not run again."""

    pipeline: str
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    key: str | None = None
    options: RunOptions = RunOptions()
    origin: str = "submit"  # "run" (in-process), "submit", "schedule", "max_age", ...
    labels: Mapping[str, str] = field(default_factory=dict)
    requeued: int = 0  # how often this request was queued again after its run was aborted
    #: told of each status change of the run (``orecart.callbacks``); kept in the state
    #: store as given, since it is needed to deliver
    callback_url: str | None = None

    @property
    def scheduled(self) -> bool:
        """A tick of the pipeline's schedule (service containers rerun on it)."""
        return self.origin == "schedule"


@dataclass(frozen=True)
class Submitted:
    """The run a submit stands for; ``created`` is False when its key's run already
    existed (queued, running or succeeded) and that run is the answer."""

    run: Run
    created: bool


@dataclass(frozen=True)
class Outcome:
    run: Run
    member_runs: list[MemberRun]
    notes: list[str] = field(default_factory=list)  # sink, hook and notification trouble

    @property
    def ok(self) -> bool:
        return self.run.status is RunStatus.SUCCEEDED


@dataclass(frozen=True)
class RunDetail:
    """A run with its member runs, attempts and notifications. A summary of a large run
    (``Tools.status`` with ``rows``) holds only the member runs worth listing and counts
    the others in ``unlisted``, by status; empty: ``member_runs`` is every one."""

    run: Run
    member_runs: list[MemberRun]
    attempts: list[Attempt]
    notifications: list[Notification] = field(default_factory=list)
    unlisted: Mapping[str, int] = field(default_factory=dict)


def to_payload(request: RunRequest, held: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The request as the queue stores it: JSON, without the parameters named in ``held``
    (secret values: they stay in the memory of the service that took the request)."""
    options, selection = request.options, request.options.selection
    return {
        "params": {k: v for k, v in request.params.items() if k not in held},
        "held": sorted(held),
        "profile": request.profile,
        "only": sorted(selection.only),
        "start": sorted(selection.start),
        "skip": sorted(selection.skip),
        "only_failed": selection.only_failed,
        "force": selection.force,
        "max_parallel": options.max_parallel,
        "fail_fast": options.fail_fast,
        "keep": options.keep,
        "executor": asdict(options.executor) if options.executor else None,
        "requeued": request.requeued,
        "callback_url": request.callback_url,
    }


def from_payload(run: Run, payload: Mapping[str, Any]) -> tuple[RunRequest, list[str]]:
    """The request of a queued ``run``, and the names of the secret parameters it needs
    that are not in the payload (the caller supplies them, or cannot run it)."""
    try:
        selection = Selection(frozenset(payload["only"]), frozenset(payload["start"]),
                              frozenset(payload["skip"]), bool(payload["only_failed"]),
                              bool(payload["force"]))
        chosen = payload.get("executor")
        options = RunOptions(selection, payload["max_parallel"], payload["fail_fast"],
                             bool(payload["keep"]), ExecutorChoice(**chosen) if chosen else None)
        request = RunRequest(run.pipeline, dict(payload["params"]), payload["profile"],
                             run.key, options, run.origin, dict(run.labels),
                             int(payload.get("requeued", 0)), payload.get("callback_url"))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(f"run {run.id}: its stored request cannot be read ({exc!r})") from exc
    return request, list(payload.get("held", []))
