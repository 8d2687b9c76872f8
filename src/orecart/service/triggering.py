"""Graph triggers evaluated: a poll reads what is new since a trigger's cursor, claims one
firing per new matching element (the state store's claim decides, so two processes never
fire one element twice) and carries out its action; a failed action waits and is retried.

    poll(ctx, pipeline, trigger, depth)   -> Polled: windows from the cursor (``window``)
                                             -> adopt (after a restore) / claim_firings
                                             -> advance the cursor -> act on each claimed
    retry_due(ctx, pipeline)              -> due_firings -> re-read (``one``) -> act
    act(ctx, pipeline, trigger, firing, values) -> the firing ended: succeeded, waiting
                                             (next_at = now + retry_delay * 2^(n-1)) or failed
    evaluate(ctx, pipeline, triggers)     -> poll each at depth 0; while a write query
                                             fired, again at depth+1; past
                                             ``settings.trigger_depth`` hits are recorded
                                             failed (a cycle ends), never dropped
    Evaluator.poke / wait_run             -> the same in one thread of the service, after
                                             each member's end (``Pokes``) and in ``serve``

A poll that fails records its error on the cursor (shown by ``orecart triggers``) and the
cursor stays. A query action's values are checked against the query's declared types; the
values stored on a firing have their secrets masked (``service.querying.masked_params``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orecart.errors import OrecartError, StateError
from orecart.events import Event, MemberFinished
from orecart.graph.patterns import (
    count,
    elements,
    matching_count,
    matching_ids,
    next_id,
    one,
    window,
)
from orecart.model import MemberStatus, Pipeline
from orecart.planner import Selection
from orecart.querying import Param, ParamType, QueryMode, StoredQuery
from orecart.secrets import Redactor, known_secrets
from orecart.service.querying import find_query, masked_params, run_stored
from orecart.service.requests import RunOptions, RunRequest
from orecart.triggering import (
    Firing,
    FiringStatus,
    QueryAction,
    RunAction,
    Trigger,
    params_key,
    run_key,
)

if TYPE_CHECKING:
    from orecart.graph.connect import GraphConnection
    from orecart.service.core import Service

ORIGIN = "trigger"  # the origin of what a firing runs (a query execution, a run)
WIDTH = 10_000  # ids per window query
#: ids below the cursor read again at each poll: Neo4j hands ids out in batches, so a
#: transaction that commits after a poll may hold a lower id than one the poll saw; the
#: claim skips what already fired, so reading them again costs a read, never a firing
OVERLAP = 1_000
UNFINISHED = "the evaluation stopped before its action ended: outcome unknown"
GONE = "the element is gone or no longer matches the pattern"
#: how long ``orecart run`` waits for its run's trigger evaluation before it exits
RUN_WAIT_S = 60.0


def run_owner(host: str, pid: int) -> str:
    """The owner of the firings an ``orecart run`` (or ``triggers --tick``) carries out;
    ``serve`` owns its own by its service id."""
    return f"run-{host}-{pid}"


def live_run_owners(host: str) -> set[str]:
    """The owners of every process alive on this host, as ``run_owner`` spells them: the
    firings of an ``orecart run`` still running here are not recovered from under it."""
    import psutil  # loaded by the recovery that needs it, not by every command

    return {run_owner(host, pid) for pid in psutil.pids()}


def judged_here(owner: str, host: str) -> bool:
    """Whether this host can tell if ``owner`` is dead: a service (the services table
    says) or an ``orecart run`` of this host (its pid says). An ``orecart run`` of
    another host cannot be judged from here: it counts as live."""
    if not owner.startswith("run-"):
        return True
    pid = owner.removeprefix(f"run-{host}-")
    return pid != owner and pid.isdigit()


def recover_firings(service: Service, live: Collection[str] = ()) -> int:
    """Firings whose process died while it carried them out wait, due now (their outcome
    is unknown, never success); how many. Alive: the live services, ``live``, this
    host's processes and every ``orecart run`` of another host (``judged_here``). Called
    at ``serve``'s start and by ``Service.recover`` (``orecart run``'s start)."""
    store, host = service.store, service.host
    alive = {entry.id for entry in store.services()} | set(live) | live_run_owners(host)
    alive |= {o for o in store.running_owners() if not judged_here(o, host)}
    return store.recover_firings(alive)

Notice = Callable[[str], None]


@dataclass(frozen=True)
class Context:
    """What a poll works with: the service (its store; ``submit`` for run actions), the
    open graph connection, who carries the attempts out, who polls."""

    service: Service
    conn: GraphConnection
    owner: str
    origin: str = "serve"
    #: (pipeline, trigger) -> the element count a poll last saw: kept by the evaluator
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Polled:
    """What one poll of one trigger did: the firings it started and how they ended."""

    trigger: str
    fired: list[Firing] = field(default_factory=list)
    adopted: int = 0
    position: int = -1
    error: str | None = None
    wrote: bool = False  # a write query succeeded: evaluated again, one level deeper
    retried: bool = False  # the due retries of ``trigger``, not a poll


# -- one poll -------------------------------------------------------------------------------


def poll(ctx: Context, pipeline: Pipeline, trigger: Trigger, depth: int = 0) -> Polled:
    """Read the trigger's new elements (and the last ``OVERLAP`` ids again), fire each
    match not fired yet once, advance the cursor."""
    store, now = ctx.service.store, datetime.now(UTC)
    start = store.trigger_cursor(pipeline.name, trigger.name).position
    try:
        top, hits = _read(ctx, pipeline, trigger, max(-1, start - OVERLAP), start)
    except OrecartError as exc:
        store.cursor_error(pipeline.name, trigger.name, str(exc), now)
        return Polled(trigger.name, position=start, error=str(exc))
    found, adopted = _new(ctx, pipeline, trigger, hits, depth, start)
    claimed = store.claim_firings(found)
    fired: list[Firing] = []
    try:
        store.advance_cursor(pipeline.name, trigger.name, max(top, start), now)
        values: dict[int | None, Any] = {h["id"]: h["values"] for h in hits}
        limit = pipeline.settings.trigger_depth
        for f in claimed:
            fired.append(act(ctx, pipeline, trigger, f, values[f.element]) if depth <= limit
                         else _end(ctx, f, FiringStatus.FAILED,
                                   f"trigger depth limit {limit} reached"))
    finally:
        _unfinished(ctx, claimed[len(fired):])
    wrote = writes(pipeline, trigger) and any(f.status is FiringStatus.SUCCEEDED for f in fired)
    return Polled(trigger.name, fired, adopted, top, wrote=wrote)


def _unfinished(ctx: Context, claimed: Sequence[Firing]) -> None:
    """Firings claimed by a poll that stopped (the store failed) before their action
    ended wait, due now, their outcome unknown: best effort, never left running under a
    live owner."""
    now = datetime.now(UTC)
    for firing in claimed:
        if firing.id is None:
            continue
        try:
            ctx.service.store.finish_firing(firing.id, ctx.owner, FiringStatus.WAITING,
                                            error=UNFINISHED, next_at=now)
        except Exception:  # noqa: BLE001, S112 - best effort: the store may be gone
            continue


def writes(pipeline: Pipeline, trigger: Trigger) -> bool:
    """The trigger's action is a write query of the pipeline."""
    action = trigger.action
    return isinstance(action, QueryAction) and any(
        q.name == action.query and q.mode is QueryMode.WRITE for q in pipeline.queries)


