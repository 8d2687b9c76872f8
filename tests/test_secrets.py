"""The rule for what is secret (both directions), the forms a secret is masked in, and
long lines never cut inside a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from orecart.executors.logfile import LineSplitter
from orecart.graph.connect import credentials_from_uri, graph_from_env
from orecart.model import Graph
from orecart.secrets import MASK, Redactor, is_secret, looks_secret, masked_env, secret_values
from orecart.spec import load_pipeline


@pytest.mark.parametrize("name", [
    "DB_PASSWORD", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "API_KEY", "apiKey", "APIKEY",
    "SORT_KEY", "db_pass", "DB_PW", "BASIC_AUTH", "MYSECRET", "GCP_CREDENTIALS",
])  # fmt: skip
def test_names_that_look_secret(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", [
    "MONKEY", "KEYBOARD_LAYOUT", "AUTHOR", "PASSENGER", "PWD", "OLDPWD", "SSH_AUTH_SOCK",
    "NEO4J_URI", "COLOR",
])  # fmt: skip
def test_names_that_do_not(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize(("name", "value", "declared", "secret"), [
    ("SORT_KEY", "name", (), False),  # an ordinary word
    ("TOKEN_TTL", "3600", (), False),  # a small number
    ("TOKENIZERS_PARALLELISM", "false", (), False),
    ("DB_PASSWORD", "hunter2", (), True),
    ("DB_PASSWORD", "letmein", (), True),  # a plain word, but under PASSWORD
    ("GITHUB_TOKEN", "abcdef", (), True),
    ("AUTH_MODE", "basic", (), False),  # only AUTH made it look secret
    ("DB_PASSWORD", "correcthorsebattery", (), True),  # longer than an ordinary word
    ("API_KEY", "k", (), False),  # too short to mask anything
    ("PLAIN", "name", ("PLAIN",), True),  # declared: always
    ("PLAIN", "ab", ("PLAIN",), False),
    ("MONKEY", "banana-split-7", (), False),
])  # fmt: skip
def test_which_values_are_secret(name: str, value: str, declared: tuple, secret: bool) -> None:
    assert is_secret(name, value, declared) is secret
    assert (value in secret_values({name: value}, declared)) is secret


def test_over_redaction_is_avoided_and_real_secrets_are_not() -> None:
    env = {"SORT_KEY": "name", "DB_PASSWORD": "pw-1234"}
    redact = Redactor(secret_values(env))
    assert redact("sorted by name with pw-1234") == f"sorted by name with {MASK}"


def test_uri_passwords_are_secret_whatever_the_name() -> None:
    env = {"DATABASE_URL": "postgresql://app:p%40ss-9@db/x"}
    assert {"p%40ss-9", "p@ss-9"} <= secret_values(env)
    assert masked_env(env) == {"DATABASE_URL": f"postgresql://app:{MASK}@db/x"}
    assert Redactor()("see bolt://neo4j:pw@host:7687") == f"see bolt://neo4j:{MASK}@host:7687"


SECRET = 'q"uo\\te-ü'  # a quote, a backslash and a non-ASCII letter


@pytest.mark.parametrize("printed", [
    'q\\"uo\\\\te-\\u00fc',  # JSON-escaped, ASCII
    'q\\"uo\\\\te-ü',  # JSON-escaped, not ASCII
    'q\\\\\\"uo\\\\\\\\te-\\\\u00fc',  # JSON inside JSON
    "q%22uo%5Cte-%C3%BC",  # URL-encoded
    "q\"uo\\\\te-ü",  # Python repr
])  # fmt: skip
def test_a_secret_is_masked_in_every_printed_form(printed: str) -> None:
    assert Redactor([SECRET])(f"<{printed}>") == f"<{MASK}>"


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    redact = Redactor(["-----BEGIN KEY-----\nline-one-x\n-----END KEY-----"])
    assert redact("line-one-x") == MASK and redact("-----END KEY-----") == MASK


def test_a_long_line_is_never_cut_inside_a_secret() -> None:
    redactor = Redactor(["s3cret-value"])
    splitter = LineSplitter(max_line=16, redactor=redactor)
    pieces = splitter.feed(b"abcdefg" + b"s3cret-value" + b"tail" * 5 + b"\n")
    assert all(len(p.encode()) <= 16 for p in pieces)
    redacted = [redactor(p) for p in pieces]
    assert not [p for p in redacted if "s3cret" in p or "value" in p], redacted
    assert "".join(pieces) == "abcdefgs3cret-value" + "tail" * 5


def test_a_long_line_is_never_cut_inside_a_character() -> None:
    pieces = LineSplitter(max_line=5).feed("aaaéééé".encode() + b"\n")
    assert "".join(pieces) == "aaaéééé" and "\ufffd" not in "".join(pieces)


def test_a_parameter_in_a_secret_place_is_secret(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "pipeline: p\nmembers:\n  - name: a\n    run: 'true'\n"
        "    env: {DB_PASSWORD: 'x-${params.pw}', WHERE: '${params.region}',"
        " SORT_KEY: '${params.word}'}\n"
    )
    params = {"pw": "pw-from-param-1", "region": "eu-west-1", "word": "plain"}
    pipeline = load_pipeline(path, params=params, environ={})
    assert "pw-from-param-1" in pipeline.secret_values  # it went into DB_PASSWORD
    assert "eu-west-1" not in pipeline.secret_values  # a plain place
    assert "plain" not in pipeline.secret_values  # an ordinary word
    shown = masked_env(pipeline.params, pipeline.secrets, pipeline.secret_values)
    assert shown == {"pw": MASK, "region": "eu-west-1", "word": "plain"}


def test_graph_uri_user_info_becomes_the_credentials() -> None:
    graph = credentials_from_uri(Graph("bolt://me:p%40ss-w0rd@db:7687", password="old"))
    assert (graph.uri, graph.user, graph.password) == ("bolt://db:7687", "me", "p@ss-w0rd")
    assert credentials_from_uri(Graph("bolt://db:7687")) == Graph("bolt://db:7687")
    from_env = graph_from_env(None, {"NEO4J_URI": "neo4j://u:pw-9@h"})
    assert from_env is not None and (from_env.uri, from_env.password) == ("neo4j://h", "pw-9")
