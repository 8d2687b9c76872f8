"""The facade the CLI and the API call: load, plan, run, status, history, logs.

Each call opens what it needs (state store, graph, executors) for its own duration, so the
CLI and the API stay thin. ``Service.run`` outline::

    run -> _session (store, graph, executors) -> recover dead runs -> lock
        -> plan (facts: ledger, last statuses, digests, complete_when)
        -> Runner.run (graph schema and before-backup, members, pipeline checks,
           after-backup: all recorded as the run's; events: the recorder in step, every
           other sink isolated) -> drain the sinks -> unlock -> Outcome
"""

from __future__ import annotations

import os
import secrets as token
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from orecart.control import RunControl
from orecart.errors import ExecutorError, NotFoundError, SpecError, UsageError
from orecart.events import EventSink, Fanout
from orecart.executors import Executor, load_executor
from orecart.graphparts import GraphParts
from orecart.hooks import HookSink, plugin_manager
from orecart.model import (
    Attempt,
    Graph,
    Handover,
    Member,
    MemberRun,
    Notification,
    Pipeline,
    PullPolicy,
    Run,
    RunStatus,
)
from orecart.notify import Notifier
from orecart.planner import Decision, Facts, Plan, Selection, plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner, default_parallel
from orecart.secrets import Redactor, known_secrets, masked_env
from orecart.spec import load_pipeline, pipeline_name
from orecart.stores import Holder, StateStore, default_state_url, open_store

if TYPE_CHECKING:
    from orecart.executors.docker import DockerExecutor
    from orecart.graph.waiting import WaitReport

#: How long the end of a run waits for isolated event sinks to catch up (a notification
#: still retrying, a slow graph run log); past it they are noted as still busy.
SINK_DRAIN_S = 30.0
#: The same after Ctrl-C, when the user wants the command to end.
INTERRUPTED_DRAIN_S = 1.0

#: Called with (done, total) while a backup or restore streams.
Progress = Callable[[int, int], None]


def orecart_version() -> str:
    try:
        return version("orecart")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Source:
    """Where a pipeline comes from and which state store and graph go with it."""

    file: Path
    profile: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None  # state store URL; default: settings.state, then SQLite
    graph: str | None = None  # --graph bolt://... overrides the file's graph uri
    pull: PullPolicy | None = None  # --pull overrides every image member's pull policy
    wait: float | None = None  # --wait: seconds to wait for the graph, over the file's


@dataclass(frozen=True)
class RunOptions:
    selection: Selection = Selection()
    max_parallel: int | None = None
    fail_fast: bool | None = None
    keep: bool = False


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
    run: Run
    member_runs: list[MemberRun]
    attempts: list[Attempt]
    notifications: list[Notification] = field(default_factory=list)


@dataclass
class _Session:
    """What one service call holds open."""

    pipeline: Pipeline
    store: StateStore
    graph: Any = None  # orecart.graph.GraphConnection when the pipeline has a graph
    executors: dict[str, Executor] = field(default_factory=dict)

    def executor(self, kind: str) -> Executor:
        if kind not in self.executors:
            self.executors[kind] = load_executor("docker" if kind == "image" else "local")
        return self.executors[kind]

    def docker(self) -> DockerExecutor:
        return cast("DockerExecutor", self.executor("image"))