def _read(ctx: Context, pipeline: Pipeline, trigger: Trigger, start: int,
          cursor: int) -> tuple[int, list[Any]]:
    """Windows of ``WIDTH`` ids after ``start`` until one holds no element; then, when the
    element count says some were not seen (``_unseen``), the next element's window past a
    gap, or the unfired matches below the cursor. The highest id seen and the hits (their
    values as plain data). ``fresh`` counts the elements past ``cursor`` the windows saw."""
    top, low, fresh = start, start + 1, 0
    hits: list[Any] = []
    unseen: bool | None = None  # judged once, at the first window without an element
    while True:
        text, params = window(trigger, low, low + WIDTH - 1, after=cursor)
        rows = ctx.conn.read(text, **params)
        if rows and rows[0]["top"] is not None:
            top, fresh = max(top, rows[0]["top"]), fresh + rows[0]["fresh"]
            hits += _plain(rows[0]["hits"])
            low += WIDTH
            continue
        if unseen is None:
            unseen = _unseen(ctx, pipeline, trigger, fresh)
        if not unseen:
            return top, hits
        beyond = _next_element(ctx, trigger, low + WIDTH - 1)
        if beyond is None:
            return top, hits + _below(ctx, pipeline, trigger, cursor)
        low = beyond


def _plain(hits: list[Any]) -> list[Any]:
    return [{**h, "values": plain(h["values"])} for h in hits]


