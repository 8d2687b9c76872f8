"""Runs one claimed run of a pipeline to its end on the service's resources.

    plan (facts) -> the run's sinks: the recorder and graph run log in step, the caller's
    sinks, hooks and notifier isolated -> Runner.run -> drain the isolated sinks -> Outcome

A run that cannot even be planned (its graph unreachable, its images unresolvable in a way
that raises) still ends recorded: ``failed`` with the error, never left queued or running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from orecart.errors import OrecartError
from orecart.events import EventSink, Fanout, RunFinished
from orecart.executors import Executor, routing
from orecart.graphparts import GraphParts
from orecart.hooks import HookSet, HookSink
from orecart.model import Handover, Pipeline, Run, RunStatus
from orecart.notify import Notifier
from orecart.planner import Decision, Plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner, default_parallel
from orecart.secrets import Redactor
from orecart.service.facts import plan_run
from orecart.service.requests import Outcome, RunOptions
from orecart.service.resources import Resources

#: How long the end of a run waits for isolated event sinks to catch up (a notification
#: still retrying, a slow hook); past it they are noted as still busy.
SINK_DRAIN_S = 30.0
#: The same after Ctrl-C, when the user wants the command to end.
INTERRUPTED_DRAIN_S = 1.0


@dataclass(frozen=True)
class Job:
    """One claimed run and everything it runs with."""

    pipeline: Pipeline
    run: Run
    options: RunOptions
    runs_dir: Path
    environ: Mapping[str, str]  # orecart's own: members get only their allow-list of it
    hooks: HookSet  # the pipeline version's hooks, imported once
    sinks: Sequence[EventSink] = ()
    scheduled: bool = False  # a tick of the pipeline's schedule


def execute(resources: Resources, job: Job, attach: Callable[[Runner], None]) -> Outcome:
    """Run ``job`` to its end; ``attach`` is handed the runner before it starts (cancel and
    Ctrl-C reach the run through it). Raises only what ended the run before its runner
    could (after recording the run ``failed``) and KeyboardInterrupt."""
    try:
        return _execute(resources, job, attach)
    except OrecartError as exc:
        _end(resources, job, RunStatus.FAILED, str(exc))
        raise
    except Exception as exc:  # a bug before the runner started: never left running
        _end(resources, job, RunStatus.ABORTED, f"internal error: {exc!r}")
        raise


def _execute(resources: Resources, job: Job, attach: Callable[[Runner], None]) -> Outcome:
    chosen = job.options.executor
    the_plan = plan_run(resources, job.pipeline, job.options.selection, job.scheduled, chosen)
    running = [s.member for s in the_plan.steps if s.decision is Decision.RUN]
    routes = routing.routes(running, chosen, job.pipeline.settings.executor)
    executors = resources.for_run({routes.get(m.name, m.kind) for m in running})
    try:
        return _drive(resources, job, attach, the_plan, (executors, routes))
    finally:
        resources.end_run(executors)


def _drive(resources: Resources, job: Job, attach: Callable[[Runner], None], the_plan: Plan,
           routed: tuple[dict[str, Executor], dict[str, str]]) -> Outcome:
    """``routed``: the run's executors by key, and the key of each member not run by its
    kind (``executors.routing``)."""
    executors, routes = routed
    pipeline, store = job.pipeline, resources.store
    conn = resources.graph(pipeline.graph) if pipeline.graph is not None else None
    hooks = HookSink(job.hooks.manager, pipeline)
    graph = GraphParts.of(conn, pipeline)
    notifier = Notifier(pipeline, store) if pipeline.notify else None
    # the records a later run trusts (state store, graph log) in step; the rest isolated
    isolated = [*job.sinks, *([hooks] if hooks.wanted else []), *([notifier] if notifier else [])]
    sink = Fanout(Recorder(store), *graph.sinks, isolated=isolated)
    backends = Backends(
        executors=executors,
        locks=store,
        sink=sink,
        guards=graph.guards,
        final_checks=graph.final_checks,
        before=graph.before(job.run.id),
        after=graph.after(job.run.id),
        routes=routes,
    )
    runner = Runner(the_plan, job.run, backends, _config(job, graph.env))
    attach(runner)
    run, notes = _run_and_drain(runner, sink)
    notes += hooks.errors + graph.errors + (notifier.errors if notifier else [])
    redact = Redactor(pipeline.secret_values)
    return Outcome(run, store.member_runs(run.id), [redact(note) for note in notes])


def _config(job: Job, graph_env: Mapping[Handover, Mapping[str, str]]) -> RunConfig:
    settings, options = job.pipeline.settings, job.options
    return RunConfig(
        runs_dir=job.runs_dir,
        max_parallel=options.max_parallel or settings.max_parallel or default_parallel(),
        fail_fast=settings.fail_fast if options.fail_fast is None else options.fail_fast,
        keep=options.keep,
        graph_env=graph_env,
        environ=job.environ,
    )


def _run_and_drain(runner: Runner, sink: Fanout) -> tuple[Run, list[str]]:
    """Run, then give the isolated sinks their bounded time to catch up; their notes."""
    try:
        run = runner.run()
    except BaseException:  # Ctrl-C: the command ends soon, whatever a sink still does
        sink.close(INTERRUPTED_DRAIN_S)
        raise
    return run, sink.close(SINK_DRAIN_S)


def _end(resources: Resources, job: Job, status: RunStatus, error: str) -> None:
    """Record the run ended (``failed``, or ``aborted`` for an internal error) with
    ``error`` when that happened before its runner started (a runner, once started,
    records its own end); ``aborted`` too when the service stopped it (its shutdown's
    grace ran out while it waited for its graph)."""
    current = resources.store.get_run(job.run.id)
    if current.status.terminal:
        return
    redact = Redactor(job.pipeline.secret_values)
    if resources.stopping.is_set():
        status = RunStatus.ABORTED
    ended = replace(current, status=status, error=redact(error),
                    finished_at=datetime.now(UTC))
    Recorder(resources.store).emit(RunFinished(ended))
