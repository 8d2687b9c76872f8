"""Commands of the service: serve, submit, cancel, queue."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click

from orecart.cli.base import (
    Exit,
    app,
    callback_opt,
    duration_value,
    err,
    executor_opt,
    file_arg,
    graph_opt,
    guarded,
    json_opt,
    members_json,
    out,
    params_opt,
    pipeline_opt,
    print_json,
    profile_opt,
    pull_opt,
    run_exit,
    run_id_arg,
    selection_of,
    selection_opts,
    source_of,
    state_opt,
    wait_opt,
    waiting_notice,
)
from orecart.cli.text import printable
from orecart.errors import UsageError
from orecart.model import ExecutorChoice, PullPolicy, Run, RunEvent, RunStatus
from orecart.service import RunOptions, RunRequest, Source, Tools

SERVICE = "Service"
#: how often `submit --wait` reads the run's event log
FOLLOW_POLL_S = 0.2


@app.add(SERVICE)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="FILE|DIR...")
@state_opt
@graph_opt
@wait_opt
@pull_opt
@click.option("--grace", default="60s", show_default=True, metavar="DURATION",
              callback=duration_value,
              help="On SIGTERM, SIGHUP or Ctrl-C, how long running runs may go on before "
              "they are aborted.")
@click.option("--requeue", type=click.IntRange(min=0), default=1, show_default=True,
              metavar="N", help="Queue a request again up to N times when its run was "
              "aborted because orecart died (kill -9, a crash, a reboot).")
@click.option("--http", "http", metavar="HOST:PORT",
              help="Serve the REST API there too (/api/v1; tokens: `orecart token create`).")
@guarded
def serve(paths: tuple[Path, ...], state: str | None, graph: str | None, wait: float | None,
          pull: PullPolicy | None, grace: float, requeue: int, http: str | None) -> None:
    """Serve pipelines: run what is submitted, their schedules and max_age members.

    Requests run FIFO per pipeline, at most settings.max_runs at a time per graph
    (default 1). FILE is a pipeline file; DIR serves every pipeline file in it. An edited
    file is reloaded; a broken edit keeps the last good version and is reported here.
    Every pipeline shares one state store: --state, ORECART_STATE, or the one beside the
    files.

    SIGTERM, SIGHUP or Ctrl-C: no new work starts, running runs get --grace to finish and
    are then aborted; a second signal aborts them at once; exit 0. A state store that
    fails under serve stops it the same way, with exit 1; the HTTP API stops with it.
    """
    from orecart.service.serving import open_server

    address = _http_address(http)
    server = open_server(list(paths), state, graph, pull, wait, grace, requeue,
                         notice=_notice, on_wait=waiting_notice)
    with _stopping(server.stop), _http(server, address):
        server.serve()


def _http_address(http: str | None) -> tuple[str, int] | None:
    """HOST:PORT of --http, checked before anything starts (and FastAPI there)."""
    if http is None:
        return None
    try:
        from orecart.web.server import parse_address
    except ImportError as exc:
        raise UsageError(f"--http needs FastAPI and uvicorn: pip install 'orecart[http]' "
                         f"({exc})") from exc
    return parse_address(http)


@contextmanager
def _http(server: Any, address: tuple[str, int] | None) -> Iterator[None]:
    """The REST API on ``address`` while serve runs (nothing without --http)."""
    if address is None:
        yield
        return
    from orecart.web.server import HttpServer

    http = HttpServer(server.served, address, _notice)
    http.start()
    try:
        yield
    finally:
        http.stop()


def _notice(line: str) -> None:
    err().print(printable(line), soft_wrap=True, highlight=False, markup=False)


@contextmanager
def _stopping(stop: Any) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP end the serve loop gracefully; a second one aborts the
    runs still going at once."""
    seen = []

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        stop(now=len(seen) > 1)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@app.add(SERVICE)
@file_arg
@selection_opts
@profile_opt
@params_opt
@state_opt
@click.option("--key", metavar="KEY", help="The run key (e.g. a release): a key whose run "
              "is queued, running or succeeded is not queued again; that run is the answer.")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="A label on the run (repeatable): dataset, user, ...")
@executor_opt
@callback_opt
@click.option("--wait", "wait_end", is_flag=True,
              help="Wait for the run to end, showing its progress; exit as `run` does.")
