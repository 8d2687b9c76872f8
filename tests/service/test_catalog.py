"""The service's catalog: pipelines of FILEs and DIRs by name, reloaded on change, the last
good version kept through a broken edit. Real files in a temporary folder, the real spec."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from orecart.errors import NotFoundError, UsageError
from orecart.model import Pipeline
from orecart.service.catalog import Catalog
from orecart.spec import load_pipeline

MOTHERLODE = "CovidGraphPipeline:\n  - {name: JHU, image_repo: covidgraph/data_jhu}\n"
COMPOSE = "services:\n  db:\n    image: postgres:16\n    environment: {POSTGRES_DB: x}\n"


def load(path: Path) -> Pipeline:
    return load_pipeline(path, environ={})


def native(name: str, command: str = "true") -> str:
    return f"pipeline: {name}\nmembers:\n  - {{name: a, run: [{command}]}}\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def age(path: Path, seconds: float = 5.0) -> None:
    """Backdate ``path``, as an edit made a while ago (the catalog trusts settled stamps)."""
    when = path.stat().st_mtime - seconds
    os.utime(path, (when, when))


def test_a_folder_serves_its_pipelines_by_name_and_ignores_other_yaml(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", native("beta"))
    write(tmp_path / "a.yml", native("alpha"))
    write(tmp_path / "docker-compose.yaml", COMPOSE)
    write(tmp_path / "ci.yml", "stages: [test]\nsecrets: {x: 1}\n")
    write(tmp_path / "notes.txt", native("not-yaml-suffix"))
    write(tmp_path / "motherlode.yaml", MOTHERLODE)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "deep.yaml", native("deep"))  # not recursive
    catalog = Catalog([tmp_path], load)
    done = catalog.refresh()
    assert done.loaded == ["CovidGraphPipeline", "alpha", "beta"]
    assert (done.removed, done.errors, catalog.problems()) == ([], [], [])
    assert [entry.pipeline.name for entry in catalog.entries()] == done.loaded
    entry = catalog.get("alpha")
    assert entry.file == (tmp_path / "a.yml").resolve() and entry.error is None
    assert catalog.refresh() == type(done)([], [], [])  # nothing changed, nothing to say


def test_an_unknown_name_names_the_served_pipelines(tmp_path: Path) -> None:
    catalog = Catalog([write(tmp_path / "p.yaml", native("alpha"))], load)
    catalog.refresh()
    with pytest.raises(NotFoundError, match=r"'gamma' .*served: alpha\)"):
        catalog.get("gamma")


def test_a_path_that_does_not_exist_refuses_at_construction(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="piplines: no such file or directory"):
        Catalog([tmp_path / "piplines"], load)


def test_a_broken_edit_keeps_the_last_good_version_and_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", native("alpha", "echo"))
    catalog = Catalog([tmp_path], load)
    catalog.refresh()
    good = catalog.get("alpha")
    write(path, native("alpha", "echo") + "  - {name: b, run: [true], neds: [a]}\n")
    done = catalog.refresh()
    assert done.loaded == [] and len(done.errors) == 1
    assert done.errors[0].file == path.resolve()
    assert "p.yaml:4:" in done.errors[0].error and "neds" in done.errors[0].error
    served = catalog.get("alpha")
    assert served.pipeline == good.pipeline and served.digest == good.digest
    assert served.error == done.errors[0].error
    assert catalog.problems() == []  # it has a good version: an entry's error, no problem
    age(path)
    assert catalog.refresh().errors == []  # the same error is not reported again
    write(path, native("alpha", "date"))
    fixed = catalog.refresh()
    assert (fixed.loaded, fixed.errors) == (["alpha"], [])
    assert catalog.get("alpha").error is None
    assert catalog.get("alpha").pipeline.members[0].run == ("date",)


def test_a_touch_reloads_nothing_and_an_edit_of_the_same_size_reloads(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", native("alpha", "aaaa"))
    loads: list[Path] = []
    catalog = Catalog([path], lambda file: loads.append(file) or load(file))
    catalog.refresh()
    first = catalog.get("alpha")
    path.touch()
    assert catalog.refresh().loaded == []
    assert catalog.get("alpha").loaded_at == first.loaded_at and len(loads) == 1
    write(path, native("alpha", "bbbb"))  # same size, maybe the same mtime tick
    assert catalog.refresh().loaded == ["alpha"]
    assert catalog.get("alpha").pipeline.members[0].run == ("bbbb",) and len(loads) == 2
    age(path)
    for _ in range(3):
        catalog.refresh()  # settled and unchanged: not even read
    assert len(loads) == 2


def test_the_env_file_beside_it_is_part_of_its_version(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "pipeline: alpha\nenv: {WHO: '${WHO}'}\n"
                 "members:\n  - {name: a, run: ['true']}\n")
    write(tmp_path / ".env", "WHO=first\n")
    catalog = Catalog([path], load)
    catalog.refresh()
    assert catalog.get("alpha").pipeline.env == {"WHO": "first"}
    write(tmp_path / ".env", "WHO=second\n")
    assert catalog.refresh().loaded == ["alpha"]
    assert catalog.get("alpha").pipeline.env == {"WHO": "second"}


def test_new_files_are_picked_up_and_deleted_ones_removed(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", native("alpha"))
    catalog = Catalog([tmp_path], load)
    catalog.refresh()
    write(tmp_path / "b.yaml", native("beta"))
    assert catalog.refresh().loaded == ["beta"]
    (tmp_path / "a.yaml").unlink()
    done = catalog.refresh()
    assert (done.loaded, done.removed) == ([], ["alpha"])
    assert [entry.pipeline.name for entry in catalog.entries()] == ["beta"]


def test_a_file_with_no_good_version_is_a_problem_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "pipeline: bad\nmembers:\n  - {name: a, rnu: [x]}\n")
    write(tmp_path / "broken.yaml", "pipeline: [unclosed\n")
    catalog = Catalog([tmp_path], load)
    done = catalog.refresh()
    assert [p.file.name for p in done.errors] == ["bad.yaml", "broken.yaml"]
    assert done.errors[0].error.startswith(f"{path.resolve()}:3:")
    assert "rnu" in done.errors[0].error and "Traceback" not in done.errors[0].error
    assert catalog.problems() == done.errors and catalog.entries() == []


def test_a_name_clash_keeps_the_first_file_and_names_both(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", native("same"))
    second = write(tmp_path / "b.yaml", "# the same name again\n" + native("same"))
    catalog = Catalog([tmp_path], load)
    done = catalog.refresh()
    assert done.loaded == ["same"] and catalog.get("same").file.name == "a.yaml"
    (problem,) = done.errors
    assert problem.file == second.resolve()
    assert problem.error.startswith(f"{second.resolve()}:2:1: pipeline: ")
    assert str((tmp_path / "a.yaml").resolve()) in problem.error
    assert catalog.problems() == [problem]
    (tmp_path / "a.yaml").unlink()
    taken = catalog.refresh()
    assert (taken.loaded, taken.removed) == (["same"], [])
    assert catalog.get("same").file.name == "b.yaml" and catalog.problems() == []


def test_the_serving_file_keeps_its_name_when_an_earlier_file_claims_it(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", native("same"))
    catalog = Catalog([tmp_path], load)
    catalog.refresh()
    write(tmp_path / "a.yaml", native("same"))
    done = catalog.refresh()
    assert done.loaded == [] and [p.file.name for p in done.errors] == ["a.yaml"]
    assert catalog.get("same").file.name == "b.yaml"


def test_a_renamed_pipeline_replaces_its_old_name(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", native("old"))
    catalog = Catalog([path], load)
    catalog.refresh()
    write(path, native("new"))
    done = catalog.refresh()
    assert (done.loaded, done.removed) == (["new"], ["old"])


def test_readers_see_whole_snapshots_while_it_refreshes(tmp_path: Path) -> None:
    """A reader's entries() is always one snapshot: never a half-applied refresh."""
    for index in range(12):
        write(tmp_path / f"p{index:02}.yaml", native(f"p{index:02}"))
    catalog = Catalog([tmp_path], load)
    catalog.refresh()
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            versions = {entry.pipeline.members[0].run for entry in catalog.entries()}
            seen.add(len(versions))
            time.sleep(0.0005)  # let the refresh have the GIL most of the time

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for command in ("one", "two", "three"):
            for index in range(12):
                write(tmp_path / f"p{index:02}.yaml", native(f"p{index:02}", command))
            catalog.refresh()
    finally:
        stop.set()
        reader.join()
    assert seen == {1}


def test_a_hostile_file_in_a_folder_is_a_problem_found_fast(tmp_path: Path) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    write(tmp_path / "laughs.yaml", laughs)
    write(tmp_path / "ok.yaml", native("fine"))
    catalog = Catalog([tmp_path], load)
    began = time.monotonic()
    done = catalog.refresh()
    assert time.monotonic() - began < 5
    assert done.loaded == ["fine"] and [p.file.name for p in done.errors] == ["laughs.yaml"]
    assert "laughs.yaml:" in done.errors[0].error
