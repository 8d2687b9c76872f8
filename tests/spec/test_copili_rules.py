"""copili's expansion rules where orecart differed: keys expand, and ``\\$`` escapes."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError
from orecart.model import Volume
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
