"""The frozen model every other module speaks: pipelines, members, runs and their statuses.

Values here are validated once, in ``orecart.spec``; everything downstream trusts them.
Change a value with ``dataclasses.replace``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from orecart.querying import StoredQuery
from orecart.sensing import Sensor
from orecart.triggering import Trigger


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        return self in RUN_TERMINAL


RUN_TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.ABORTED}
)


class MemberStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the loader ran and reported failure (exit code, post-check)
    ERRORED = "errored"  # it could not be run at all
    SKIPPED = "skipped"  # the ledger says it already did this work here
    CANCELLED = "cancelled"  # not started: a need did not succeed, or the run was cancelled
    ABORTED = "aborted"  # orecart was interrupted or died while it ran

    @property
    def terminal(self) -> bool:
        return self in MEMBER_TERMINAL

    @property
    def ok(self) -> bool:
        """True when dependents may go on: the member succeeded now or earlier."""
        return self in MEMBER_OK


MEMBER_TERMINAL = frozenset(
    {
        MemberStatus.SUCCEEDED,
        MemberStatus.FAILED,
        MemberStatus.ERRORED,
        MemberStatus.SKIPPED,
        MemberStatus.CANCELLED,
        MemberStatus.ABORTED,
    }
)
MEMBER_OK = frozenset({MemberStatus.SUCCEEDED, MemberStatus.SKIPPED})


class ReasonCode(StrEnum):
    """Why the planner decided as it did, for programs (the prose reason is for people).
    Nothing branches on the prose; everything that needs to know branches on these."""

    NEW = "new"  # runs: no earlier success here
    CHANGED = "changed"  # runs: its definition changed
    DIGEST_CHANGED = "digest-changed"  # runs: its image digest changed
    DIGEST_UNKNOWN = "digest-unknown"  # runs: its image digest could not be resolved
    NEED_RAN = "need-ran"  # runs: a need runs now, or ran since its last success
    INCOMPLETE = "incomplete"  # runs: its complete_when check does not hold
    ALWAYS = "always"  # runs: rerun: always
    FORCED = "forced"  # runs: --force
    SELECTED = "selected"  # runs: named with --only or --from, or downstream of --from
    FAILED_LAST = "failed-last"  # runs: --only-failed, and it did not succeed last time
    DONE = "done"  # skipped: the ledger holds its success, nothing changed
    STALE = "stale"  # runs: its last success is older than its max_age
    SCHEDULED = "scheduled"  # runs: a service container on a scheduled run
    NEVER = "never"  # skipped: rerun: never, and it succeeded once
    EXCLUDED_BY_PROFILE = "excluded-by-profile"  # skipped: the profile leaves it out
    SKIPPED_BY_USER = "skipped-by-user"  # skipped: --skip
    NOT_SELECTED = "not-selected"  # skipped: --only, --from or --only-failed left it out
    NEED_CANCELLED = "need-cancelled"  # cancelled: a need is cancelled
    NEED_NEVER_SUCCEEDED = "need-never-succeeded"  # cancelled: a need neither runs nor
    # ever succeeded here


class Rerun(StrEnum):
    ON_CHANGE = "on-change"  # run when the fingerprint changed or a need ran since
    ALWAYS = "always"
    NEVER = "never"  # once it succeeded anywhere in the ledger, never again


class PullPolicy(StrEnum):
    ALWAYS = "always"
    IF_MISSING = "if-missing"
    NEVER = "never"


class Format(StrEnum):
    NATIVE = "native"
    MOTHERLODE = "motherlode"


#: The longest wait before a retry, whatever the file says (a day).
LONGEST_BACKOFF = 86_400.0


class Handover(StrEnum):
    """What a member is told about the graph: ``orecart`` gives the ``NEO4J_*`` variables;
    ``motherlode`` adds Motherlode's ``NEO4J`` JSON and a ``CONFIGS_`` copy of every variable,
    as a Motherlode/copili file's members get them."""

    ORECART = "orecart"
    MOTHERLODE = "motherlode"


