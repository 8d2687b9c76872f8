"""Hooks, loaded once per pipeline version and isolated per pipeline file: real modules in
temporary folders, really imported, called through the real plugin manager."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orecart.errors import SpecError
from orecart.events import RunStarted
from orecart.hookfiles import PREFIX
from orecart.hooks import HookSet, HookSink
from orecart.model import Pipeline, Run, RunStatus
from orecart.service.catalog import Catalog
from orecart.spec import load_pipeline

RECORDING_HOOK = (
    "from pathlib import Path\n"
    "from orecart.hooks import hookimpl\n"
    "SAYS = {says!r}\n"
    "@hookimpl\n"
    "def before_pipeline_run(run, pipeline):\n"
    "    with Path({log!r}).open('a') as f:\n"
    "        f.write(pipeline.name + ' ' + SAYS + '\\n')\n"
)


def pipeline_with_hooks(folder: Path, name: str, hooks: str = "hooks") -> Pipeline:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(f"pipeline: {name}\nhooks: [{hooks}]\nmembers:\n  - {{name: a, run: [x]}}\n")
    return load_pipeline(path, environ={})


def start(hooks: HookSet, pipeline: Pipeline) -> list[str]:
    sink = HookSink(hooks.manager, pipeline)
    sink.emit(RunStarted(Run("r1", pipeline.name, RunStatus.RUNNING)))
    return sink.errors


def write_hook(folder: Path, log: Path, says: str, name: str = "hooks.py") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(RECORDING_HOOK.format(says=says, log=str(log)))


def test_two_pipelines_with_a_hooks_module_of_one_name_each_call_their_own(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls.log"
    write_hook(tmp_path / "one", log, "from one")
    write_hook(tmp_path / "two", log, "from two")
    path_before = list(sys.path)
    first = pipeline_with_hooks(tmp_path / "one", "first")
    second = pipeline_with_hooks(tmp_path / "two", "second")
    hooks = [HookSet.load(first), HookSet.load(second)]
    assert start(hooks[0], first) == [] and start(hooks[1], second) == []
    assert log.read_text().splitlines() == ["first from one", "second from two"]
    assert sys.path == path_before
    assert "hooks" not in sys.modules
    assert hooks[0].files == ((tmp_path / "one" / "hooks.py").resolve(),)


def test_a_hook_package_beside_the_file_with_a_dotted_path_and_relative_imports(
    tmp_path: Path,
) -> None:
    package = tmp_path / "audit"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "words.py").write_text("WORD = 'packaged'\n")
    (package / "plugin.py").write_text(
        "from pathlib import Path\nfrom orecart.hooks import hookimpl\nfrom .words import WORD\n"
        "class Plugin:\n"
        "    @hookimpl\n"
        "    def before_pipeline_run(self, run, pipeline):\n"
        f"        Path({str(tmp_path / 'seen')!r}).write_text(WORD)\n"
        "PLUGIN = Plugin()\n"
    )
    pipeline = pipeline_with_hooks(tmp_path, "pkg", "'audit.plugin:PLUGIN'")
    assert start(HookSet.load(pipeline), pipeline) == []
    assert (tmp_path / "seen").read_text() == "packaged"
    assert "audit" not in sys.modules and "audit.words" not in sys.modules


def test_an_installed_module_comes_before_one_beside_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    write_hook(tmp_path / "site", log, "installed", "orecart_test_shared_hook.py")
    write_hook(tmp_path / "here", log, "beside", "orecart_test_shared_hook.py")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    pipeline = pipeline_with_hooks(tmp_path / "here", "p", "orecart_test_shared_hook")
    try:
        assert start(HookSet.load(pipeline), pipeline) == []
    finally:
        sys.modules.pop("orecart_test_shared_hook", None)
    assert log.read_text().splitlines() == ["p installed"]


def test_the_folder_of_the_current_directory_still_gets_private_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m orecart`` puts the current directory on sys.path: a hooks.py there is
    still the pipeline's own, not a shared ``hooks`` module another pipeline would get."""
    log = tmp_path / "calls.log"
    write_hook(tmp_path / "cwd", log, "from cwd")
    write_hook(tmp_path / "other", log, "from other")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.syspath_prepend(str(tmp_path / "cwd"))
    here = pipeline_with_hooks(tmp_path / "cwd", "here")
    hooks = HookSet.load(here)
    assert start(hooks, here) == []
    assert "hooks" not in sys.modules
    assert log.read_text().splitlines() == ["here from cwd"]