class Service:
    def __init__(
        self, environ: Mapping[str, str] | None = None, on_wait: WaitReport | None = None
    ) -> None:
        """``on_wait`` hears while a graph connection waits for its server (the library
        never prints; the CLI renders these)."""
        self.environ = dict(os.environ if environ is None else environ)
        self.on_wait = on_wait

    # -- pipelines and plans -----------------------------------------------------------

    def load(self, source: Source) -> Pipeline:
        pipeline = load_pipeline(
            source.file, profile=source.profile, params=source.params, environ=self.environ
        )
        environ = dict(self.environ)
        if source.graph:
            environ["NEO4J_URI"] = source.graph  # --graph wins over the file and NEO4J_URI
        if pipeline.graph or environ.get("NEO4J_URI"):
            from orecart.graph.connect import graph_from_env

            pipeline = replace(pipeline, graph=graph_from_env(pipeline.graph, environ))
            # a password from NEO4J_PASSWORD or --graph is as secret as one in the file
            pipeline = replace(pipeline, secret_values=known_secrets(pipeline))
        if source.wait is not None and pipeline.graph is not None:
            pipeline = replace(pipeline, graph=replace(pipeline.graph, wait=source.wait))
        pull = source.pull or self.environ.get("ORECART_PULL")
        return with_pull(pipeline, _pull_policy(pull)) if pull else pipeline

    def plan(self, source: Source, selection: Selection = Selection()) -> Plan:
        with self._session(source) as session:
            return self._plan(session, selection)

    def state_url(
        self, source: Source, pipeline: Pipeline | None = None, create: bool = True
    ) -> str:
        if source.state:
            return source.state
        if self.environ.get("ORECART_STATE"):
            return self.environ["ORECART_STATE"]
        if pipeline is not None and pipeline.settings.state:
            return pipeline.settings.state
        return default_state_url(source.file, home_dir(source.file, self.environ), create)

    # -- running -----------------------------------------------------------------------

    def run(
        self,
        source: Source,
        options: RunOptions = RunOptions(),
        sinks: Sequence[EventSink] = (),
        control: RunControl | None = None,
    ) -> Outcome:
        """Run the pipeline once; ``control`` (if given) can interrupt it. The sinks hear
        a ``Planned`` event first, then the run's story."""
        with self._session(source) as session:
            pipeline, store = session.pipeline, session.store
            self._recover(session)
            holder = Holder(_new_run_id(), os.getpid(), socket.gethostname())
            store.lock(pipeline.name, holder)
            try:
                return self._run_locked(session, holder, options, sinks, control)
            finally:
                store.unlock(pipeline.name, holder)

    def _run_locked(
        self,
        session: _Session,
        holder: Holder,
        options: RunOptions,
        sinks: Sequence[EventSink],
        control: RunControl | None,
    ) -> Outcome:
        pipeline, store = session.pipeline, session.store
        the_plan = self._plan(session, options.selection)
        hooks = HookSink(plugin_manager(pipeline), pipeline)
        graph = GraphParts.of(session.graph, pipeline)
        notifier = Notifier(pipeline, store) if pipeline.notify else None
        # the records a later run trusts (state store, graph log) in step; the rest isolated
        isolated = [*sinks, hooks, *([notifier] if notifier else [])]
        sink = Fanout(Recorder(store), *graph.sinks, isolated=isolated)
        kinds = {s.member.kind for s in the_plan.steps if s.decision is Decision.RUN}
        backends = Backends(
            executors={kind: session.executor(kind) for kind in kinds},
            locks=store,
            sink=sink,
            guards=graph.guards,
            final_checks=graph.final_checks,
            before=graph.before(holder.run_id),
            after=graph.after(holder.run_id),
        )
        run = self._new_run(pipeline, holder)
        runner = Runner(the_plan, run, backends, self._config(pipeline, options, graph.env))
        if control:
            control.attach(runner)
        run, notes = _run_and_drain(runner, sink)
        notes += hooks.errors + graph.errors + (notifier.errors if notifier else [])
        redact = Redactor(pipeline.secret_values)
        return Outcome(run, store.member_runs(run.id), [redact(note) for note in notes])

    def _config(
        self,
        pipeline: Pipeline,
        options: RunOptions,
        graph_env: Mapping[Handover, Mapping[str, str]],
    ) -> RunConfig:
        settings = pipeline.settings
        return RunConfig(
            runs_dir=runs_dir(pipeline.source, self.environ),
            max_parallel=options.max_parallel or settings.max_parallel or default_parallel(),
            fail_fast=settings.fail_fast if options.fail_fast is None else options.fail_fast,
            keep=options.keep,
            graph_env=graph_env,
            environ=self.environ,
        )

    def _new_run(self, pipeline: Pipeline, holder: Holder) -> Run:
        return Run(
            id=holder.run_id,
            pipeline=pipeline.name,
            status=RunStatus.QUEUED,
            source=str(pipeline.source),
            params=masked_env(pipeline.params, pipeline.secrets, pipeline.secret_values),
            profile=pipeline.profile,
            host=holder.host,
            pid=holder.pid,
            version=orecart_version(),
        )

    def _recover(self, session: _Session) -> list[Run]:
        """Mark runs of dead orecart processes aborted and remove their containers."""
        aborted = session.store.recover(socket.gethostname())
        if any(m.container for m in session.pipeline.members):

            def alive(run_id: str) -> bool:
                """Only runs this store knows to be over are dead: a container of a run
                recorded elsewhere (another pipeline folder, another store) is not ours."""
                try:
                    return not session.store.get_run(run_id).status.terminal
                except NotFoundError:
                    return True

            session.docker().reap(alive)
        return aborted

    # -- facts for the planner ---------------------------------------------------------

    def _plan(self, session: _Session, selection: Selection) -> Plan:
        pipeline = session.pipeline
        facts = Facts(
            successes=self._ledger(session).successes(pipeline.name),
            last_statuses=session.store.last_statuses(pipeline.name),
            digests=self._digests(session),
            complete=self._complete(session),
        )
        return plan(pipeline, selection, facts)

    def _ledger(self, session: _Session) -> Any:
        if session.graph is None:
            return session.store
        from orecart.graph.ledger import GraphLedger

        return GraphLedger(session.graph)

    def _digests(self, session: _Session) -> dict[str, str | None]:
        images = [m for m in session.pipeline.members if m.container]
        if not images:
            return {}
        docker = session.executor("image")
        keys = {m.name: _image_key(m) for m in images}
        by_image: dict[tuple[object, ...], str | None] = {}  # members sharing an image ask once
        for member in images:
            if keys[member.name] not in by_image:
                by_image[keys[member.name]] = _resolved(docker, member)
        return {name: by_image[key] for name, key in keys.items()}

    def _complete(self, session: _Session) -> dict[str, bool]:
        if session.graph is None:
            return {}
        from orecart.graph.checks import complete

        return {
            m.name: bool(complete(session.graph, m.complete_when))
            for m in session.pipeline.members
            if m.complete_when
        }

    # -- history -----------------------------------------------------------------------

    def status(self, source: Source) -> RunDetail | None:
        with self._store(source) as (pipeline_name, store):
            run = store.latest_run(pipeline_name)
            if run is None:
                return None
            return RunDetail(run, store.member_runs(run.id), store.attempts(run.id),
                             store.notifications(run.id))

    def runs(self, source: Source, limit: int = 20) -> list[Run]:
        with self._store(source) as (pipeline_name, store):
            return store.runs(pipeline_name, limit)

    def show(self, source: Source, run_id: str) -> RunDetail:
        with self._store(source) as (_, store):
            run = store.get_run(run_id)
            return RunDetail(run, store.member_runs(run.id), store.attempts(run.id),
                             store.notifications(run.id))

    def log_files(self, source: Source, run_id: str, member: str | None) -> list[Path]:
        detail = self.show(source, run_id)
        known = [m for m in detail.member_runs if m.log_path]
        if member is not None:
            known = [m for m in known if m.member == member]
            if not known:
                raise NotFoundError(f"run {detail.run.id} has no log for member {member!r}")
        return [Path(m.log_path) for m in known if m.log_path]

    def diff(self, source: Source, run_id: str, other: str | None = None) -> dict[str, Any]:
        """What each member of a run changed in the graph, or how two runs differ."""
        from orecart.graph.diff import compare_runs, member_changes

        with self._store(source) as (_, store):
            first = store.get_run(run_id)
            members = store.member_runs(first.id)
            if other is None:
                changes = [c.to_dict() for c in member_changes(members)]
                return {"run": first.id, "members": changes}
            second = store.get_run(other)
            return compare_runs(members, store.member_runs(second.id))

    # -- images and the graph ----------------------------------------------------------

    def images(self, source: Source) -> list[Any]:
        """Each image member's image, tag, resolved digest and local presence."""
        from orecart.executors.docker import image_report

        pipeline = self.load(source)
        return image_report([m for m in pipeline.members if m.container])

    def backup(self, source: Source, path: Path, progress: Progress | None = None) -> Any:
        from orecart.graph.backup import backup

        with self._graph(source) as conn:
            return backup(conn, path, progress)

    def restore(self, source: Source, path: Path, progress: Progress | None = None,
                force: bool = False) -> Any:
        from orecart.graph.backup import restore

        with self._graph(source) as conn:
            return restore(conn, path, progress, force=force)

    def graph_status(self, source: Source) -> Any:
        from orecart.graph.status import graph_status

        with self._graph(source) as conn:
            return graph_status(conn)

    @contextmanager
    def _graph(self, source: Source) -> Iterator[Any]:
        pipeline = self.load(source)
        if pipeline.graph is None:
            raise SpecError(
                f"{source.file}: the pipeline has no graph: add a `graph:` section, "
                "set NEO4J_URI or pass --graph bolt://...", field="graph"
            )
        with _connect(pipeline.graph, self.on_wait) as conn:
            yield conn

    # -- sessions ----------------------------------------------------------------------

    @contextmanager
    def _store(self, source: Source) -> Iterator[tuple[str, StateStore]]:
        """The state store to read history from, opened read-only: history reads never
        write, and a run whose orecart died reads as aborted (``stores.orphans``)."""
        name, url = self._history_target(source)
        store = open_store(url, read_only=True)
        try:
            yield name, store
        finally:
            store.close()

    def _history_target(self, source: Source) -> tuple[str, str]:
        """Pipeline name and state URL: reading history needs neither the file's variables
        and parameters nor, with --state, the file itself (run ids are unique)."""
        if source.state and not source.file.exists():
            return "", source.state
        try:
            pipeline = self.load(source)
        except SpecError:
            return pipeline_name(source.file), self.state_url(source, create=False)
        return pipeline.name, self.state_url(source, pipeline, create=False)

    @contextmanager
    def _session(self, source: Source) -> Iterator[_Session]:
        pipeline = self.load(source)
        with ExitStack() as stack:
            store = open_store(self.state_url(source, pipeline))
            stack.callback(store.close)
            session = _Session(pipeline, store)
            if pipeline.graph is not None:
                session.graph = stack.enter_context(_connect(pipeline.graph, self.on_wait))
            try:
                yield session
            finally:
                for executor in session.executors.values():
                    executor.close()


