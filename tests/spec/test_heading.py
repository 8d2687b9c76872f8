"""``read_heading``: a pipeline file's name and settings without composing its members
(what reading history needs), with the same answers as the full load."""

from __future__ import annotations

from pathlib import Path

import pytest

from orecart.errors import SpecError
from orecart.spec import load_pipeline
from orecart.spec.heading import read_heading

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*(ROOT / "tests" / "spec" / "examples").glob("*.*"),
                *(ROOT / "examples").glob("*/pipeline.yaml")])
ENV = {"NEO4J_PASSWORD": "pw", "PUBMED_URL": "https://pubmed.example.org",
       "MASYMOS_SOURCE_FILE": "s3"}


def same(path: Path, **kw: object) -> None:
    full = load_pipeline(path, **kw)  # type: ignore[arg-type]
    heading = read_heading(path, **kw)  # type: ignore[arg-type]
    assert (heading.name, heading.settings) == (full.name, full.settings)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_the_examples_give_the_full_loads_name_and_settings(path: Path) -> None:
    same(path, environ=ENV, params={"release": "2024"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, "utf-8")
    return path


def test_settings_after_indentless_members_expand_from_the_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB=postgresql://h/db\n", "utf-8")
    path = write(tmp_path, """# comment
x-cmd: &cmd ["true"]
pipeline: named
members:
- name: a
  run: *cmd
# a comment at column 0 inside the members
- name: b
  run: *cmd
  needs: [a]
settings:
  state: ${DB}
  max_parallel: 3
""")
    heading = read_heading(path, environ={})
    assert (heading.name, heading.settings.state, heading.settings.max_parallel) == (
        "named", "postgresql://h/db", 3)
    same(path, environ={})


def test_an_anchor_inside_the_members_is_read_by_the_full_load(tmp_path: Path) -> None:
    path = write(tmp_path, """members:
  - &first {name: a, run: ["true"]}
settings: {state: "sqlite:///x.db", max_parallel: *first}
""")
    with pytest.raises(SpecError):  # the full load's error: a mapping is no integer
        load_pipeline(path, environ={})
    with pytest.raises(SpecError, match=r"pipeline.yaml:2:.*settings.max_parallel"):
        read_heading(path, environ={})


def test_a_bad_setting_after_the_members_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline: p\nmembers:\n  - {name: a, run: [\"true\"]}\n"
                           "  - {name: b, run: [\"true\"]}\nsettings:\n  max_parallel: many\n")
    with pytest.raises(SpecError, match=r"pipeline.yaml:6:.*settings.max_parallel"):
        read_heading(path, environ={})


def test_a_profile_and_json_give_the_full_loads_answer(tmp_path: Path) -> None:
    path = write(tmp_path, """pipeline: p
settings: {state: "sqlite:///base.db"}
members:
  - {name: a, run: ["true"]}
profiles:
  ci: {settings: {state: "sqlite:///ci.db"}}
""")
    assert read_heading(path, environ={}).settings.state == "sqlite:///base.db"
    assert read_heading(path, profile="ci", environ={}).settings.state == "sqlite:///ci.db"
    as_json = tmp_path / "p.json"
    as_json.write_text('{"pipeline": "j", "members": [{"name": "a", "run": ["true"]}]}')
    assert read_heading(as_json, environ={}).name == "j"


def test_the_members_are_not_composed(tmp_path: Path) -> None:
    """A member the full load refuses does not reach the heading: it never read it (in a
    10,000-member file the members are seconds of work; the rest is milliseconds)."""
    members = "".join(f"  - {{name: m{i}, run: [\"true\"]}}\n" for i in range(200))
    path = write(tmp_path, f"pipeline: big\nmembers:\n{members}  - {{name: bad, bogus: 1}}\n"
                           "settings: {max_parallel: 2}\n")
    with pytest.raises(SpecError, match="bogus"):
        load_pipeline(path, environ={})
    heading = read_heading(path, environ={})
    assert (heading.name, heading.settings.max_parallel) == ("big", 2)


def test_status_reads_history_through_the_heading(tmp_path: Path) -> None:
    """``Tools.status`` of a file whose members changed since the run (one the full load
    refuses) finds the run in the file's own ``settings.state``; the text status reads the
    member runs without the attempts."""
    from orecart.service import RunOptions, Source, Tools

    state = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    path = write(tmp_path, f"pipeline: p\nsettings: {{state: '{state}'}}\nmembers:\n"
                           "  - {name: a, run: [\"true\"]}\n  - {name: b, run: [\"true\"]}\n")
    tools = Tools(environ={})
    assert tools.run(Source(path), RunOptions()).run.status.value == "succeeded"
    path.write_text(path.read_text("utf-8") + "  - {name: c, bogus: 1}\n", "utf-8")
    detail = tools.status(Source(path))
    assert detail is not None and [m.member for m in detail.member_runs] == ["a", "b"]
    assert len(detail.attempts) == 2
    lean = tools.status(Source(path), attempts=False)
    assert lean is not None and lean.attempts == [] and len(lean.member_runs) == 2
