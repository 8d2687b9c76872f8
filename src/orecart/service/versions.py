"""What ``orecart sensors`` and ``orecart versions`` show: each sensor with its state, and
every source version with its execution state (gfe-db's table) and its run history.

A version's state comes from its latest run, read as history reads judge it (a run whose
orecart died is aborted): never asked for -> ``not processed`` (or ``skipped`` under
``latest_only``); a failed run whose loaders all did their work but a check failed ->
``invalid``; else the run's status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orecart.model import Pipeline, Run, RunOutcome, RunStatus
from orecart.notify import outcomes
from orecart.sensing import Sensor, SensorState, SourceVersion, VersionState
from orecart.service.sensing import run_history
from orecart.stores import StateStore


@dataclass(frozen=True)
class SensorView:
    sensor: Sensor
    state: SensorState | None  # None: it never ticked
    versions: int = 0  # versions it saw


@dataclass(frozen=True)
class VersionView:
    version: SourceVersion
    state: VersionState
    runs: list[Run] = field(default_factory=list)  # first queued first


def sensor_views(pipeline: Pipeline, store: StateStore) -> list[SensorView]:
    states = {s.sensor: s for s in store.sensor_states(pipeline.name)}
    counts: dict[str, int] = {}
    for version in store.source_versions(pipeline.name):
        counts[version.sensor] = counts.get(version.sensor, 0) + 1
    return [SensorView(s, states.get(s.name), counts.get(s.name, 0)) for s in pipeline.sensors]


def version_views(pipeline: Pipeline, store: StateStore) -> list[VersionView]:
    """Every version the pipeline's sensors saw (those of sensors since removed too)."""
    versions = store.source_versions(pipeline.name)
    history = run_history(store, pipeline.name, versions)
    return [_view(store, v, history.get(v.key, [])) for v in versions]


def _view(store: StateStore, version: SourceVersion, runs: Sequence[Run]) -> VersionView:
    return VersionView(version, _state(store, version, runs[-1] if runs else None), list(runs))


def _state(store: StateStore, version: SourceVersion, run: Run | None) -> VersionState:
    if run is None:
        return VersionState.SKIPPED if version.skipped else VersionState.NOT_PROCESSED
    if run.status is RunStatus.FAILED and _invalid(store, run):
        return VersionState.INVALID
    return VersionState(str(run.status))


def _invalid(store: StateStore, run: Run) -> bool:
    """Its members did their work, then a check failed (as notifications judge it)."""
    found = outcomes(run, store.member_runs(run.id))
    return RunOutcome.INVALID in found and RunOutcome.FAILED not in found
