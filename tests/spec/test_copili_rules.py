"""copili's expansion rules where orecart differed: keys expand, and ``\\$`` escapes."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError
from orecart.model import Handover, Volume
from orecart.secrets import known_secrets
from orecart.spec import load_pipeline
from tests.spec.conftest import Write

MOTHERLODE = """
Pipeline:
  - name: loader
    image_repo: example/loader
    env_vars:
      SCRIPT: "echo \\\\$HOME"
      WINDOWS: "C:\\\\\\\\data"
      PLAIN: "a\\\\b"
      "${PREFIX}_DIR": /data
    volumes: {"${DATA_DIR}": {bind: /data, mode: rw}}
"""


def test_a_motherlode_volume_key_expands(write: Write) -> None:
    path = write(MOTHERLODE)
    pipeline = load_pipeline(path, environ={"DATA_DIR": "/srv/data", "PREFIX": "LOADER"})
    container = pipeline.members[0].container
    assert container is not None
    assert container.volumes == (Volume("/srv/data", "/data", read_only=False),)
    assert pipeline.members[0].env["LOADER_DIR"] == "/data"


def test_a_backslash_keeps_a_dollar_for_the_container_as_copili_did(write: Write) -> None:
    path = write(MOTHERLODE)
    environ = {"DATA_DIR": "/d", "PREFIX": "P", "HOME": "/host/home"}
    env = load_pipeline(path, environ=environ).members[0].env
    assert env["SCRIPT"] == "echo $HOME"  # not "echo \\/host/home"
    assert env["WINDOWS"] == "C:\\data"  # two backslashes are one
    assert env["PLAIN"] == "a\\b"  # before anything else a backslash stays


def test_native_keys_expand_in_env_labels_and_volumes(write: Write) -> None:
    path = write(
        """
        env: {"${PREFIX}_HOST": db}
        members:
          - name: a
            image: example/a
            labels: {"${ORG}.team": data}
            volumes: {"${DATA_DIR}": {bind: /data, mode: ro}}
        """
    )
    environ = {"PREFIX": "PUBMED", "ORG": "org.example", "DATA_DIR": "/srv"}
    pipeline = load_pipeline(path, environ=environ)
    container = pipeline.members[0].container
    assert container is not None
    assert pipeline.env == {"PUBMED_HOST": "db"}
    assert container.labels == {"org.example.team": "data"}
    assert container.volumes == (Volume("/srv", "/data", read_only=True),)


def test_an_expanded_key_is_checked_like_a_written_one(write: Write) -> None:
    path = write("pools: {'${POOL}': 1}\nmembers: [{name: a, run: 'true'}]\n")
    with pytest.raises(SpecError, match="'bad pool' is not a valid name"):
        load_pipeline(path, environ={"POOL": "bad pool"})


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (
            "Pipeline:\n  - name: a\n    image_repo: x\n    env_vars:\n      HOST: a\n"
            "      ${NAME}: b\n",
            (5, 6),
        ),
        ("env:\n  HOST: a\n  ${NAME}: b\nmembers: [{name: a, run: 'true'}]\n", (2, 3)),
    ],
)
def test_keys_that_collide_after_expansion_name_both(
    write: Write, text: str, lines: tuple[int, int]
) -> None:
    path = write(text)
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, environ={"NAME": "HOST"})
    first, second = lines
    expected = f"keys 'HOST' ({path}:{first}) and '${{NAME}}' ({path}:{second}) both expand"
    assert str(caught.value).startswith(f"{path}:{second}:")
    assert f"{expected} to 'HOST'" in str(caught.value)


def test_an_undefined_variable_in_a_motherlode_file_says_what_copili_did(write: Write) -> None:
    path = write("Pipeline:\n  - name: a\n    image_repo: x\n    env_vars: {A: $NOPE}\n")
    with pytest.raises(SpecError, match='copili would have substituted ""'):
        load_pipeline(path, environ={})


def test_native_files_keep_their_own_escape(write: Write) -> None:
    path = write("env: {A: '$${HOME}', B: 'a\\b'}\nmembers: [{name: a, run: 'true'}]\n")
    env = load_pipeline(path, environ={"HOME": "/h"}).env
    assert env == {"A": "${HOME}", "B": "a\\b"}


ITEM = "Pipeline:\n  - name: a\n    image_repo: x\n    env_vars: {OWN: own, GC_NEO4J_USER: mine}\n"


def test_motherlode_settings_reach_every_container(write: Write) -> None:
    """Motherlode's compose file: CONFIGS_NEO4J, CONFIGS_GLOBAL_PIPELINE_ENV_VARS (a Python
    literal, quoted as .env files write it) and CONFIGS_DOCKER_NETWORK_MODE."""
    environ = {
        "CONFIGS_NEO4J": "{'host':'db.example.org','password':'pw-1','user':'neo4j'}",
        "NEO4J": '{"host": "ignored"}',
        "CONFIGS_GLOBAL_PIPELINE_ENV_VARS": "\"{'GC_NEO4J_URL':'db.example.org',"
        "'GC_NEO4J_USER':'neo4j','GC_NEO4J_PASSWORD':'pw-1','DEBUG':True}\"",
        "CONFIGS_DOCKER_NETWORK_MODE": "host",
    }
    pipeline = load_pipeline(write(ITEM), environ=environ)
    member = pipeline.members[0]
    assert pipeline.graph is not None and pipeline.graph.uri == "bolt://db.example.org:7687"
    assert pipeline.graph.password == "pw-1"
    assert member.env == {  # the container's own env_vars win, as copili merged them
        "GC_NEO4J_URL": "db.example.org",
        "GC_NEO4J_USER": "mine",
        "GC_NEO4J_PASSWORD": "pw-1",
        "DEBUG": "True",  # as docker-py writes a Python True
        "OWN": "own",
    }
    assert member.container is not None and member.container.network_mode == "host"
    assert member.handover is Handover.MOTHERLODE
    assert {"NEO4J", "CONFIGS_NEO4J"} <= member.secrets
    assert "pw-1" in known_secrets(pipeline)  # GC_NEO4J_PASSWORD looks secret by its name


def test_a_broken_global_variables_setting_names_it(write: Write) -> None:
    environ = {"CONFIGS_GLOBAL_PIPELINE_ENV_VARS": "GC_NEO4J_URL=db"}
    with pytest.raises(SpecError, match=r"\$CONFIGS_GLOBAL_PIPELINE_ENV_VARS: .*JSON object"):
        load_pipeline(write(ITEM), environ=environ)


def test_handover_motherlode_in_settings_and_on_a_member(write: Write) -> None:
    path = write(
        """
        settings: {handover: motherlode}
        members:
          - {name: a, run: 'true'}
          - {name: b, run: 'true', handover: orecart}
        """
    )
    a, b = load_pipeline(path, environ={}).members
    assert (a.handover, b.handover) == (Handover.MOTHERLODE, Handover.ORECART)
    assert {"NEO4J", "CONFIGS_NEO4J"} <= a.secrets and "NEO4J" not in b.secrets


def test_motherlode_env_values_are_written_as_docker_py_wrote_them(write: Write) -> None:
    path = write("P:\n  - name: a\n    image_repo: x\n    env_vars: {A: true, B: 1.10, C: 12}\n")
    assert load_pipeline(path, environ={}).members[0].env == {"A": "True", "B": "1.1", "C": "12"}


def test_settings_compose_passes_empty_are_unset(write: Write) -> None:
    """Compose without a .env hands ``CONFIGS_NEO4J: ${NEO4J}`` and the rest over as empty
    strings: unset, so the pipeline's .env (mounted at /data/.env) still counts."""
    write("CONFIGS_GLOBAL_PIPELINE_ENV_VARS={'GC_NEO4J_USER': 'from-dotenv'}\n"
          "NEO4J={'host': 'db.example.org'}\nCONFIGS_DOCKER_NETWORK_MODE=host\n", ".env")
    empty = {"CONFIGS_NEO4J": "", "CONFIGS_GLOBAL_PIPELINE_ENV_VARS": "",
             "CONFIGS_DOCKER_NETWORK_MODE": "", "NEO4J": ""}
    pipeline = load_pipeline(write(ITEM), environ=empty)
    member = pipeline.members[0]
    assert pipeline.graph is not None and pipeline.graph.uri == "bolt://db.example.org:7687"
    assert member.env == {"GC_NEO4J_USER": "mine", "OWN": "own"}
    assert member.container is not None and member.container.network_mode == "host"