def _run_and_drain(runner: Runner, sink: Fanout) -> tuple[Run, list[str]]:
    """Run, then give the isolated sinks their bounded time to catch up; their notes."""
    try:
        run = runner.run()
    except BaseException:  # Ctrl-C: the command ends soon, whatever a sink still does
        sink.close(INTERRUPTED_DRAIN_S)
        raise
    return run, sink.close(SINK_DRAIN_S)


@contextmanager
def _connect(graph: Graph, on_wait: WaitReport | None) -> Iterator[Any]:
    """An open GraphConnection (imported only when a graph is used), closed afterwards."""
    from orecart.graph.connect import GraphConnection

    conn = GraphConnection.open(graph, on_wait=on_wait)
    try:
        yield conn
    finally:
        conn.close()


def home_dir(pipeline_file: Path, environ: Mapping[str, str]) -> Path:
    """Where orecart keeps a pipeline's state and runs: ``ORECART_HOME`` when set (the
    container image sets ``/log``), else ``.orecart/`` beside the pipeline file."""
    home = environ.get("ORECART_HOME")
    if home:
        return Path(home).expanduser().resolve()
    return Path(pipeline_file).resolve().parent / ".orecart"


def runs_dir(pipeline_file: Path, environ: Mapping[str, str]) -> Path:
    """Where artifacts and logs of runs go: ``runs/`` in the home folder."""
    return home_dir(pipeline_file, environ) / "runs"


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{token.token_hex(3)}"


def with_pull(pipeline: Pipeline, pull: PullPolicy) -> Pipeline:
    """The pipeline with every image member pulling by ``pull`` (Motherlode files have no
    pull key of their own, and their images may live only on this machine)."""
    members = tuple(
        replace(m, container=replace(m.container, pull=pull)) if m.container else m
        for m in pipeline.members
    )
    return replace(pipeline, members=members)


def _image_key(member: Member) -> tuple[object, ...]:
    """What an image's digest depends on: the image, its pull policy and credentials."""
    container = member.container
    return (container.image, container.pull, container.auth) if container else ()


def _resolved(docker: Executor, member: Member) -> str | None:
    """The member's image digest; None (so it runs, never skips) when it cannot be had."""
    try:
        return docker.resolve(member)
    except ExecutorError:
        return None


def _pull_policy(value: str) -> PullPolicy:
    try:
        return PullPolicy(value)
    except ValueError:
        known = ", ".join(p.value for p in PullPolicy)
        message = f"ORECART_PULL: unknown pull policy {value!r}; use one of {known}"
        raise UsageError(message) from None
