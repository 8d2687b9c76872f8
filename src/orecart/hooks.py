"""Plugins called around runs and member runs, through pluggy.

Hook implementations come from the ``orecart`` entry-point group and from the pipeline's
``hooks:`` list (dotted module paths, or ``module:object``): an installed module first,
else one beside the pipeline file, imported under a name private to that file
(``orecart.hookfiles``), so two pipelines' ``hooks.py`` never collide. ``HookSet.load``
imports them once per pipeline version; ``HookSink`` calls them during one run. A hook
that raises does not stop the run: the error is kept and reported once the run is over.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from orecart.errors import Location, SpecError, UsageError
from orecart.events import Event, MemberFinished, MemberStarted, RunFinished, RunStarted
from orecart.hookfiles import forget, import_beside, imported_files, importing, is_beside
from orecart.model import MemberRun, MemberStatus, Pipeline, Run, RunStatus

PROJECT = "orecart"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

_MEMBER_ERRORS = frozenset({MemberStatus.FAILED, MemberStatus.ERRORED, MemberStatus.ABORTED})


class HookSpecs:
    """The hooks a plugin may implement (all optional)."""

    @hookspec
    def before_pipeline_run(self, run: Run, pipeline: Pipeline) -> None:
        """A run starts."""

    @hookspec
    def after_pipeline_run(self, run: Run, pipeline: Pipeline) -> None:
        """A run ended, whatever its status."""

    @hookspec
    def on_pipeline_error(self, run: Run, pipeline: Pipeline) -> None:
        """A run ended failed or aborted."""

    @hookspec
    def before_member_run(self, member_run: MemberRun, attempt: int) -> None:
        """An attempt of a member run starts."""

    @hookspec
    def after_member_run(self, member_run: MemberRun) -> None:
        """A member run reached its final status (skipped and cancelled included)."""

    @hookspec
    def on_member_error(self, member_run: MemberRun) -> None:
        """A member run ended failed, errored or aborted."""


@dataclass(frozen=True)
class HookSet:
    """The hook plugins of one pipeline version, imported once.

    A long-lived service builds it when it (re)loads a pipeline file and hands its manager
    to every run of that version: nothing is imported per run, and a reloaded file gets
    freshly imported hooks. ``files`` are the hook modules' files from beside the pipeline
    file, so a watcher can reload the pipeline when one of them is edited.
    """

    manager: pluggy.PluginManager
    files: tuple[Path, ...] = ()

    @classmethod
    def load(cls, pipeline: Pipeline) -> HookSet:
        """Hooks from installed packages (entry points) and from the pipeline's ``hooks:``;
        a hook that cannot be imported is a SpecError naming the file and the hook."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(HookSpecs)
        _load_entry_points(manager)
        with importing():  # one load of a file's hooks at a time: forget, import, list
            forget(pipeline.source)  # an earlier version's modules: this one imports afresh
            for path in pipeline.hooks:
                manager.register(_load(path, pipeline), name=path)
            return cls(manager, imported_files(pipeline.source))


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    try:
        manager.load_setuptools_entrypoints(PROJECT)
    except Exception as exc:  # an installed plugin's own import failed: foreign code
        raise UsageError(f"cannot load the installed hook plugins ({PROJECT!r} entry "
                         f"points): {exc!r}") from exc


def _load(path: str, pipeline: Pipeline) -> Any:
    """Import a hook from an installed package or, privately named, from beside the file
    (the precedence ``findable`` checks); ``sys.path`` stays as it is."""
    module_name, _, attribute = path.partition(":")
    try:
        module = _import(module_name, pipeline.source)
        return getattr(module, attribute) if attribute else module
    except Exception as exc:  # ImportError, AttributeError, or whatever its code raised
        where = Location(str(pipeline.source))
        raise SpecError(f"cannot load hook {path!r}: {exc!r}", where, "hooks") from exc


def _import(module_name: str, source: Path) -> ModuleType:
    top = module_name.partition(".")[0]
    installed = _installed_spec(top)
    if installed is not None and not is_beside(installed, source.parent):
        return importlib.import_module(module_name)
    return import_beside(module_name, source)


def _installed_spec(name: str) -> ModuleSpec | None:
    module = sys.modules.get(name)
    if module is not None:
        return module.__spec__
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def findable(path: str, folder: Path) -> bool:
    """Whether the module of hook ``path`` can be found where ``_load`` looks (installed
    packages, then ``folder``), without importing, so without running any of its code."""
    names = path.partition(":")[0].split(".")
    spec = _top_spec(names[0], folder)
    for index in range(1, len(names)):
        locations = spec.submodule_search_locations if spec is not None else None
        if locations is None:
            return False
        spec = PathFinder.find_spec(".".join(names[: index + 1]), list(locations))
    return spec is not None


def _top_spec(name: str, folder: Path) -> ModuleSpec | None:
    return _installed_spec(name) or PathFinder.find_spec(name, [str(folder.resolve())])


class HookSink:
    """An EventSink that calls the hooks; their errors are collected, not raised."""

    def __init__(self, manager: pluggy.PluginManager, pipeline: Pipeline) -> None:
        self.hook = manager.hook
        self.pipeline = pipeline
        self.errors: list[str] = []

    @property
    def wanted(self) -> bool:
        """Whether any plugin implements a hook: without one the run need not deliver it
        its events (a thread woken several times per member, for nothing)."""
        return any(caller.get_hookimpls() for _, caller in vars(self.hook).items()
                   if hasattr(caller, "get_hookimpls"))

    def emit(self, event: Event) -> None:
        try:
            self._dispatch(event)
        except Exception as exc:  # a plugin's bug must not take the run down
            self.errors.append(f"hook failed: {type(event).__name__}: {exc!r}")

    def _dispatch(self, event: Event) -> None:
        match event:
            case RunStarted(run):
                self.hook.before_pipeline_run(run=run, pipeline=self.pipeline)
            case RunFinished(run):
                self.hook.after_pipeline_run(run=run, pipeline=self.pipeline)
                if run.status in (RunStatus.FAILED, RunStatus.ABORTED):
                    self.hook.on_pipeline_error(run=run, pipeline=self.pipeline)
            case MemberStarted(member_run, attempt):
                self.hook.before_member_run(member_run=member_run, attempt=attempt)
            case MemberFinished(member_run):
                self.hook.after_member_run(member_run=member_run)
                if member_run.status in _MEMBER_ERRORS:
                    self.hook.on_member_error(member_run=member_run)
