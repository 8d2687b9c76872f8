"""Profiles deep-merge over the document; members overlays and exclude lists apply."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError
from orecart.spec import load_pipeline
from tests.spec.conftest import Write

PIPELINE = """
graph: {uri: bolt://localhost:7687, user: neo4j, password: dev}
settings: {max_parallel: 4, fail_fast: false}
env: {LOG_LEVEL: info, REGION: eu}
profiles:
  prod:
    graph: {uri: bolt://prod-db:7687}
    settings: {max_parallel: 16}
    env: {LOG_LEVEL: warning}
    hooks: [tests.fixtures]
    members:
      pubmed: {timeout: 6h, env: {PUBMED_MIRROR: fast}, needs: []}
      normalize: {image: registry.example.org/normalize:1}
    exclude: [smoke-test]
  ci:
    members:
      pubmed: {timeout: null}
members:
  - name: public-users
    run: echo users
  - name: pubmed
    run: echo pubmed
    timeout: 2h
    env: {PUBMED_SOURCE: ftp}
    needs: [public-users]
  - name: normalize
    run: [python, normalize.py]
  - name: smoke-test
    shell: echo ok
"""


def test_profile_deep_merges_mappings_and_replaces_the_rest(write: Write) -> None:
    pipeline = load_pipeline(write(PIPELINE), profile="prod", environ={})
    assert pipeline.profile == "prod"
    assert pipeline.graph is not None
    assert (pipeline.graph.uri, pipeline.graph.password) == ("bolt://prod-db:7687", "dev")
    assert (pipeline.settings.max_parallel, pipeline.settings.fail_fast) == (16, False)
    assert pipeline.env == {"LOG_LEVEL": "warning", "REGION": "eu"}
    assert pipeline.hooks == ("tests.fixtures",)
    pubmed = pipeline.member("pubmed")
    assert pubmed.timeout == 6 * 3600
    assert pubmed.env == {"PUBMED_SOURCE": "ftp", "PUBMED_MIRROR": "fast"}
    assert pubmed.needs == ()
    normalize = pipeline.member("normalize")
    assert normalize.run is None and normalize.container is not None  # the kind was replaced
    assert pipeline.excluded == {"smoke-test"}
    assert pipeline.names == ("public-users", "pubmed", "normalize", "smoke-test")


def test_without_a_profile_the_document_stands_as_written(write: Write) -> None:
    pipeline = load_pipeline(write(PIPELINE), environ={})
    assert pipeline.profile is None and pipeline.excluded == set()
    assert pipeline.member("pubmed").timeout == 7200
    assert pipeline.settings.max_parallel == 4


def test_null_in_an_overlay_unsets_a_value(write: Write) -> None:
    pipeline = load_pipeline(write(PIPELINE), profile="ci", environ={})
    assert pipeline.member("pubmed").timeout is None


def test_profile_comes_from_the_environment_by_default(write: Write) -> None:
    path = write(PIPELINE)
    assert load_pipeline(path, environ={"ORECART_PROFILE": "prod"}).profile == "prod"
    assert load_pipeline(path, profile="ci", environ={"ORECART_PROFILE": "prod"}).profile == "ci"


def test_unknown_profile_lists_the_known_ones(write: Write) -> None:
    with pytest.raises(SpecError) as caught:
        load_pipeline(write(PIPELINE), profile="staging", environ={})
    assert "unknown profile 'staging'" in str(caught.value)
    assert "known profiles: 'prod' or 'ci'" in str(caught.value)


def test_a_file_without_profiles_says_so(write: Write) -> None:
    path = write("members: [{name: a, run: 'true'}]\n")
    with pytest.raises(SpecError, match="the file defines no profiles"):
        load_pipeline(path, profile="prod", environ={})


def test_errors_inside_an_overlay_point_into_the_profile(write: Write) -> None:
    path = write(PIPELINE.replace("settings: {max_parallel: 16}", "settings: {max_parallel: 0}"))
    expected = r":7:30: profiles\.prod\.settings\.max_parallel: must be at least 1"
    with pytest.raises(SpecError, match=expected):
        load_pipeline(path, profile="prod", environ={})
