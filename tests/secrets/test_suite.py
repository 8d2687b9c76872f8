"""The secrets suite: a secret defined every supported way, looked for in every output.

One pipeline defines them all and runs once (real processes and a real container print
their whole environment, every way a loader plausibly does); then every output is
collected: what ``run``, ``plan --json``, ``status --json``, ``runs``, ``show`` and ``logs``
print, the member log files (also copili-style ``--log-dir`` ones), every table of the
SQLite state and the raw bytes of every file under ``.orecart/``. Each (secret, output)
pair is one test; so is each check that ordinary text is left alone.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import docker
import pytest

from orecart.executors.logfile import MAX_LINE
from tests.cli.conftest import Cli
from tests.services.docker import BUSYBOX_IMAGE

#: how each secret is defined -> its value
SECRETS = {
    "env-name-heuristic": "pw-env-name-1",
    "declared-under-secrets": "declaredword",  # an ordinary word: masked because declared
    "param-into-secret-env": "param-secret-3",
    "dotenv-value": "dotenv-secret-4",
    "registry-auth-password": "regpass-secret-5",
    "own-environment-token": "ghp-own-env-secret-6",
    "own-environment-aws-key": "aws/own+env=secret-7",
    "uri-userinfo-in-plain-variable": "uri-pw-secret-8",
    "multi-line": "multi-line-one\nmulti-line-two",
    "quotes-backslash-non-ascii-param": 'tök"en\\x-9',
}

PIPELINE = f"""
pipeline: leaky
secrets: [PLAIN_THING]
env: {{SORT_KEY: name, MONKEY_BUSINESS: banana-split-7}}
members:
  - name: printer
    run: [{sys.executable}, printer.py]
    env_passthrough: [GITHUB_TOKEN, "AWS_*"]  # orecart's own secrets, asked for
    env:
      DB_PASSWORD: "{SECRETS["env-name-heuristic"]}"
      PLAIN_THING: "{SECRETS["declared-under-secrets"]}"
      API_SECRET: "${{params.pw}}"
      UPSTREAM: "${{DOTENV_TOKEN}}"
      DATABASE_URL: "postgresql://app:{SECRETS["uri-userinfo-in-plain-variable"]}@db/x"
      SSH_KEY: "multi-line-one\\nmulti-line-two"
  - name: pusher
    image: {BUSYBOX_IMAGE}
    pull: never
    env_passthrough: [GITHUB_TOKEN]
    registry_auth: {{username: reg, password: "{SECRETS["registry-auth-password"]}"}}
    command: [sh, -c, "echo reg={SECRETS["registry-auth-password"]}; env"]
