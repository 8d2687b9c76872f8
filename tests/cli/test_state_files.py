"""History commands on a state store they may only read, and state files that are not
orecart's: reads never write, and a file that is not a state database is refused (exit 2)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.cli.conftest import Cli

from orecart.model import MemberRun, MemberStatus, Run, RunStatus
from orecart.stores import open_store

PIPELINE = 'pipeline: p\nmembers:\n  - {name: a, shell: "true"}\n  - {name: b, shell: "true"}\n'


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def died_mid_run(db: Path) -> None:
    """A run whose orecart was killed while ``a`` ran and ``b`` waited."""
    store = open_store(f"sqlite:///{db}")
    try:
        started = datetime.now(UTC)
        store.save_run(Run("r-died", "p", RunStatus.RUNNING, started_at=started,
                           host=socket.gethostname(), pid=dead_pid()))
        store.save_member_run(MemberRun("r-died", "a", MemberStatus.RUNNING, started_at=started))
        store.save_member_run(MemberRun("r-died", "b", MemberStatus.PENDING, position=1))
    finally:
        store.close()  # the last connection checkpoints: no WAL is left beside the file


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Not even root may change these (ext4's immutable attribute) while inside."""
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


@pytest.mark.parametrize("what", ["file", "file and folder"])
def test_history_reads_a_store_nobody_may_write(cli: Cli, tmp_path: Path, what: str) -> None:
    cli.write(PIPELINE)
    db = tmp_path / ".orecart" / "state.db"
    db.parent.mkdir()
    died_mid_run(db)
    before = db.read_bytes()
    frozen = [db] if what == "file" else [db, db.parent]
    with immutable(*frozen):
        status = cli("status", "pipeline.yaml", "--json")
        runs = cli("runs", "pipeline.yaml", "--json")
        show = cli("show", "r-died")
    assert status.code == 0, status.err
    data = status.json()
    assert (data["run"]["status"], data["run"]["error"]) == ("aborted", "orecart died while it ran")
    assert {m["member"]: m["status"] for m in data["members"]} == {"a": "aborted", "b": "aborted"}
    assert runs.code == 0 and runs.json()[0]["status"] == "aborted", runs.err
    assert show.code == 0 and "aborted" in show.out and "orecart died" in show.out, show.err
    assert db.read_bytes() == before


def test_history_of_a_pipeline_that_never_ran_creates_nothing(cli: Cli, tmp_path: Path) -> None:
    cli.write(PIPELINE)
    done = cli("status", "pipeline.yaml")
    assert done.code == 0 and "no runs yet" in done.out, done.err
    assert not (tmp_path / ".orecart").exists()


def foreign_database(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE people (name TEXT)")
    connection.commit()
    connection.close()


@pytest.mark.parametrize(
    ("kind", "says"),
    [("empty", "empty (0 bytes)"), ("garbage", "not an SQLite database"),
     ("foreign", "without orecart's tables (it has: people)")],
)
@pytest.mark.parametrize("command", ["run", "status"])
def test_a_state_file_that_is_not_orecarts_is_refused(
    cli: Cli, tmp_path: Path, kind: str, says: str, command: str
) -> None:
    cli.write(PIPELINE)
    db = tmp_path / ".orecart" / "state.db"
    db.parent.mkdir()
    if kind == "foreign":
        foreign_database(db)
    else:
        db.write_bytes(b"" if kind == "empty" else b"not a database at all\n" * 20)
    before = db.read_bytes()
    done = cli(command, "pipeline.yaml")
    assert done.code == 2, (done.out, done.err)
    assert f"{db}: " in done.err and says in done.err
    assert "not an orecart state database" in done.err
    assert "Traceback" not in done.err
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["state.db"]  # no WAL, no journal