def plain(values: Any) -> Any:
    """Driver values as plain data; the driver loads with the first graph read, not with
    the service (``orecart run`` without a graph never imports it)."""
    from orecart.graph.queries import plain as plain_values

    return plain_values(values)


def _unseen(ctx: Context, pipeline: Pipeline, trigger: Trigger, fresh: int) -> bool:
    """Whether elements were added that the windows did not see: the element count
    (Neo4j's count store: constant time) grew by more than the ``fresh`` ones since the
    last poll of this process, or this process never counted (it cannot tell). Such
    elements lie past a gap of ids wider than a window, or took the id of an element
    deleted below the cursor (Neo4j reuses ids)."""
    key = (pipeline.name, trigger.name)
    text, params = count(trigger)
    now = ctx.conn.read(text, **params)[0]["count"]
    seen, ctx.counts[key] = ctx.counts.get(key), now
    return seen is None or now > seen + fresh


def _next_element(ctx: Context, trigger: Trigger, after: int) -> int | None:
    """The lowest id of an element above ``after`` (one scan), None when there is none."""
    text, params = next_id(trigger, after)
    rows = ctx.conn.read(text, **params)
    beyond = rows[0]["next"] if rows else None
    return beyond if isinstance(beyond, int) else None


def _more_than_held(ctx: Context, pipeline: Pipeline, trigger: Trigger, cursor: int) -> bool:
    """Whether more elements up to ``cursor`` match than the trigger has firings (two
    counts): otherwise nothing there is unfired, as far as counts tell, and no sweep runs."""
    text, params = matching_count(trigger, cursor)
    matches = ctx.conn.read(text, **params)[0]["count"]
    held = ctx.service.store.firing_counts(pipeline.name).get(trigger.name, {})
    return bool(matches > sum(n for status, n in held.items()
                              if status != FiringStatus.FORGOTTEN))


def _below(ctx: Context, pipeline: Pipeline, trigger: Trigger, cursor: int) -> list[Any]:
    """The matches up to ``cursor`` no firing holds (one scan of the label or type, then
    the unfired ones read by id): elements that took a deleted element's id."""
    if cursor < 0 or not _more_than_held(ctx, pipeline, trigger, cursor):
        return []
    text, params = matching_ids(trigger, cursor)
    ids = [row["id"] for row in ctx.conn.read(text, **params)]
    held = ctx.service.store.held_elements(pipeline.name, trigger.name, ids)
    unfired = sorted(set(ids) - held)
    hits: list[Any] = []
    for at in range(0, len(unfired), WIDTH):
        text, params = elements(trigger, unfired[at:at + WIDTH])
        rows = ctx.conn.read(text, **params)
        hits += _plain(rows[0]["hits"]) if rows else []
    return hits


def _new(ctx: Context, pipeline: Pipeline, trigger: Trigger, hits: list[Any], depth: int,
         start: int) -> tuple[list[Firing], int]:
    """The firings to claim; after a restore (the cursor at its start, forgotten firings
    kept) a hit whose values equal a forgotten firing's adopts it instead, and what nothing
    adopted is dropped at the end of that first sweep."""
    store = ctx.service.store
    restored = start < 0 and bool(store.firings(pipeline.name, trigger.name,
                                                FiringStatus.FORGOTTEN, limit=1))
    found, adopted = [], 0
    for hit in hits:
        key = params_key(hit["values"])
        if restored and store.adopt_firing(pipeline.name, trigger.name, key, hit["id"],
                                           hit["element"]) is not None:
            adopted += 1
            continue
        shown, _ = masked_params(pipeline, hit["values"])
        found.append(Firing(pipeline.name, trigger.name, hit["id"], hit["element"], shown, key,
                            origin=ctx.origin, depth=depth, owner=ctx.owner))
    if restored:
        store.drop_forgotten(pipeline.name, trigger.name)
    return found, adopted


# -- retries --------------------------------------------------------------------------------


