"""${VAR} expansion: environment over .env, defaults, escapes, parameters, errors."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError
from orecart.spec import load_pipeline
from orecart.spec.expand import ExpansionError, Variables
from tests.spec.conftest import Write

PIPELINE = """
env:
  FROM_ENV: "${HOST}"
  FROM_DOTENV: "${ONLY_IN_DOTENV}"
  DEFAULTED: "${MISSING:-fallback}"
  EMPTY_DEFAULTED: "${EMPTY:-fallback}"
  UNSET_ONLY: "${EMPTY-fallback}"
  NESTED: "${MISSING:-${HOST}:7687}"
  LITERAL: "$${HOST} costs $5"
  RELEASE: "${params.release}"
  DATE: "${params.date:-today}"
members:
  - name: a
    run: [echo, "${params.release}"]
    timeout: "${TIMEOUT:-90s}"
    retries: "${RETRIES:-2}"
settings:
  max_parallel: "${WORKERS}"
  fail_fast: "${FAIL_FAST:-true}"
"""


def test_every_string_expands_with_environment_winning(write: Write) -> None:
    path = write(PIPELINE)
    (path.parent / ".env").write_text("HOST=from-dotenv\nONLY_IN_DOTENV=d\nWORKERS=3\n")
    environ = {"HOST": "from-environ", "EMPTY": ""}
    pipeline = load_pipeline(path, params={"release": "r7"}, environ=environ)
    assert pipeline.env == {
        "FROM_ENV": "from-environ",
        "FROM_DOTENV": "d",
        "DEFAULTED": "fallback",
        "EMPTY_DEFAULTED": "fallback",
        "UNSET_ONLY": "",
        "NESTED": "from-environ:7687",
        "LITERAL": "${HOST} costs $5",
        "RELEASE": "r7",
        "DATE": "today",
    }
    member = pipeline.members[0]
    assert member.run == ("echo", "r7")
    assert (member.timeout, member.retry.retries) == (90, 2)
    assert pipeline.settings.max_parallel == 3 and pipeline.settings.fail_fast is True
    assert pipeline.params == {"release": "r7"}


def test_dotenv_values_may_refer_to_the_environment_and_each_other(write: Write) -> None:
    path = write("env: {URL: '${URL}'}\nmembers: [{name: a, run: 'true'}]\n")
    (path.parent / ".env").write_text("HOST=db\nURL=bolt://${HOST}:${PORT}\n")
    pipeline = load_pipeline(path, environ={"PORT": "7687"})
    assert pipeline.env == {"URL": "bolt://db:7687"}
    with pytest.raises(SpecError, match=r"\.env:2:1: URL: undefined variable 'PORT'"):
        load_pipeline(path, environ={})


def test_undefined_variable_names_file_line_column_field(write: Write) -> None:
    path = write(
        """
        members:
          - name: a
            run: 'true'
            env:
              URL: "https://${DATA_HOST}/x"
        """
    )
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, environ={})
    assert str(caught.value).startswith(f"{path}:5:12: members[a].env.URL: undefined variable")
    assert "'DATA_HOST'" in str(caught.value)


def test_variables_in_unselected_profiles_are_not_needed(write: Write) -> None:
    path = write(
        """
        profiles:
          prod: {graph: {uri: "${PROD_URI}"}}
        members: [{name: a, run: 'true'}]
        """
    )
    assert load_pipeline(path, environ={}).graph is None
    with pytest.raises(SpecError, match="undefined variable 'PROD_URI'"):
        load_pipeline(path, environ={}, profile="prod")
    graph = load_pipeline(path, environ={"PROD_URI": "bolt://p:7687"}, profile="prod").graph
    assert graph is not None and graph.uri == "bolt://p:7687"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}${A}", "11"),
        ("x$${A}y", "x${A}y"),
        ("$$", "$$"),
        ("${U:-}", ""),
        ("${U:-a}b${A}", "a b1".replace(" ", "")),
        ("${params.p-q}", "dash"),
        ("${params.p-q:-z}", "dash"),
        ("${params.none:-${A}}", "1"),
    ],
)
def test_expansion_rules(text: str, expected: str) -> None:
    variables = Variables({"A": "1"}, params={"p-q": "dash"})
    assert variables.expand(text) == expected


@pytest.mark.parametrize("text", ["${U}", "${A", "${1X}", "${}", "${A:}", "${params.}"])
def test_bad_references_are_errors(text: str) -> None:
    with pytest.raises(ExpansionError):
        Variables({"A": "1"}).expand(text)