@dataclass(frozen=True)
class Retry:
    """How often a failed or errored member run is tried again, and how long to wait."""

    retries: int = 0  # attempts after the first
    backoff: float = 1.0  # seconds before the first retry
    factor: float = 2.0  # each further wait is this many times longer
    max_backoff: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 is the first retry).

        Always a finite number from 0 to ``LONGEST_BACKOFF``, never an exception: the
        1100th retry of a doubling backoff overflows a float, and a run must not crash on it.
        """
        if not self.backoff > 0:  # also NaN
            return 0.0
        try:
            wait = self.backoff * self.factor ** max(0, attempt - 2)
        except OverflowError:
            wait = math.inf
        limits = [limit for limit in (self.max_backoff, LONGEST_BACKOFF) if limit == limit]
        return float(max(0.0, min(wait, *limits) if wait == wait else min(limits)))


@dataclass(frozen=True)
class Volume:
    source: str  # host path (relative paths are relative to the pipeline file) or volume name
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password by accident
        return f"RegistryAuth(username={self.username!r}, password='***')"


@dataclass(frozen=True)
class Sidecar:
    """A helper container started before its member on a per-run network (copili)."""

    name: str
    image: str
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    command: tuple[str, ...] | str | None = None


@dataclass(frozen=True)
class Container:
    """How an image member runs: everything the Docker executor needs."""

    image: str  # name[:tag][@sha256:...]
    pull: PullPolicy = PullPolicy.ALWAYS
    command: tuple[str, ...] | str | None = None
    entrypoint: tuple[str, ...] | str | None = None
    volumes: tuple[Volume, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    user: str | None = None
    working_dir: str | None = None
    cpus: float | None = None
    memory: str | None = None  # docker's form: "512m", "2g"
    sidecars: tuple[Sidecar, ...] = ()
    auth: RegistryAuth | None = None
    service: bool = False  # copili's is_service_container: started, not waited for


@dataclass(frozen=True)
class ExecutorChoice:
    """Where members run when not where their kind says (local processes, the docker
    daemon): an executor by name (``local``, ``docker``, ``dask``) and, for ``dask``, the
    scheduler's address (``tcp://host:8786``; ``local``: a LocalCluster orecart starts)
    and whether artifact folders are a path every worker shares (``shared``) or are copied
    to and from the worker (``copy``)."""

    name: str
    address: str | None = None
    artifacts: str | None = None  # dask: "copy" (default) or "shared"


@dataclass(frozen=True)
class Check:
    """A Cypher query that must return ``expect`` after its member (or the pipeline) ran."""

    name: str
    query: str
    expect: Any = True


@dataclass(frozen=True)
class CheckResult:
    """How one check went in a run: a member's post-check (``member`` names it) or one of
    the pipeline's checks (``member`` None). ``message``: what it found (redacted)."""

    name: str
    passed: bool
    message: str = ""
    member: str | None = None


@dataclass(frozen=True)
class Member:
    """One loader: a local command (``run`` or ``shell``) or a container (``container``)."""

    name: str
    run: tuple[str, ...] | None = None
    shell: str | None = None
    container: Container | None = None
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    needs: tuple[str, ...] = ()
    pool: str | None = None
    timeout: float | None = None  # seconds
    retry: Retry = Retry()
    rerun: Rerun = Rerun.ON_CHANGE
    info_link: str | None = None
    desc: str | None = None
    secrets: frozenset[str] = frozenset()  # env names declared secret (its own and the
    # pipeline's `secrets:`); names that look secret are judged by orecart.secrets
    exclude_env: frozenset[str] = frozenset()  # pipeline env names this member does not get
    env_passthrough: tuple[str, ...] = ()  # names or globs (AWS_*) it gets from orecart's
    # environment beyond the allow-list (environ.INHERITED): its own and the pipeline's
    complete_when: str | None = None  # Cypher returning one boolean
    max_age: float | None = None  # seconds: it reruns when its last success is older
    checks: tuple[Check, ...] = ()
    snapshot: bool = False  # take graph counts before and after
    handover: Handover = Handover.ORECART  # the variables it gets to reach the graph
    line: int = 0  # where the member starts in its file, for messages
    executor: ExecutorChoice | None = None  # None: the run's, the pipeline's, or its kind's
    resources: Mapping[str, float] = field(default_factory=dict)  # dask worker resources
    # it holds while it runs ({"neo4j": 1, "memory": 2e9}); other executors ignore them

    @property
    def kind(self) -> str:
        return "image" if self.container else "run"


@dataclass(frozen=True)
class Graph:
    """The target Neo4j database."""

    uri: str
    user: str = "neo4j"
    password: str = ""
    database: str | None = None
    wait: float = 60.0  # seconds to wait for the database to become ready

    def __repr__(self) -> str:
        return f"Graph(uri={self.uri!r}, user={self.user!r}, database={self.database!r})"