def retry_due(ctx: Context, pipeline: Pipeline) -> list[Firing]:
    """Take the pipeline's due retries and carry each out with the element's current
    values (an element gone or no longer matching: failed, saying so)."""
    triggers = {t.name: t for t in pipeline.triggers}
    done = []
    for firing in ctx.service.store.due_firings(pipeline.name, datetime.now(UTC), ctx.owner):
        trigger = triggers.get(firing.trigger)
        if trigger is None:
            done.append(_end(ctx, firing, FiringStatus.FAILED, "the trigger is no longer "
                                                              "declared"))
            continue
        done.append(_retry(ctx, pipeline, trigger, firing))
    return done


def _retry(ctx: Context, pipeline: Pipeline, trigger: Trigger, firing: Firing) -> Firing:
    text, params = one(trigger, firing.element_id)
    try:
        rows = ctx.conn.read(text, **params)
    except OrecartError as exc:
        return _failed(ctx, trigger, firing, str(exc))
    if not rows:
        return _end(ctx, firing, FiringStatus.FAILED, GONE)
    return act(ctx, pipeline, trigger, firing, plain(rows[0]["hit"]["values"]))


# -- the action -----------------------------------------------------------------------------


def act(ctx: Context, pipeline: Pipeline, trigger: Trigger, firing: Firing,
        values: Mapping[str, Any]) -> Firing:
    """Carry out the firing's action with ``values``; the firing as it ended. A bug on
    the way is a failed attempt (retried by policy), never a firing left running."""
    try:
        return _act(ctx, pipeline, trigger, firing, values)
    except StateError:
        raise  # the store is gone: nothing can be recorded; recovery makes it due again
    except Exception as exc:  # noqa: BLE001 - an internal error is never success
        return _failed(ctx, trigger, firing, f"internal error: {exc!r}")


def _act(ctx: Context, pipeline: Pipeline, trigger: Trigger, firing: Firing,
         values: Mapping[str, Any]) -> Firing:
    if isinstance(trigger.action, QueryAction):
        return _query(ctx, pipeline, trigger, firing, values)
    request = RunRequest(pipeline.name, {k: as_text(v) for k, v in values.items()},
                         key=run_key(trigger.name, firing.element_id),
                         options=RunOptions(_selection(trigger)), origin=ORIGIN,
                         labels={"trigger": trigger.name})
    try:
        submitted = ctx.service.submit(request)
    except OrecartError as exc:
        return _failed(ctx, trigger, firing, Redactor(known_secrets(pipeline))(str(exc)))
    return _end(ctx, firing, FiringStatus.SUCCEEDED, run_id=submitted.run.id)


def _selection(trigger: Trigger) -> Selection:
    member = trigger.action.member if isinstance(trigger.action, RunAction) else None
    return Selection(only=frozenset({member})) if member else Selection()


def _query(ctx: Context, pipeline: Pipeline, trigger: Trigger, firing: Firing,
           values: Mapping[str, Any]) -> Firing:
    try:
        name = trigger.action.query if isinstance(trigger.action, QueryAction) else ""
        stored = find_query(pipeline, name)
        typed = typed_values(stored, trigger, values)
    except OrecartError as exc:
        return _end(ctx, firing, FiringStatus.FAILED, _redacted(pipeline, values, str(exc)))
    answer = run_stored(ctx.service.store, ctx.conn, pipeline, stored, typed, ORIGIN)
    if answer.ok:
        return _end(ctx, firing, FiringStatus.SUCCEEDED)
    return _failed(ctx, trigger, firing, answer.execution.error or "the query failed")


def _redacted(pipeline: Pipeline, values: Mapping[str, Any], text: str) -> str:
    """``text`` with the pipeline's secrets and the mapped values taken for secrets
    (``masked_params``) masked: what a firing's error may hold."""
    _, secret = masked_params(pipeline, values)
    return Redactor(known_secrets(pipeline) | secret)(text)


def _failed(ctx: Context, trigger: Trigger, firing: Firing, error: str) -> Firing:
    """A failed attempt: waiting for its retry while retries are left, else failed."""
    if firing.attempts > trigger.retries:
        return _end(ctx, firing, FiringStatus.FAILED, error)
    delay = trigger.retry_delay * 2 ** (firing.attempts - 1)
    return _end(ctx, firing, FiringStatus.WAITING, error,
                next_at=datetime.now(UTC) + timedelta(seconds=delay))


