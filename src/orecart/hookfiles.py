"""Hook modules beside a pipeline file, imported under a private name per pipeline file.

``hooks: [audit]`` may name a module beside the pipeline file. Importing it as plain
``audit``, with the folder appended to ``sys.path``, made two pipelines that each keep an
``audit.py`` share one module (whichever was imported first won) and grew ``sys.path`` by a
folder per pipeline. Here every pipeline file gets its own namespace: ``audit`` beside
``/p/a.yaml`` is imported as ``_orecart_hooks_<hash of /p/a.yaml>_audit`` through
``spec_from_file_location``, and ``sys.path`` is never touched. A package (a folder with
``__init__.py``, or a namespace folder) works as before: ``pkg.mod`` and relative imports
inside it resolve through the package's ``__path__`` under the private name. A plain
``import sibling`` of another module beside the file does not (it never was isolated).

Loading a pipeline file's hooks again drops its earlier modules first, so an edited hook
module is imported fresh (its top module compiled from source, never from a
``__pycache__`` that an edit in the same second would not invalidate), and the modules of
one file never pile up.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import threading
from contextlib import AbstractContextManager
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from pathlib import Path
from types import CodeType, ModuleType

PREFIX = "_orecart_hooks_"

#: one import of a pipeline's hook modules at a time: sys.modules is shared
_IMPORTING = threading.RLock()


def importing() -> AbstractContextManager[bool]:
    """Held across one whole load of a pipeline's hooks (forget, imports, their files),
    so two loads of one file never interleave; the functions here take it too."""
    return _IMPORTING


def namespace(source: Path) -> str:
    """The private module-name prefix of the hooks beside pipeline file ``source``."""
    digest = hashlib.sha256(str(source.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"{PREFIX}{digest}_"


def forget(source: Path) -> None:
    """Drop every hook module imported for pipeline file ``source`` from ``sys.modules``."""
    prefix = namespace(source)
    with _IMPORTING:
        for name in [name for name in sys.modules.copy() if name.startswith(prefix)]:
            del sys.modules[name]


def imported_files(source: Path) -> tuple[Path, ...]:
    """The files of the hook modules imported so far for pipeline file ``source``."""
    prefix = namespace(source)
    with _IMPORTING:
        # a copy first (one C call): another thread may import (add to sys.modules) meanwhile
        modules = [m for name, m in sys.modules.copy().items() if name.startswith(prefix)]
    files: list[str | None] = [getattr(m, "__file__", None) for m in modules]
    return tuple(sorted({Path(file) for file in files if file}))


def is_beside(spec: ModuleSpec | None, folder: Path) -> bool:
    """Whether ``spec`` (a top-level module) is a file or package directly in ``folder``,
    as when the folder is the current directory and so on ``sys.path``."""
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:
        homes = [Path(location).parent for location in spec.submodule_search_locations]
    else:
        homes = [Path(spec.origin).parent] if spec.origin else []
    resolved = folder.resolve()
    return any(home.resolve() == resolved for home in homes)


def import_beside(module_name: str, source: Path) -> ModuleType:
    """Module ``module_name`` (dotted) from beside pipeline file ``source``, privately named.

    Raises ImportError when it is not there, and whatever its code raises."""
    top, _, rest = module_name.partition(".")
    private = namespace(source) + top
    with _IMPORTING:
        module = sys.modules.get(private) or _import_top(top, source.parent, private)
        return importlib.import_module(f"{private}.{rest}") if rest else module


def _import_top(top: str, folder: Path, private: str) -> ModuleType:
    found = PathFinder.find_spec(top, [str(folder.resolve())])
    if found is None:
        raise ModuleNotFoundError(f"No module named {top!r} beside the pipeline file")
    spec = _renamed(found, private)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[private]
        raise
    return module


class _FreshLoader(SourceFileLoader):
    """Compiles the source every time: a ``__pycache__`` entry is trusted by mtime seconds
    and size, so an edit within the same second could run the old code."""

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        return compile(source, self.path, "exec", dont_inherit=True)


def _renamed(found: ModuleSpec, private: str) -> ModuleSpec:
    """``found`` again under the name ``private`` (a loader is bound to its module name)."""
    locations = found.submodule_search_locations
    if found.origin is None or not found.has_location:  # a namespace package: a bare folder
        spec = ModuleSpec(private, None, is_package=True)
        spec.submodule_search_locations = list(locations or [])
        return spec
    located = importlib.util.spec_from_file_location(
        private,
        found.origin,
        loader=_FreshLoader(private, found.origin) if found.origin.endswith(".py") else None,
        submodule_search_locations=list(locations) if locations else None,
    )
    if located is None:  # not a Python file after all (PathFinder found it, so unlikely)
        raise ModuleNotFoundError(f"cannot import {found.origin}")
    return located