@dataclass(frozen=True)
class Backup:
    before: bool = False
    after: bool = False
    dir: str = "backups"
    keep: int | None = None


class RunOutcome(StrEnum):
    """What a run came to, as a ``notify:`` entry asks for it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a member failed, errored or was aborted, or the run was aborted
    INVALID = "invalid"  # a check failed: the pipeline's, or a member's after it ran
    CANCELLED = "cancelled"


#: The outcomes a ``notify:`` entry without ``on`` is sent for.
NOTIFY_DEFAULT = frozenset({RunOutcome.FAILED, RunOutcome.INVALID})


@dataclass(frozen=True)
class NotifyTarget:
    """A ``notify:`` entry: an apprise URL (a secret) and the outcomes it is sent for."""

    url: str = field(repr=False)
    on: frozenset[RunOutcome] = NOTIFY_DEFAULT


@dataclass(frozen=True)
class Settings:
    max_parallel: int | None = None  # None: the CPU count, at least 4 (runner.default_parallel)
    state: str | None = None  # state store URL; None: sqlite beside the pipeline file
    fail_fast: bool = False
    network_mode: str | None = None  # default for container members
    pull: PullPolicy = PullPolicy.ALWAYS  # default for container members
    handover: Handover = Handover.ORECART  # default for members
    max_runs: int = 1  # runs at a time per graph target (the service enforces it)
    trigger_depth: int = 5  # trigger firings a write query's own writes may lead to, in a row
    executor: ExecutorChoice | None = None  # where members run (None: by their kind)


@dataclass(frozen=True)
class Schedule:
    """When the service submits a pipeline by itself: a 5-field ``cron`` expression in
    ``timezone`` (an IANA name), or ``every`` so many seconds. Exactly one of the two is
    set; ``orecart.spec`` checks the expression and the timezone."""

    cron: str | None = None
    every: float | None = None  # seconds
    timezone: str = "UTC"

    def __str__(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron} {self.timezone}"
        return f"every {format_seconds(self.every or 0.0)}"


def format_seconds(seconds: float) -> str:
    """A duration as the file writes it: 600 -> "10m", 90 -> "1m30s", 0.5 -> "500ms"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    parts, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True)
class Pipeline:
    name: str
    source: Path  # the pipeline file
    members: tuple[Member, ...]
    format: Format = Format.NATIVE
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    pools: Mapping[str, int] = field(default_factory=dict)
    settings: Settings = Settings()
    hooks: tuple[str, ...] = ()
    graph: Graph | None = None
    secrets: frozenset[str] = frozenset()  # env names declared secret under `secrets:`
    env_passthrough: tuple[str, ...] = ()  # `env_passthrough:` of the file, in every member's
    checks: tuple[Check, ...] = ()
    keys: Mapping[str, str] = field(default_factory=dict)  # Label -> key property for diffs
    backup: Backup | None = None
    notify: tuple[NotifyTarget, ...] = ()
    profile: str | None = None
    excluded: frozenset[str] = frozenset()  # members the profile leaves out of this run
    secret_values: frozenset[str] = field(default_factory=frozenset, repr=False)  # expanded
    # secrets, wherever they landed: redacted in output, left out of fingerprints
    params: Mapping[str, str] = field(default_factory=dict)  # the -p values it was built with
    schedule: Schedule | None = None  # when `orecart serve` submits it by itself
    sensors: tuple[Sensor, ...] = ()  # watched sources whose new versions `serve` submits
    queries: tuple[StoredQuery, ...] = ()  # stored parameterized queries (`orecart query`)
    triggers: tuple[Trigger, ...] = ()  # graph patterns whose new matches start an action

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def member(self, name: str) -> Member:
        return self.by_name[name]

    @cached_property
    def by_name(self) -> Mapping[str, Member]:
        return {m.name: m for m in self.members}

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)


@dataclass(frozen=True)
class Run:
    """One execution of a pipeline."""

    id: str
    pipeline: str
    status: RunStatus
    source: str = ""  # the pipeline file
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    host: str = ""
    pid: int = 0
    version: str = ""  # orecart's version
    backups: tuple[str, ...] = ()
    error: str | None = None  # why the run failed beyond its members (pipeline checks)
    checks: tuple[CheckResult, ...] = ()  # the pipeline's checks, when they ran
    key: str | None = None  # the run key of its request (e.g. a release); one run per key
    origin: str = ""  # who asked: "run", "submit", "schedule", "max_age", "sensor", "api", ...
    labels: Mapping[str, str] = field(default_factory=dict)  # free-form metadata
    queued_at: datetime | None = None  # when its request was queued
    cancel_requested_at: datetime | None = None  # when a cancel was asked while it ran