def _end(ctx: Context, firing: Firing, status: FiringStatus, error: str | None = None,
         run_id: str | None = None, next_at: datetime | None = None) -> Firing:
    if firing.id is not None:
        ctx.service.store.finish_firing(firing.id, ctx.owner, status, error=error,
                                        run_id=run_id, next_at=next_at)
    return Firing(firing.pipeline, firing.trigger, firing.element, firing.element_id,
                  firing.params, firing.params_key, status, firing.attempts, error, run_id,
                  firing.origin, firing.depth, firing.owner, firing.created_at,
                  firing.started_at, datetime.now(UTC), next_at, firing.id)


# -- values ---------------------------------------------------------------------------------


class TriggerValueError(OrecartError):
    """A mapped property's value does not have the type the query declares."""


def typed_values(query: StoredQuery, trigger: Trigger, values: Mapping[str, Any]) -> dict[
        str, Any]:
    """``values`` as the query's declared types; a value of another type is an error that
    names the property and the type (a text is converted as ``-p`` would be)."""
    props = {param: (part, prop) for part, prop, param in trigger.mapping}
    typed = {}
    for param in query.params:
        part, prop = props.get(param.name, (None, param.name))
        where = f"{part}.{prop}" if part else prop
        try:
            typed[param.name] = _typed(param, values.get(param.name))
        except (ValueError, OrecartError):
            raise TriggerValueError(
                f"trigger {trigger.name}: property {where} = {values.get(param.name)!r} "
                f"is not of type {param.spelled} (parameter {param.name} of query "
                f"{query.name})") from None
    return typed


def _typed(param: Param, value: Any) -> Any:
    if param.many:
        if not isinstance(value, list):
            raise ValueError(value)
        return [_scalar(param, v) for v in value]
    return _scalar(param, value)


def _scalar(param: Param, value: Any) -> Any:
    kind = param.type
    if value is None or isinstance(value, list | dict):
        raise ValueError(value)
    if isinstance(value, str) and kind is not ParamType.STR:
        return Param(param.name, kind).convert(value)
    if kind is ParamType.STR and isinstance(value, str):
        return value
    if kind is ParamType.INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is ParamType.FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is ParamType.BOOL and isinstance(value, bool):
        return value
    raise ValueError(value)


def as_text(value: Any) -> str:
    """A mapped value as a run parameter's text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return "" if value is None else str(value)


# -- an evaluation --------------------------------------------------------------------------


def evaluate(ctx: Context, pipeline: Pipeline,
             triggers: Sequence[Trigger] | None = None) -> list[Polled]:
    """Poll ``triggers`` (default: all), take due retries; while a write query fired,
    poll every trigger again one level deeper (past the limit, hits are recorded failed).
    The polls, then the retries (``Polled.retried``)."""
    polled = [poll(ctx, pipeline, t) for t in (pipeline.triggers if triggers is None
                                               else triggers)]
    retried = retry_due(ctx, pipeline)

    wrote = any(p.wrote for p in polled) or any(
        f.status is FiringStatus.SUCCEEDED and writes(pipeline, t) for f in retried
        for t in pipeline.triggers if t.name == f.trigger)
    depth = 0
    while wrote and depth <= pipeline.settings.trigger_depth:
        depth += 1
        deeper = [poll(ctx, pipeline, t, depth) for t in pipeline.triggers]
        polled += deeper
        wrote = any(p.wrote for p in deeper)
    return polled + _retries(retried)


def _retries(retried: Sequence[Firing]) -> list[Polled]:
    """The retried firings as one ``Polled`` per trigger (``retried``): reported and
    judged (a failed one fails ``triggers --tick``) as a poll's firings are."""
    names = dict.fromkeys(f.trigger for f in retried)
    return [Polled(name, [f for f in retried if f.trigger == name], retried=True)
            for name in names]


@dataclass
class _Job:
    pipeline: Pipeline
    triggers: Sequence[Trigger] | None
    runs: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)