def test_loading_again_imports_the_edited_module_and_drops_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # a __pycache__ as users have it
    log = tmp_path / "calls.log"
    write_hook(tmp_path, log, "old")
    pipeline = pipeline_with_hooks(tmp_path, "p")
    old = HookSet.load(pipeline)
    write_hook(tmp_path, log, "new")
    new = HookSet.load(pipeline)
    start(new, pipeline)
    start(old, pipeline)  # a run of the old version keeps its own hooks
    assert log.read_text().splitlines() == ["p new", "p old"]
    assert len([name for name in sys.modules if name.startswith(PREFIX)]) >= 1
    private = [name for name in sys.modules if name.startswith(PREFIX) and "hooks" in name]
    HookSet.load(pipeline)
    assert [name for name in sys.modules if name.startswith(PREFIX) and "hooks" in name] == \
        private  # no pile-up


def test_a_hook_whose_import_fails_is_a_spec_error_naming_file_and_hook(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text("raise RuntimeError('no config for the hook')\n")
    pipeline = pipeline_with_hooks(tmp_path, "p")
    with pytest.raises(SpecError) as caught:
        HookSet.load(pipeline)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'pipeline.yaml'}: hooks: cannot load hook 'hooks'")
    assert "no config for the hook" in message
    assert not [name for name in sys.modules if name.startswith(PREFIX) and "hooks" in name
                and str(tmp_path) in str(getattr(sys.modules[name], "__file__", ""))]


def test_the_catalog_reloads_a_pipeline_when_its_hook_module_changes(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    write_hook(tmp_path, log, "v1")
    pipeline_with_hooks(tmp_path, "p")
    catalog = Catalog([tmp_path / "pipeline.yaml"], lambda p: load_pipeline(p, environ={}))
    catalog.refresh()
    first = catalog.get("p")
    write_hook(tmp_path, log, "version-2")
    assert catalog.refresh().loaded == ["p"]
    second = catalog.get("p")
    start(second.hooks, second.pipeline)
    start(first.hooks, first.pipeline)
    assert log.read_text().splitlines() == ["p version-2", "p v1"]
    (tmp_path / "hooks.py").write_text("raise ValueError('broken hook edit')\n")
    done = catalog.refresh()
    assert "broken hook edit" in done.errors[0].error
    assert catalog.get("p").hooks is second.hooks  # the last good version's hooks stay
    assert catalog.problems() == []  # it has a good version: an entry's error


def test_two_pipelines_run_in_one_process_each_call_their_own_hooks(tmp_path: Path) -> None:
    """The whole run path (service, runner, hook sink), twice in this process."""
    from orecart.service import Source, Tools

    log = tmp_path / "calls.log"
    for name in ("one", "two"):
        write_hook(tmp_path / name, log, f"from {name}")
        (tmp_path / name / "pipeline.yaml").write_text(
            f"pipeline: {name}\nhooks: [hooks]\nmembers:\n  - {{name: a, run: ['true']}}\n"
        )
    service = Tools(environ={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    outcomes = [service.run(Source(tmp_path / name / "pipeline.yaml")) for name in ("one", "two")]
    assert [(o.ok, o.notes) for o in outcomes] == [(True, []), (True, [])]
    assert log.read_text().splitlines() == ["one from one", "two from two"]
    assert "hooks" not in sys.modules
