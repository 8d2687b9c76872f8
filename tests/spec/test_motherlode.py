"""Motherlode/copili files load unchanged and keep the meaning they had there."""

from __future__ import annotations

from pathlib import Path

import pytest

from orecart.errors import SpecError
from orecart.model import Format, Rerun, Volume
from orecart.spec import load_pipeline
from tests.spec.conftest import Write

EXAMPLES = Path(__file__).parent / "examples"


def test_covidgraph_pipeline_loads_as_published() -> None:
    pipeline = load_pipeline(EXAMPLES / "motherlode.yaml", environ={"MASYMOS_SOURCE_FILE": "s3"})
    assert pipeline.format is Format.MOTHERLODE
    assert pipeline.name == "CovidGraphPipeline"
    assert len(pipeline.members) == 11
    gene_match = pipeline.member("TEXT_GENE_MATCH")
    assert gene_match.needs == ("CORD19", "LENS_PATENT_DATA", "BIOBASE", "TEXT_FRAGGER")
    assert gene_match.container is not None
    assert gene_match.container.image == "covidgraph/graph-processing_text_gene_match:latest"
    assert pipeline.member("CORD19").env == {
        "CONFIGS_PAPER_BATCH_SIZE": "300",
        "CONFIGS_NO_OF_PROCESSES": "25",
    }
    assert pipeline.member("MASYMOS").env == {"SOURCE": "s3"}
    assert pipeline.member("JHU").line == 5
    assert pipeline.excluded == set() and pipeline.graph is None


def test_every_copili_key_maps_onto_the_model(write: Write) -> None:
    path = write(
        """
        Pipeline:
          - name: DB_HELPER
            image_repo: registry.example.org/helper
            tag: 1.10
            is_service_container: true
          - name: LOADER
            image_repo: registry.example.org/loader
            tag: dev
            info_link: https://example.org
            desc: loads things
            image_reg_username: bot
            image_reg_password: hunter22
            env_vars: {API_KEY: k, SIZE: 3}
            dependencies: [DB_HELPER]
            exlude_in_env: [PROD]
            volumes: {./dataset: {bind: /app/dataset, mode: rw}, /etc/ssl: {bind: /ssl, mode: ro}}
            command: ["--fast"]
            labels: {team: graph, version: 2}
            force_rerun: true
            sidecars:
              - name: solr
                image_repo: solr
                tag: 9
                env_vars: {SOLR_HEAP: 1g}
                command: solr-precreate x
        """
    )
    pipeline = load_pipeline(path, environ={})
    helper = pipeline.member("DB_HELPER").container
    assert helper is not None and helper.service is True
    assert helper.image == "registry.example.org/helper:1.10"  # the tag as written
    loader = pipeline.member("LOADER")
    container = loader.container
    assert container is not None
    assert container.image == "registry.example.org/loader:dev"
    assert container.auth is not None and container.auth.username == "bot"
    assert container.volumes == (
        Volume("./dataset", "/app/dataset", False),
        Volume("/etc/ssl", "/ssl", True),
    )
    assert container.command == ("--fast",)
    assert container.labels == {"team": "graph", "version": "2"}
    assert container.sidecars[0].image == "solr:9"
    assert container.sidecars[0].command == "solr-precreate x"
    assert loader.rerun is Rerun.ALWAYS
    assert (loader.info_link, loader.desc) == ("https://example.org", "loads things")
    assert loader.env == {"API_KEY": "k", "SIZE": "3"}
    assert loader.secrets == {"NEO4J", "CONFIGS_NEO4J"}  # declared; API_KEY looks secret
    assert loader.exclude_env == set()  # exlude_in_env names environments, not variables


def test_exlude_in_env_leaves_members_out_in_that_environment(write: Write) -> None:
    path = write(
        """
        Pipeline:
          - {name: CORD19, image_repo: covidgraph/data-cord19, exlude_in_env: [PROD]}
          - {name: JHU, image_repo: covidgraph/data_jhu_population, exlude_in_env: [DEV, TEST]}
        """
    )
    assert load_pipeline(path, environ={}).excluded == set()
    assert load_pipeline(path, environ={"ENV": "PROD"}).excluded == {"CORD19"}
    assert load_pipeline(path, environ={"ENV": "TEST"}).excluded == {"JHU"}
    (path.parent / ".env").write_text("ENV=DEV\n")
    assert load_pipeline(path, environ={}).excluded == {"JHU"}
    assert load_pipeline(path, environ={"ENV": "PROD"}).excluded == {"CORD19"}


def test_dotenv_entries_reach_every_container_and_bare_vars_expand(write: Write) -> None:
    path = write(
        """
        Pipeline:
          - name: MASYMOS
            image_repo: covidgraph/data_masymos
            env_vars: {SOURCE: $MASYMOS_SOURCE_FILE, PRICE: $$5}
        """
    )
    (path.parent / ".env").write_text('MASYMOS_SOURCE_FILE="https://example.org/x"\nOTHER=1\n')
    pipeline = load_pipeline(path, environ={})
    assert pipeline.env == {"MASYMOS_SOURCE_FILE": "https://example.org/x", "OTHER": "1"}
    assert pipeline.member("MASYMOS").env == {"SOURCE": "https://example.org/x", "PRICE": "$5"}


def test_neo4j_variable_gives_the_graph(write: Write) -> None:
    path = write("P:\n  - {name: A, image_repo: a}\n")
    (path.parent / ".env").write_text(
        "NEO4J=\"{'host':'db.example.org','password':'pw','user':'neo4j'}\"\n"
    )
    graph = load_pipeline(path, environ={}).graph
    assert graph is not None
    assert (graph.uri, graph.user, graph.password) == ("bolt://db.example.org:7687", "neo4j", "pw")
    environ = {"NEO4J": '{"host": "h", "port": 7688, "secure": true, "name": "covid"}'}
    graph = load_pipeline(path, environ=environ).graph
    assert graph is not None
    assert (graph.uri, graph.database) == ("bolt+s://h:7688", "covid")
    with pytest.raises(SpecError, match=r"^\$NEO4J: NEO4J: expected a JSON object"):
        load_pipeline(path, environ={"NEO4J": "localhost"})


def test_a_single_key_without_image_repo_is_read_as_native(write: Write) -> None:
    path = write("memberz:\n  - {name: a, run: 'true'}\n")
    with pytest.raises(SpecError, match="unknown key 'memberz'; did you mean 'members'"):
        load_pipeline(path, environ={})


def test_profiles_are_refused_for_motherlode_files() -> None:
    with pytest.raises(SpecError, match="have no profiles"):
        load_pipeline(EXAMPLES / "motherlode.yaml", profile="prod", environ={})
    # ... but a profile set for the whole shell does not break them
    environ = {"ORECART_PROFILE": "prod", "MASYMOS_SOURCE_FILE": "x"}
    assert load_pipeline(EXAMPLES / "motherlode.yaml", environ=environ).profile is None


def test_a_broken_item_is_reported_inside_the_motherlode_file(write: Write) -> None:
    path = write("P:\n  - {name: A, image_repo: a}\n  - just-a-string\n")
    with pytest.raises(SpecError, match=r":3:5: P\[1\]: expected a mapping, got a string"):
        load_pipeline(path, environ={})
