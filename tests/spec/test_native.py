"""The native format maps onto the model: members, containers, defaults, secrets, JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from orecart.errors import CycleError, SpecError
from orecart.model import Format, PullPolicy, Rerun, Retry, Volume
from orecart.spec import load_pipeline
from tests.spec.conftest import Write

EXAMPLES = Path(__file__).parent / "examples"
ENV = {"NEO4J_PASSWORD": "s3cret", "PUBMED_URL": "https://pubmed.example.org"}


def test_design_example_loads_with_everything_in_place() -> None:
    pipeline = load_pipeline(EXAMPLES / "covidgraph.yaml", params={"release": "2024"}, environ=ENV)
    assert pipeline.name == "covidgraph"
    assert pipeline.format is Format.NATIVE
    assert pipeline.names == ("public-users", "pubmed", "normalize")
    assert pipeline.graph is not None and pipeline.graph.password == "s3cret"
    assert pipeline.settings.max_parallel == 4
    assert pipeline.pools == {"neo4j-write": 1}
    assert pipeline.params == {"release": "2024"}
    pubmed = pipeline.member("pubmed")
    assert pubmed.container is not None
    assert pubmed.container.image == "registry.example.org/loaders/pubmed:prod"
    assert pubmed.env == {"PUBMED_SOURCE": "https://pubmed.example.org"}
    assert (pubmed.needs, pubmed.pool, pubmed.timeout) == (("public-users",), "neo4j-write", 7200)
    assert pubmed.retry == Retry(retries=2)
    assert pubmed.line == 12
    normalize = pipeline.member("normalize")
    assert normalize.run == ("python", "scripts/normalize.py", "--release", "2024")
    assert normalize.kind == "run"


def test_every_key_maps_onto_the_model() -> None:
    pipeline = load_pipeline(EXAMPLES / "everything.yaml", environ={})
    assert pipeline.hooks == ("orecart_hooks.slack:notify", "company.audit")
    assert pipeline.keys == {"Paper": "doi", "Author": "orcid"}
    assert pipeline.backup is not None and pipeline.backup.keep == 3
    assert [c.expect for c in pipeline.checks] == [True, 0]
    assert pipeline.graph is not None and pipeline.graph.wait == 120
    assert pipeline.env["BATCH"] == "500"  # numbers in env are kept as written
    download = pipeline.member("download")
    assert download.run == ("curl", "-fsSL", "https://example.org/dump.tgz", "-o", "dump.tgz")
    assert download.retry == Retry(retries=3, backoff=10, factor=3, max_backoff=600)
    assert download.timeout == 5400 and download.rerun is Rerun.ALWAYS
    assert pipeline.member("unpack").shell == "tar xzf dump.tgz && ls -l"
    assert pipeline.member("unpack").needs == ("download",)
    papers = pipeline.member("papers").container
    assert papers is not None
    assert papers.command == ("--batch", "100") and papers.entrypoint == "/entry.sh"
    assert papers.volumes == (Volume("./work", "/data", True), Volume("cache", "/cache", False))
    assert papers.labels == {"team": "graph", "priority": "1"}
    assert (papers.user, papers.cpus, papers.memory) == ("1000:1000", 1.5, "2g")
    assert papers.sidecars[0].env == {"SOLR_HEAP": "1g"}
    assert papers.auth is not None and papers.auth.password == "secret"
    assert pipeline.member("papers").exclude_env == {"LOG_LEVEL"}
    assert pipeline.member("papers").snapshot is True


def test_container_options_default_to_settings() -> None:
    pipeline = load_pipeline(EXAMPLES / "everything.yaml", environ={})
    authors = pipeline.member("authors").container
    assert authors is not None
    assert authors.pull is PullPolicy.IF_MISSING and authors.network_mode == "loaders"
    assert authors.volumes == (Volume("./work", "/data", True), Volume("./out", "/out", False))


def test_json_files_load_and_report_lines() -> None:
    pipeline = load_pipeline(EXAMPLES / "everything.json", environ={})
    assert pipeline.name == "json-pipeline"
    assert [m.line for m in pipeline.members] == [6, 7]
    assert pipeline.member("load").retry.backoff == 0.5


def test_name_defaults_to_the_file_stem_and_defaults_apply(write: Write) -> None:
    path = write("members: [{name: only, run: 'true'}]", name="nightly.yml")
    pipeline = load_pipeline(path, environ={})
    assert pipeline.name == "nightly"
    only = pipeline.members[0]
    assert (only.rerun, only.retry, only.timeout, only.container) == (
        Rerun.ON_CHANGE,
        Retry(),
        None,
        None,
    )
    assert pipeline.graph is None and pipeline.profile is None and pipeline.excluded == set()


def test_secrets_cover_secret_looking_and_declared_names(write: Write) -> None:
    path = write(
        """
        secrets: [LICENSE]
        env: {API_TOKEN: a, PLAIN: b, LICENSE: c}
        members:
          - name: a
            run: 'true'
            env: {DB_PASSWORD: x, COLOR: red, SALT: y}
            secrets: [SALT]
          - name: b
            run: 'true'
            exclude_env: [API_TOKEN]
        """
    )
    pipeline = load_pipeline(path, environ={})
    assert pipeline.secrets == {"LICENSE"}
    assert pipeline.member("a").secrets == {"LICENSE", "SALT"}  # declared; names that
    # look secret (DB_PASSWORD) are judged by their value, see orecart.secrets
    assert pipeline.member("b").secrets == {"LICENSE"}


def test_x_keys_hold_anchors_for_members(write: Write) -> None:
    path = write(
        """
        x-defaults: &defaults
          timeout: 10m
          retries: 1
        members:
          - {name: a, run: 'true', <<: *defaults}
          - <<: *defaults
            name: b
            run: 'true'
            timeout: 1m
        """
    )
    a, b = load_pipeline(path, environ={}).members
    assert (a.timeout, a.retry.retries, b.timeout, b.retry.retries) == (600, 1, 60, 1)


def test_merge_keys_fill_members(write: Write) -> None:
    path = write(
        """
        members:
          - &base {name: a, run: 'true', timeout: 10m, retries: 1}
          - <<: *base
            name: b
            timeout: 1m
        """
    )
    a, b = load_pipeline(path, environ={}).members
    assert (a.timeout, b.timeout, b.retry.retries, b.run) == (600, 60, 1, ("true",))


def test_needs_are_deduplicated_and_a_string_is_one_need(write: Write) -> None:
    path = write(
        """
        members:
          - {name: a, run: 'true'}
          - {name: b, run: 'true', needs: [a, a]}
          - {name: c, run: 'true', needs: b}
        """
    )
    pipeline = load_pipeline(path, environ={})
    assert pipeline.member("b").needs == ("a",)
    assert pipeline.member("c").needs == ("b",)


def test_long_cycles_are_printed_in_full(write: Write) -> None:
    members = "\n".join(
        f"  - {{name: m{i}, run: 'true', needs: [m{(i + 1) % 5}]}}" for i in range(5)
    )
    path = write(f"members:\n{members}\n")
    with pytest.raises(CycleError) as caught:
        load_pipeline(path, environ={})
    assert caught.value.cycle == ["m0", "m1", "m2", "m3", "m4", "m0"]
    assert "m0 -> m1 -> m2 -> m3 -> m4 -> m0" in str(caught.value)


def test_a_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the pipeline file"):
        load_pipeline(tmp_path / "nope.yaml", environ={})


def test_numbers_are_fine_member_names(write: Write) -> None:
    path = write(
        """
        members:
          - {name: 2021, run: 'true'}
          - {name: b, run: 'true', needs: [2021]}
        """
    )
    pipeline = load_pipeline(path, environ={})
    assert pipeline.names == ("2021", "b")
    assert pipeline.member("b").needs == ("2021",)


def test_json_exponents_are_numbers(write: Write) -> None:
    path = write('{"members": [{"name": "a", "run": "true", "timeout": 1.5e3}]}', "p.json")
    assert load_pipeline(path, environ={}).members[0].timeout == 1500
    path = write('{"members": [{"name": "a", "run": "true", "timeout": 2e3}]}', "q.json")
    assert load_pipeline(path, environ={}).members[0].timeout == 2000