@dataclass(frozen=True)
class Attempt:
    """One try of one member run."""

    run_id: str
    member: str
    number: int
    status: MemberStatus
    exit_code: int | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    waited_at: datetime | None = None  # ready but not started from then on: see MemberRun
    waited_for: str | None = None


#: What a member that waits for a free place in ``max_parallel`` (not a pool) waits for.
PARALLEL = "parallel"


@dataclass(frozen=True)
class MemberRun:
    """One member inside one run."""

    run_id: str
    member: str
    status: MemberStatus
    attempts: int = 0
    exit_code: int | None = None
    error: str | None = None  # why it failed, errored, was cancelled or aborted
    reason: str | None = None  # the planner's reason for running or skipping it
    reason_code: ReasonCode | None = None  # the same reason, as a code (None: older runs)
    fingerprint: str | None = None
    image: str | None = None
    digest: str | None = None
    log_path: str | None = None
    artifacts: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    delta: Mapping[str, Any] | None = None  # graph diff of this member run
    position: int = 0  # its place in the run's plan, for listing in dependency order
    waited_at: datetime | None = None  # its latest wait: ready, not started, from then
    waited_for: str | None = None  # a pool's name, or PARALLEL (max_parallel was full)
    checks: tuple[CheckResult, ...] = ()  # its post-checks, when they ran

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class SendStatus(StrEnum):
    """How a notification went."""

    SENT = "sent"
    FAILED = "failed"  # every try failed, or the URL was refused


@dataclass(frozen=True)
class Notification:
    """One notification of a run: where it went (the URL without its password), how it
    went, after how many tries, and the last error."""

    run_id: str
    url: str
    outcome: SendStatus
    attempts: int
    error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class RunEvent:
    """One entry of a run's persisted event log; ``id`` orders the log of every run and is
    the cursor a reader resumes after (``StateStore.events(run_id, after=id)``)."""

    id: int
    run_id: str
    at: datetime
    kind: str  # ``orecart.events.event_kind`` of the event
    data: Mapping[str, Any]  # JSON-able: times as ISO text


@dataclass(frozen=True)
class ServiceEntry:
    """A running ``orecart serve`` as the state store registers it: who (a holder id), where
    (host, pid) and how to reach it (``address``, None until it listens)."""

    id: str
    host: str
    pid: int
    address: str | None
    version: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Leadership:
    """Which service leads a kind of work among the services on one store (``recovery``
    of dead serves' runs and firings, or ``pipeline:<name>``: that pipeline's schedule,
    sensors and triggers), since when, and until when without a beat."""

    kind: str
    service: str  # a ``ServiceEntry.id``
    host: str
    pid: int
    since: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Task:
    """One attempt of one member run, with everything it needs resolved: what the runner
    hands an executor. Holds the member's whole environment, so never store it."""

    run_id: str
    pipeline: str
    member: Member
    attempt: int
    env: Mapping[str, str] = field(repr=False)  # what the member receives: secrets; never
    # stored, never in a repr (a log line, a Dask worker's "Compute Failed")
    base_dir: Path  # the pipeline file's folder; relative cwd and volumes start here
    artifacts: Path  # this member run's own output folder (ORECART_ARTIFACTS)
    inputs: Mapping[str, Path]  # artifact folders of what it needs, by member name
    log_path: Path  # the member-run log; attempts append to it
    secrets: frozenset[str] = field(default=frozenset(), repr=False)  # values to redact
    digest: str | None = None  # the image digest the planner fingerprinted (docker)
    keep: bool = False  # keep failed containers for debugging
    labels: Mapping[str, str] = field(default_factory=dict)  # orecart.* labels


@dataclass(frozen=True)
class Result:
    """How one attempt ended. ``status`` is succeeded, failed, errored or aborted."""

    status: MemberStatus
    exit_code: int | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    digest: str | None = None
    delta: Mapping[str, Any] | None = None
    checks: tuple[CheckResult, ...] = ()  # post-checks a guard ran (orecart.graph.guard)


def to_data(value: Any) -> Any:
    """A JSON-ready copy of a model value: dataclasses become dicts, times ISO strings."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: to_data(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        items = [to_data(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value
