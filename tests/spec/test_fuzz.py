"""Hostile and malformed pipeline files, generated: each is loaded or refused with a
SpecError that names file:line:col, within a time and memory budget; and the names derived
from the member names of any pipeline that loads never collide."""

from __future__ import annotations

import string
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orecart.environ import input_variable
from orecart.errors import SpecError
from orecart.executors.containers import member_name, sidecar_name
from orecart.model import Pipeline
from orecart.spec import load_pipeline
from orecart.spec.expand import MAX_NESTING
from tests.spec.test_malformed import CORPUS, EXPECTED

SECONDS = 2.0  # CPU per file
MEGABYTES = 200  # peak growth of traced memory per file
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file the examples overwrite (hypothesis reruns a test, not its fixtures)."""
    return tmp_path_factory.mktemp("fuzz") / "pipeline.yaml"


def _within_budget(load: Callable[[], object]) -> SpecError | None:
    """Load, returning the SpecError (None if it loaded); fail past the budget."""
    tracemalloc.start()
    started = time.process_time()
    try:
        load()
        error = None
    except SpecError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    elapsed = time.process_time() - started
    assert elapsed < SECONDS * 3, f"took {elapsed:.2f}s of CPU (traced)"  # tracing is slow
    assert peak < MEGABYTES * 2**20, f"peak {peak / 2**20:.0f} MB"
    return error


def _refused_with_location(path: Path, content: str | bytes) -> SpecError | None:
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    path.write_bytes(content)
    error = _within_budget(lambda: load_pipeline(path, environ={}))
    if error is not None:
        assert error.location is not None and error.location.file == str(path)
        assert error.location.line >= 1 and error.location.column >= 1, str(error)
    return error


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_corpus_file_is_refused_within_the_budget(name: str) -> None:
    case = EXPECTED[name]
    profile = case.get("profile") if isinstance(case, dict) else None
    error = _within_budget(lambda: load_pipeline(CORPUS / name, profile=profile, environ={}))
    assert error is not None and error.location is not None and error.location.line >= 1


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_load_or_are_refused_with_a_location(pipeline_file: Path, data: bytes) -> None:
    _refused_with_location(pipeline_file, data)


_YAML_ALPHABET = st.sampled_from(list("[]{}:,-?&*!|>'\"#%@` \n\t\\$") + list("ab1.\x00\x85\ufeff"))


@FUZZ
@given(st.text(_YAML_ALPHABET, max_size=200))
def test_yaml_punctuation_loads_or_is_refused_with_a_location(
    pipeline_file: Path, text: str
) -> None:
    _refused_with_location(pipeline_file, "members:\n  - {name: a, run: x}\nx-y: " + text)


@FUZZ
@given(st.integers(1, 3000), st.sampled_from(["flow", "block", "mapping"]))
def test_nesting_of_any_depth_is_refused_past_the_limit(
    pipeline_file: Path, depth: int, style: str
) -> None:
    nested = {
        "flow": "[" * depth + "]" * depth,
        "block": "- " * depth + "x",
        "mapping": "{a: " * depth + "1" + "}" * depth,
    }[style]
    error = _refused_with_location(
        pipeline_file, f"members:\n  - name: a\n    run: x\nx-deep:\n  {nested}\n"
    )
    assert (error is None) == (depth < 100), error  # the root holds the first 99 levels


@FUZZ
@given(st.integers(2, 12), st.integers(2, 12))
def test_alias_bombs_are_refused_before_they_cost(
    pipeline_file: Path, width: int, levels: int
) -> None:
    lines = ["x-0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"x-{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    expect = f"*l{levels - 1}"
    check = f"{{name: c, query: q, expect: {expect}}}"
    lines.append(f"members:\n  - {{name: a, run: x, checks: [{check}]}}")
    text = "\n".join(lines) + "\n"
    error = _refused_with_location(pipeline_file, text)
    if width**levels > 200_000:
        assert error is not None and "aliases expand the document past" in error.message


@FUZZ
@given(st.integers(1, 600))
def test_nested_defaults_are_refused_past_the_limit(pipeline_file: Path, depth: int) -> None:
    run = "${A:-" * depth + "x" + "}" * depth
    error = _refused_with_location(pipeline_file, f"members:\n  - name: a\n    run: '{run}'\n")
    assert (error is None) == (depth <= MAX_NESTING), error


_NAME = st.text(string.ascii_letters + string.digits + "_.-\x00 /é", min_size=1, max_size=230)


def _members(names: list[str]) -> Iterator[str]:
    yield "members:"
    for name in names:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\0")
        yield f'  - {{name: "{quoted}", image: busybox}}'


@FUZZ
@given(st.lists(_NAME, min_size=1, max_size=6))
def test_derived_names_of_any_loaded_pipeline_are_distinct(
    pipeline_file: Path, names: list[str]
) -> None:
    text = "\n".join(_members(names)) + "\n"
    error = _refused_with_location(pipeline_file, text)
    if error is not None:
        return
    _assert_derived_names_distinct(load_pipeline(pipeline_file, environ={}))


def _assert_derived_names_distinct(pipeline: Pipeline) -> None:
    names = pipeline.names
    runs = Path("/base/runs/run1")
    folders = {(runs / name).resolve() for name in names}
    assert len(folders) == len(names) and all(f.parent == runs for f in folders)
    assert runs / "logs" not in folders
    assert len({str(f).lower() for f in folders}) == len(names)  # case-insensitive disks
    assert len({input_variable(name) for name in names}) == len(names)
    assert len({member_name("run1", name, 1) for name in names}) == len(names)
    assert all(len(name) <= 100 and "\x00" not in name for name in names)


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=250), st.text(max_size=250), st.integers(1, 3)),
                min_size=2, max_size=8, unique=True))
def test_container_names_are_injective_and_valid(parts: list[tuple[str, str, int]]) -> None:
    made = [member_name("run1", m, a) for m, a in {(m, a) for m, _, a in parts}]
    made += [sidecar_name("run1", m, s, a) for m, s, a in parts]
    assert len(set(made)) == len(made)
    alphabet = set(string.ascii_letters + string.digits + "_.-")
    assert all(set(name) <= alphabet and len(name) <= 200 for name in made)


def test_names_that_sanitize_or_cut_alike_get_their_own_containers() -> None:
    long = "a" * 170
    pairs = [("x", "x."), (long + "1", long + "2"), ("a-b", "a")]
    for first, second in pairs:
        assert member_name("run1", first, 1) != member_name("run1", second, 1)
    assert member_name("run1", "a-b", 1) != sidecar_name("run1", "a", "b", 1)


def test_real_member_names_still_load() -> None:
    """Every name of the shipped Motherlode and native examples fits the grammar."""
    here = Path(__file__).parent
    files = [here / "examples" / "motherlode.yaml", here / "examples" / "covidgraph.yaml"]
    env = {"MASYMOS_SOURCE_FILE": "s3", "PUBMED_URL": "ftp://x", "NEO4J_PASSWORD": "p"}
    for path in files:
        _assert_derived_names_distinct(load_pipeline(path, params={"release": "1"}, environ=env))
    root = here.parent.parent / "examples" / "motherlode" / "pipeline.yaml"
    _assert_derived_names_distinct(load_pipeline(root, environ={}))