@json_opt
@guarded
def submit(file: Path, only: tuple[str, ...], start: tuple[str, ...], skip: tuple[str, ...],
           only_failed: bool, force: bool, profile: str | None, param: tuple[str, ...],
           state: str | None, key: str | None, labels: tuple[str, ...],
           executor: ExecutorChoice | None, callback_url: str | None, wait_end: bool,
           as_json: bool) -> None:
    """Queue a run of the pipeline for `orecart serve`; print its run id.

    The request waits in the state store until a serve process on that store runs it
    (FIFO per pipeline): it survives restarts of serve, and of this machine.
    """
    source = source_of(file, profile, param, state)
    tools = Tools()
    request = RunRequest(tools.load(source).name, source.params, profile, key,
                         RunOptions(selection_of(only, start, skip, only_failed, force),
                                    executor=executor),
                         origin="submit", labels=_labels(labels), callback_url=callback_url)
    submitted = tools.submit(source, request)
    run = submitted.run
    if not wait_end:
        if as_json:
            print_json({"run": run, "created": submitted.created})
        else:
            sys.stdout.write(f"{run.id}\n")
        _submit_notes(tools, source, run, submitted.created)
        return
    _submit_notes(tools, source, run, submitted.created)
    final = _follow(tools, source, run.id, quiet=as_json)
    detail = tools.show(source, final.id)
    if as_json:
        print_json({"run": detail.run, "members": members_json(detail.member_runs)})
    else:
        from orecart.cli import display

        err().print(display.member_table(detail.run, detail.member_runs))
    raise click.exceptions.Exit(run_exit(final))


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}",
                                     param_hint="'--label'")
        labels[name] = text
    return labels


def _submit_notes(tools: Tools, source: Source, run: Run, created: bool) -> None:
    if not created:
        err().print(f"run {run.id} already has key {run.key!r} ({run.status}): not queued "
                    "again", soft_wrap=True, markup=False, highlight=False)
    elif not tools.queue(source).services:
        err().print(f"queued run {run.id}; no `orecart serve` is running on this state store: "
                    "it waits until one starts", soft_wrap=True, markup=False, highlight=False)


def _follow(tools: Tools, source: Source, run_id: str, quiet: bool) -> Run:
    """Print the run's events as they are recorded until it ends; the ended run."""
    for run, events in tools.follow(source, run_id, FOLLOW_POLL_S):  # noqa: B007
        for event in events if not quiet else ():
            _print_event(event)
    return run  # the last one follow() yields: the ended run


#: the events `submit --wait` shows, one line each
_SHOWN = frozenset({"member_started", "member_retrying", "member_finished", "run_finished"})


def _print_event(event: RunEvent) -> None:
    if event.kind not in _SHOWN:
        return
    data = event.data
    subject = data.get("member") or "run"
    status = "retrying" if event.kind == "member_retrying" else data.get("status")
    line = f"{event.at:%H:%M:%S} {subject}: {status}"
    error = data.get("error")
    err().print(printable(f"{line} ({error})" if error else line), soft_wrap=True,
                markup=False, highlight=False)


@app.add(SERVICE)
@run_id_arg
@pipeline_opt
@state_opt
@guarded
def cancel(run_id: str, pipeline: Path, state: str | None) -> None:
    """Cancel a run: a queued one ends at once, a running one is stopped (its running
    members aborted) and ends `cancelled`."""
    run = Tools().cancel(source_of(pipeline, None, None, state), run_id)
    if run.status is RunStatus.CANCELLED:
        out().print(f"run {run.id}: cancelled", markup=False, highlight=False)
    elif run.status.terminal:
        out().print(f"run {run.id} had already ended: {run.status}", markup=False,
                    highlight=False)
        raise click.exceptions.Exit(Exit.FAILED)
    else:
        out().print(f"run {run.id}: cancel asked; the orecart running it stops it within a "
                    "second", markup=False, highlight=False)


@app.add(SERVICE)
@pipeline_opt
@state_opt
@json_opt
@guarded
def queue(pipeline: Path, state: str | None, as_json: bool) -> None:
    """The queued runs (oldest first), the running ones, and the serve processes."""
    view = Tools().queue(source_of(pipeline, None, None, state))
    if as_json:
        print_json({"queued": view.queued, "running": view.running,
                    "services": view.services, "leaders": view.leaders})
        return
    from orecart.cli import display

    out().print(display.queue_table(view))


@app.add(SERVICE)
@run_id_arg
@pipeline_opt
@state_opt
@json_opt
@guarded
def callbacks(run_id: str, pipeline: Path, state: str | None, as_json: bool) -> None:
    """The callback deliveries of a run: event, status, attempts, last answer. The URL
    is shown with its user info and query values hidden."""
    from orecart.secrets import hide_url

    found = Tools().callbacks(source_of(pipeline, None, None, state), run_id)
    rows = [{"event": d.event, "status": str(d.status), "attempts": d.attempts,
             "last_status": d.last_status, "last_error": d.last_error,
             "url": hide_url(d.url), "created_at": d.created_at,
             "delivered_at": d.delivered_at} for d in found]
    if as_json:
        print_json({"deliveries": rows})
        return
    if not rows:
        out().print(f"run {run_id}: no callback deliveries", markup=False, highlight=False)
        return
    for row in rows:
        answer = row["last_status"] if row["last_status"] is not None else "-"
        why = f"  {row['last_error']}" if row["last_error"] else ""
        out().print(printable(f"{row['event']:<10} {row['status']:<10} attempts "
                              f"{row['attempts']}  last {answer}  {row['url']}{why}"),
                    markup=False, highlight=False)
