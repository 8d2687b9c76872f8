"""Sensor ticks: a sensor looks at its source, what is new is recorded in the state store
(its cursor, the versions in source order), and every version not yet asked for is
submitted through ``Service.submit`` in that order, with run key ``sensor:<name>:<id>``.

    look(sensor, where, state)            -> Sensed, or the error (I/O: any thread)
    settle(service, pipeline, sensor, looked) -> Ticked (store writes, submits)
    SensorLoop.tick(pipelines)            -> in ``serve``: due looks start in their own
                                             threads; finished ones are settled here

Policy: a version is asked for once; the queue's key then holds it while its run is
queued, running or succeeded (a succeeded version never loads again). A version whose
latest run failed or was aborted is submitted again at the next ticks, up to the
sensor's ``retries``; a cancelled one is the user's decision and stays. ``latest_only``
versions record ``skipped`` and are never asked for. A sensor error is recorded in its
state and shown; the cursor stays, so the next tick tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orecart.errors import OrecartError, SensorError
from orecart.model import Pipeline, Run, RunStatus
from orecart.sensing import Sensor, SensorState, SourceVersion
from orecart.sensors import Sensed, Where, watcher
from orecart.sensors.versions import versions_of
from orecart.service.requests import RunRequest, Submitted
from orecart.service.tools import home_dir

if TYPE_CHECKING:
    from orecart.service.core import Service
    from orecart.stores import StateStore

ORIGIN = "sensor"
#: a version whose latest run ended so is submitted again (while retries are left)
RETRIED = frozenset({RunStatus.FAILED, RunStatus.ABORTED})
#: how long past its timeout a look that still has not answered is reported as hanging
HANG_GRACE_S = 5.0
_BATCH = 500  # run keys per history query

Notice = Callable[[str], None]


@dataclass(frozen=True)
class Ticked:
    """What one tick of one sensor did."""

    pipeline: str
    sensor: str
    added: list[SourceVersion] = field(default_factory=list)  # versions new to the store
    submitted: list[tuple[SourceVersion, Submitted]] = field(default_factory=list)
    error: str | None = None


def where_of(pipeline: Pipeline, environ: dict[str, str]) -> Where:
    """A pipeline's sensors read paths beside its file and cache in its home folder."""
    return Where(pipeline.base_dir, home_dir(pipeline.source, environ) / "sensors" / pipeline.name)


def state_of(store: StateStore, pipeline: str, sensor: Sensor) -> SensorState:
    for state in store.sensor_states(pipeline):
        if state.sensor == sensor.name and state.kind == sensor.kind:
            return state
    return SensorState(pipeline, sensor.name, sensor.kind)  # new, or its kind changed


def look(sensor: Sensor, where: Where, state: SensorState) -> Sensed | SensorError:
    """One look at the source; its error as a value (this runs in any thread)."""
    try:
        return watcher(sensor, where).look(state.cursor, sensor.timeout)
    except SensorError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a watcher's bug must not end the service
        return SensorError(f"{sensor.kind} sensor failed: {type(exc).__name__}: {exc}")


def settle(service: Service, pipeline: Pipeline, sensor: Sensor, state: SensorState,
           looked: Sensed | SensorError) -> Ticked:
    """Record what a look answered and submit what it asks, in source order."""
    store, now = service.store, datetime.now(UTC)
    if isinstance(looked, SensorError):
        store.save_sensor_state(replace(state, error=str(looked), error_at=now))
        return Ticked(pipeline.name, sensor.name, error=str(looked))
    found = versions_of(pipeline.name, sensor, looked.found, now)
    answered = replace(state, cursor=dict(looked.cursor), ticked_at=now, error=None,
                       error_at=None)
    added = store.record_sensing(answered, found)
    submitted, error = submit_due(service, pipeline, sensor)
    if error is not None:
        store.save_sensor_state(replace(answered, error=error, error_at=now))
    return Ticked(pipeline.name, sensor.name, added, submitted, error)


def tick(service: Service, pipeline: Pipeline, sensor: Sensor) -> Ticked:
    """Look and settle, here and now (``orecart sensors --tick``)."""
    state = state_of(service.store, pipeline.name, sensor)
    return settle(service, pipeline, sensor, state,
                  look(sensor, where_of(pipeline, dict(service.config.environ)), state))


def submit_due(service: Service, pipeline: Pipeline,
               sensor: Sensor) -> tuple[list[tuple[SourceVersion, Submitted]], str | None]:
    """Submit, in source order, the sensor's versions never asked for and those whose
    latest run failed or aborted with retries left; stop at the first that cannot be
    queued (its error), so that order holds. Only the store's due versions are read (not
    the settled thousands), and the runs of their keys, so an idle tick stays cheap."""
    store = service.store
    versions = store.due_versions(pipeline.name, sensor.name, sensor.retries)
    latest = latest_runs(store, pipeline.name, [v for v in versions if v.run_id])
    submitted: list[tuple[SourceVersion, Submitted]] = []
    for version in versions:
        run = latest.get(version.key)
        if version.run_id is not None and not _retry(version, run, sensor):
            continue
        try:
            answer = service.submit(_request(pipeline, version))
        except OrecartError as exc:
            return submitted, f"version {version.version} cannot be queued: {exc}"
        store.version_asked(version, answer.run.id, counted=answer.created)
        if answer.created:
            submitted.append((version, answer))
    return submitted, None


