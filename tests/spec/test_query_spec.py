"""`queries:` in the native format: typed parameters, each `$name` declared and each
declared parameter used (errors name file, line and field), and the conversion of `-p`
texts to the declared types."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from orecart.errors import SpecError, UsageError
from orecart.querying import Param, ParamType, QueryMode, referenced
from orecart.spec import load_pipeline

HEAD = "pipeline: q\nmembers:\n  - name: load\n    run: [echo, hi]\nqueries:\n"


def load(tmp_path: Path, queries: str) -> object:
    path = tmp_path / "pipeline.yaml"
    path.write_text(HEAD + queries)
    return load_pipeline(path, environ={})


def refused(tmp_path: Path, queries: str) -> str:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, queries)
    return str(caught.value)


def test_the_issue_example_loads_as_written(tmp_path: Path) -> None:
    pipeline = load(tmp_path, """\
  - name: launch-ubam
    cypher: "CREATE (:Job {kind: 'ubam', sample: $sample, group: $read_group})"
    params: {sample: str, read_group: str}
    mode: write
  - name: count
    cypher: "MATCH (j:Job) WHERE j.day IN $days RETURN count(j)"
    params: {days: "list[date]"}
""")
    ubam, count = pipeline.queries  # type: ignore[attr-defined]
    assert ubam.mode is QueryMode.WRITE and count.mode is QueryMode.READ
    assert ubam.params == (Param("sample", ParamType.STR), Param("read_group", ParamType.STR))
    assert count.params == (Param("days", ParamType.DATE, many=True),)


def test_an_undeclared_parameter_is_named_with_its_line(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
  - name: jobs
    cypher: "MATCH (j:Job {sample: $sample}) RETURN j"
    params: {smaple: str}
""")
    assert "pipeline.yaml:7:" in message and "queries[jobs].cypher" in message
    assert "$sample is not a declared parameter" in message


def test_a_declared_parameter_never_used_is_named_with_its_line(tmp_path: Path) -> None:
    message = refused(tmp_path, """\
  - name: jobs
    cypher: "MATCH (j:Job {sample: $sample}) RETURN j"
    params:
      sample: str
      group: str
""")
    assert "pipeline.yaml:10:" in message and "queries[jobs].params.group" in message
    assert "'group' is not used" in message


def test_unknown_types_modes_and_duplicate_names_are_refused(tmp_path: Path) -> None:
    assert "'[int]' is not a type: a list is written list[int]" in refused(tmp_path, """\
  - name: a
    cypher: "RETURN $x"
    params: {x: "[int]"}
""")
    assert "'delete' is not 'read' or 'write'" in refused(tmp_path, """\
  - name: a
    cypher: "RETURN 1"
    mode: delete
""")
    assert "duplicate query name 'a' (first at line 6)" in refused(tmp_path, """\
  - name: a
    cypher: "RETURN 1"
  - name: a
    cypher: "RETURN 2"
""")


def test_parameters_in_strings_comments_and_names_are_not_references() -> None:
    cypher = """MATCH (n:`$label`) WHERE n.x = '$no' AND n.y = "$nor" // $comment
    /* $block */ RETURN $yes, $`odd name`, $0, $yes"""
    assert referenced(cypher) == ["yes", "odd name", "0"]


def test_texts_convert_to_their_declared_types() -> None:
    assert Param("n", ParamType.INT).convert("42") == 42
    assert Param("f", ParamType.FLOAT).convert("2.5") == 2.5
    assert Param("b", ParamType.BOOL).convert("False") is False
    assert Param("d", ParamType.DATE).convert("2024-02-29") == date(2024, 2, 29)
    moment = Param("t", ParamType.DATETIME).convert("2024-02-29T10:00:00+01:00")
    assert moment == datetime(2024, 2, 29, 10, tzinfo=timezone(timedelta(hours=1)))
    assert Param("l", ParamType.STR, many=True).convert("a, b") == ["a", "b"]
    assert Param("l", ParamType.INT, many=True).convert("") == []


@pytest.mark.parametrize(("param", "text", "message"), [
    (Param("sample", ParamType.INT), "x", "-p sample: expected int, got 'x'"),
    (Param("f", ParamType.FLOAT), "nan", "-p f: expected float, got 'nan'"),
    (Param("b", ParamType.BOOL), "maybe", "-p b: expected bool, got 'maybe'"),
    (Param("d", ParamType.DATE), "2024-13-01", "-p d: expected date, got '2024-13-01'"),
    (Param("l", ParamType.INT, many=True), "1,x", "-p l: expected list[int], got 'x'"),
])
def test_a_wrong_text_names_the_parameter_and_its_type(param: Param, text: str,
                                                       message: str) -> None:
    with pytest.raises(UsageError) as caught:
        param.convert(text)
    assert str(caught.value) == message


CHECKED = """\
pipeline: q
members:
  - name: load
    run: [echo, hi]
    checks:
      - {{name: jobs there, stored_query: {name}, expect: 3}}
checks:
  - {{name: inline, query: "RETURN true"}}
queries:
  - name: job-count
    cypher: "MATCH (j:Job) RETURN count(j)"
  - name: add-job
    cypher: "CREATE (:Job {{n: $n}})"
    params: {{n: int}}
    mode: write
"""


def test_a_check_can_name_a_read_query_without_parameters(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(CHECKED.format(name="job-count"))
    pipeline = load_pipeline(path, environ={})
    [check] = pipeline.members[0].checks
    assert (check.name, check.query, check.expect) == ("jobs there",
                                                       "MATCH (j:Job) RETURN count(j)", 3)
    assert pipeline.checks[0].query == "RETURN true"


@pytest.mark.parametrize(("name", "message"), [
    ("job-cuont", "no stored query 'job-cuont' under queries: (known: job-count, add-job)"),
    ("add-job", "query 'add-job' cannot be a check: a check runs a read query without "
                "parameters"),
])
def test_a_check_naming_a_query_it_cannot_run_is_refused(tmp_path: Path, name: str,
                                                         message: str) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(CHECKED.format(name=name))
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, environ={})
    assert "pipeline.yaml:6:" in str(caught.value) and message in str(caught.value)
    assert "members[load].checks[0].stored_query" in str(caught.value)