"""

PARAMS = ("-p", f"pw={SECRETS['param-into-secret-env']}",
          "-p", f"API_TOKEN={SECRETS['quotes-backslash-non-ascii-param']}",
          "-p", "release=2024")  # fmt: skip
OWN_ENV = {
    "GITHUB_TOKEN": SECRETS["own-environment-token"],
    "AWS_SECRET_ACCESS_KEY": SECRETS["own-environment-aws-key"],
}


def forms(secret: str) -> set[str]:
    """The secret as it is, each of its lines, and the encodings a loader prints."""
    escaped = json.dumps(secret)[1:-1]
    return {
        secret,
        *secret.splitlines(),
        escaped,
        json.dumps(escaped)[1:-1],  # JSON inside JSON: ORECART_PARAMS in a JSON dump of env
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret)[1:-1],
    }


def sqlite_tables(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [connection.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables]
    assert "runs" in " ".join(tables), tables
    return json.dumps([tables, rows], default=str, ensure_ascii=False)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, docker_ready: docker.DockerClient) -> dict:
    """Every output of one run of the leaky pipeline, by where it was read."""
    folder = tmp_path_factory.mktemp("leaky")
    shutil.copy(Path(__file__).with_name("printer.py"), folder / "printer.py")
    (folder / ".env").write_text(f"DOTENV_TOKEN={SECRETS['dotenv-value']}\n")
    cli = Cli(folder)
    cli.write(PIPELINE)
    log_dir = folder / "copili-logs"
    run = cli("run", "pipeline.yaml", *PARAMS, "--log-dir", str(log_dir), env=OWN_ENV,
              timeout=180)
    assert run.code == 0, run.out[-3000:] + run.err
    run_id = cli("status", "pipeline.yaml", "--json").json()["run"]["id"]
    again = cli("run", "pipeline.yaml", *PARAMS, "--json", env=OWN_ENV)  # all skipped
    assert again.code == 0, again.err
    logs_dir = folder / ".orecart" / "runs"
    found = {
        "run stdout": run.out,
        "run stderr": run.err,
        "run --json": again.out + again.err,
        "plan --json": cli("plan", "pipeline.yaml", *PARAMS, "--json", env=OWN_ENV).out,
        "status --json": cli("status", "pipeline.yaml", "--json").out,
        "runs": cli("runs", "pipeline.yaml").out + cli("runs", "pipeline.yaml", "--json").out,
        "show": cli("show", run_id).out + cli("show", run_id, "--json").out,
        "logs": cli("logs", run_id).out,
        "member log files": "".join(p.read_text() for p in logs_dir.rglob("*.log")),
        "--log-dir files": "".join(p.read_text() for p in log_dir.glob("*.log")),
        "sqlite tables": sqlite_tables(folder / ".orecart" / "state.db"),
        "raw bytes under .orecart": b"".join(
            p.read_bytes() for p in (folder / ".orecart").rglob("*") if p.is_file()
        ).decode("utf-8", errors="replace"),
    }
    for place, text in found.items():
        assert text.strip(), f"{place} is empty: nothing was looked at"
    return found


@pytest.mark.docker
@pytest.mark.parametrize("place", [
    "run stdout", "run stderr", "run --json", "plan --json", "status --json", "runs", "show",
    "logs", "member log files", "--log-dir files", "sqlite tables", "raw bytes under .orecart",
])  # fmt: skip
@pytest.mark.parametrize("way", sorted(SECRETS))
def test_no_secret_reaches_any_output(outputs: dict, way: str, place: str) -> None:
    text = outputs[place]
    leaked = sorted(form for form in forms(SECRETS[way]) if form in text)
    assert not leaked, f"{way} leaked into {place} as {leaked}"


@pytest.mark.docker
@pytest.mark.parametrize("shown", [
    "printer SORT_KEY=name",  # a secret-looking name with an ordinary word: not masked
    "printer MONKEY_BUSINESS=banana-split-7",  # KEY inside another word: not secret
    "printer DB_PASSWORD=***",
    "printer PLAIN_THING=***",
    "printer API_SECRET=***",
    "printer UPSTREAM=***",
    "printer GITHUB_TOKEN=***",
    "printer AWS_SECRET_ACCESS_KEY=***",
    "printer DATABASE_URL=postgresql://app:***@db/x",
    "printer SSH_KEY=***",
    'printer ORECART_PARAMS={"API_TOKEN": "***", "pw": "***", "release": "2024"}',
    "pusher reg=***",
])  # fmt: skip
def test_member_output_is_masked_where_secret_and_only_there(outputs: dict, shown: str) -> None:
    member, text = shown.split(" ", 1)
    assert f"{member} | {text}" in outputs["run stdout"]
    assert f"stdout {text}\n" in outputs["member log files"]


@pytest.mark.docker
def test_a_secret_across_the_line_limit_is_masked_in_both_pieces(outputs: dict) -> None:
    lines = outputs["member log files"].splitlines()
    cut = [i for i, line in enumerate(lines) if line.endswith("x" * 100)]
    assert len(cut) == 1, "the long line was not cut"
    first = lines[cut[0]]
    # the piece after it is the next line of the same stream (stderr may come between)
    second = next(line for line in lines[cut[0] + 1:] if line.split(" ", 2)[1] == "stdout")
    assert len(first.split(" ", 2)[2]) <= MAX_LINE
    assert second.endswith("stdout ***")


@pytest.mark.docker
def test_parameters_in_secret_places_are_masked_in_the_run_record(outputs: dict) -> None:
    shown = json.loads(outputs["status --json"])["run"]["params"]
    assert shown == {"API_TOKEN": "***", "pw": "***", "release": "2024"}
    planned = json.loads(outputs["plan --json"])["params"]
    assert planned == shown