def _retry(version: SourceVersion, run: Run | None, sensor: Sensor) -> bool:
    return run is not None and run.status in RETRIED and version.runs <= sensor.retries


def _request(pipeline: Pipeline, version: SourceVersion) -> RunRequest:
    return RunRequest(pipeline.name, params=dict(version.params), key=version.key,
                      origin=ORIGIN, labels={"sensor": version.sensor,
                                             "version": version.version})


def latest_runs(store: StateStore, pipeline: str,
                versions: Sequence[SourceVersion]) -> dict[str, Run]:
    """The latest run of each version's key."""
    return {key: runs[-1] for key, runs in run_history(store, pipeline, versions).items()}


def run_history(store: StateStore, pipeline: str,
                versions: Sequence[SourceVersion]) -> dict[str, list[Run]]:
    """Every run of each version's key, first queued first."""
    keys = [v.key for v in versions]
    history: dict[str, list[Run]] = {}
    for start in range(0, len(keys), _BATCH):
        for run in store.keyed_runs(pipeline, keys[start:start + _BATCH]):
            history.setdefault(run.key or "", []).append(run)
    return history


@dataclass
class _Look:
    pipeline: Pipeline
    sensor: Sensor
    state: SensorState
    future: Future[Sensed | SensorError]
    started: float
    reported: bool = False  # hanging past its timeout: said once


class SensorLoop:
    """The sensors of ``serve``: each is due every ``every:`` seconds (the first time at
    once); its look runs in a thread of its own, so one slow source (a hanging server, a
    slow remote) stalls neither the loop nor the other sensors; a look finished is
    settled in the loop's thread. At most one look per sensor is under way.

        tick(pipelines) -> settle finished looks -> report hanging ones -> start due ones
    """

    def __init__(self, service: Service, notice: Notice) -> None:
        self.service, self.notice = service, notice
        self._next: dict[tuple[str, str], float] = {}
        self._looks: dict[tuple[str, str], _Look] = {}

    def tick(self, pipelines: Iterable[Pipeline]) -> None:
        self._finish()
        now = time.monotonic()
        for pipeline in pipelines:
            for sensor in pipeline.sensors:
                name = (pipeline.name, sensor.name)
                if name not in self._looks and now >= self._next.get(name, 0.0):
                    self._next[name] = now + sensor.every
                    self._start(pipeline, sensor)

    def busy(self) -> bool:
        return bool(self._looks)

    def _start(self, pipeline: Pipeline, sensor: Sensor) -> None:
        try:
            state = state_of(self.service.store, pipeline.name, sensor)
        except OrecartError as exc:
            self.notice(f"error: sensor {sensor.name} of {pipeline.name}: {exc}")
            return
        where = where_of(pipeline, dict(self.service.config.environ))
        future: Future[Sensed | SensorError] = Future()

        def work() -> None:
            future.set_result(look(sensor, where, state))

        threading.Thread(target=work, name=f"sensor-{sensor.name}", daemon=True).start()
        self._looks[(pipeline.name, sensor.name)] = _Look(pipeline, sensor, state, future,
                                                          time.monotonic())

    def _finish(self) -> None:
        for name, entry in list(self._looks.items()):
            if entry.future.done():
                del self._looks[name]
                self._settle(entry)
            elif not entry.reported and time.monotonic() - entry.started > (
                    entry.sensor.timeout + HANG_GRACE_S):
                entry.reported = True
                self._hanging(entry)

    def _hanging(self, entry: _Look) -> None:
        error = f"no answer after {entry.sensor.timeout:g}s; still waiting"
        self.notice(f"error: sensor {entry.sensor.name} of {entry.pipeline.name}: {error}")
        state = replace(entry.state, error=error, error_at=datetime.now(UTC))
        try:
            self.service.store.save_sensor_state(state)
        except OrecartError as exc:
            self.notice(f"error: sensor {entry.sensor.name}: {exc}")

    def _settle(self, entry: _Look) -> None:
        label = f"sensor {entry.sensor.name} of {entry.pipeline.name}"
        try:
            ticked = settle(self.service, entry.pipeline, entry.sensor, entry.state,
                            entry.future.result())
        except OrecartError as exc:
            self.notice(f"error: {label}: {exc}")
            return
        if ticked.error:
            self.notice(f"error: {label}: {ticked.error}")
        for version, answer in ticked.submitted:
            self.notice(f"run {answer.run.id} of {entry.pipeline.name}: queued ({label}: "
                        f"version {version.version}, key {version.key})")