class Evaluator:
    """The trigger evaluations of one service, one at a time in a thread of their own,
    so a run's runner never waits for them. A poke for a pipeline whose evaluation is
    still queued joins it (one evaluation covers every member that ended before it
    started).

        poke(pipeline, run_id) -> queued -> _work: evaluate -> done; wait_run(run_id)
    """

    def __init__(self, service: Service, owner: str, origin: str, notice: Notice) -> None:
        self.service, self.owner, self.origin, self.notice = service, owner, origin, notice
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._pending: dict[str, _Job] = {}  # pipeline -> its queued, not started job
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started: list[_Job] = []  # the job under way
        self._counts: dict[tuple[str, str], int] = {}  # Context.counts, across polls

    def poke(self, pipeline: Pipeline, run_id: str | None = None,
             triggers: Sequence[Trigger] | None = None) -> _Job:
        with self._guard:
            job = self._pending.get(pipeline.name)
            if job is None or triggers is not None or job.triggers is not None:
                job = self._pending[pipeline.name] = _Job(pipeline, triggers)
                self._queue.put(job)
            if run_id is not None:
                job.runs.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name="orecart-triggers")
                self._thread.start()
            return job

    def busy(self, pipeline: str) -> bool:
        with self._guard:
            return pipeline in self._pending

    def wait_run(self, run_id: str, timeout: float) -> tuple[bool, list[str]]:
        """Wait for the evaluations poked by ``run_id``: whether they ended within
        ``timeout``, and their errors."""
        deadline = time.monotonic() + timeout
        with self._guard:
            jobs = [j for j in [*self._pending.values(), *self._started] if run_id in j.runs]
        ended = all(j.done.wait(max(0.0, deadline - time.monotonic())) for j in jobs)
        return ended, [error for j in jobs for error in j.errors]

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            with self._guard:
                if self._pending.get(job.pipeline.name) is job:
                    del self._pending[job.pipeline.name]
                self._started = [job]
            try:
                self._evaluate(job)
            finally:
                job.done.set()

    def _evaluate(self, job: _Job) -> None:
        pipeline = job.pipeline
        try:
            conn = self.service.resources.graph(pipeline.graph) if pipeline.graph else None
            if conn is None:
                return
            ctx = Context(self.service, conn, self.owner, self.origin, self._counts)
            for polled in evaluate(ctx, pipeline, job.triggers):
                self._report(job, polled)
        except Exception as exc:  # noqa: BLE001 - an evaluation must not end the service
            why = str(exc) if isinstance(exc, OrecartError) else f"internal error: {exc!r}"
            job.errors.append(f"triggers of {pipeline.name}: {why}")
            self.notice(f"error: {job.errors[-1]}")

    def _report(self, job: _Job, polled: Polled) -> None:
        label = f"trigger {polled.trigger} of {job.pipeline.name}"
        if polled.error:
            job.errors.append(f"{label}: {polled.error}")
            self.notice(f"error: {job.errors[-1]}")
        for firing in polled.fired:
            why = f": {firing.error}" if firing.error else ""
            self.notice(f"{label}: element {firing.element_id} {firing.status}{why}")


class Pokes:
    """The event sink of a run whose pipeline has a graph and triggers: every member's
    end (succeeded or not: a failed member may have written too) pokes the evaluation."""

    def __init__(self, evaluator: Evaluator, pipeline: Pipeline, run_id: str) -> None:
        self.evaluator, self.pipeline, self.run_id = evaluator, pipeline, run_id

    def emit(self, event: Event) -> None:
        if isinstance(event, MemberFinished) and event.member_run.status not in _NOT_RUN:
            self.evaluator.poke(self.pipeline, self.run_id)


_NOT_RUN = frozenset({MemberStatus.SKIPPED, MemberStatus.CANCELLED})


class TriggerLoop:
    """The triggers of ``serve``: each polled every ``every:`` seconds (the first time at
    once), and the due retries of each pipeline with triggers taken every ``RETRY_S``."""

    RETRY_S = 1.0

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._next: dict[tuple[str, str], float] = {}

    def tick(self, pipelines: Iterable[Pipeline]) -> None:
        now = time.monotonic()
        for pipeline in pipelines:
            if pipeline.graph is None or not pipeline.triggers:
                continue
            due = [t for t in pipeline.triggers
                   if now >= self._next.get((pipeline.name, t.name), 0.0)]
            retry = now >= self._next.get((pipeline.name, ""), 0.0)
            if (due or retry) and not self.evaluator.busy(pipeline.name):
                self._poke(pipeline, due, now)

    def _poke(self, pipeline: Pipeline, due: list[Trigger], now: float) -> None:
        """Poke the evaluation; only then are the next times set (a busy pipeline's due
        triggers stay due: none skips an interval)."""
        for trigger in due:
            self._next[(pipeline.name, trigger.name)] = now + trigger.every
        self._next[(pipeline.name, "")] = now + self.RETRY_S
        self.evaluator.poke(pipeline, triggers=due)
