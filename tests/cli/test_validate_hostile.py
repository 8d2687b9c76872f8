"""`orecart validate` on hostile files: one line naming file:line:col, exit code 2, no
traceback and no crash, however the file was made to hurt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.cli.conftest import Cli

CORPUS = Path(__file__).parent.parent / "spec" / "malformed"


def _refused(cli: Cli, where: str) -> str:
    done = cli("validate", "pipeline.yaml", timeout=30)
    assert done.code == 2, (done.code, done.err)
    assert "Traceback" not in done.err and done.err.count("\n") == 1, done.err
    assert f"pipeline.yaml:{where}" in done.err, done.err
    return done.err


@pytest.mark.parametrize(
    ("name", "where"),
    [("billion_laughs.yaml", "6:13"), ("not_utf8.yaml", "3:14"), ("name_dotdot.yaml", "2:11")],
)
def test_hostile_corpus_files_exit_2_with_their_location(
    cli: Cli, name: str, where: str
) -> None:
    shutil.copy(CORPUS / name, cli.folder / "pipeline.yaml")
    _refused(cli, where)


def test_a_hundred_thousand_brackets_are_refused_not_a_crash(cli: Cli) -> None:
    """PyYAML's C composer recursed once per level and the process died (SIGSEGV)."""
    cli.write("members: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nested deeper than 100 levels" in _refused(cli, "1:")


def test_a_malformed_dotenv_line_is_an_error_with_its_line(cli: Cli) -> None:
    """python-dotenv only warned and skipped the line, so the variable was silently unset."""
    cli.write("members:\n  - {name: a, run: 'echo ${TOKEN:-none}'}\n")
    (cli.folder / ".env").write_text("A=1\nTOKEN 'oops'\n")
    done = cli("validate", "pipeline.yaml", timeout=30)
    assert done.code == 2 and ".env:2:1: expected NAME=VALUE" in done.err, done.err


def test_a_hook_module_beside_the_file_validates_and_a_missing_one_does_not(cli: Cli) -> None:
    (cli.folder / "myhooks.py").write_text("")
    cli.write("hooks: [myhooks]\nmembers:\n  - {name: a, run: 'true'}\n")
    done = cli("validate", "pipeline.yaml", timeout=30)
    assert done.code == 0, done.err
    cli.write("hooks: [myhooks, myhookz]\nmembers:\n  - {name: a, run: 'true'}\n")
    assert "hooks[1]: no module 'myhookz'" in _refused(cli, "1:18")


@pytest.mark.parametrize(
    "url", ["postgresql://app:s3cretpw@[::1/x", "postgresql://app:s3cretpw@db:port/x",
            "postgresql+nodriver://app:s3cretpw@db/x"],
)
@pytest.mark.parametrize("command", ["run", "status"])
def test_a_state_url_that_cannot_be_read_is_bad_input_not_an_internal_error(
    cli: Cli, url: str, command: str
) -> None:
    """A port or host SQLAlchemy cannot read raised a bare ValueError (exit 1, "internal
    error"); an unknown driver failed only when the store was opened (exit 1)."""
    cli.write("members:\n  - {name: a, run: 'true'}\n")
    done = cli(command, "pipeline.yaml", "--state", url, timeout=30)
    assert done.code == 2, (done.code, done.err)
    assert "is not valid" in done.err and "internal error" not in done.err, done.err
    assert "s3cretpw" not in done.out + done.err


def test_a_dotenv_file_that_is_not_utf8_is_refused_with_line_and_column(cli: Cli) -> None:
    """It was refused with Python's "can't decode byte 0xff in position 7" (a byte offset)."""
    cli.write("members:\n  - {name: a, run: 'echo ${B:-none}'}\n")
    (cli.folder / ".env").write_bytes(b"A=1\nB=ok\xff\n")
    done = cli("validate", "pipeline.yaml", timeout=30)
    assert done.code == 2 and ".env:2:5: the .env file is not UTF-8 text" in done.err, done.err
    assert "position" not in done.err


def test_an_unknown_containment_is_refused_before_the_run(cli: Cli) -> None:
    """Every local member used to start and end errored (exit 1) on ORECART_CONTAINMENT=jail."""
    cli.write("members:\n  - {name: a, run: 'true'}\n")
    done = cli("run", "pipeline.yaml", env={"ORECART_CONTAINMENT": "jail"}, timeout=30)
    assert done.code == 2, (done.code, done.out, done.err)
    assert "ORECART_CONTAINMENT: unknown containment 'jail'" in done.err
    assert not (cli.folder / ".orecart" / "runs").exists()  # no run was started
