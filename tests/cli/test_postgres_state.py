"""A run recorded in a real PostgreSQL state store, chosen with --state."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from tests.cli.conftest import Cli


def test_run_with_postgresql_state(cli: Cli, postgres_url: str) -> None:
    name = f"orecart_cli_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(False)
    cli.write("pipeline: pg\nmembers:\n  - {name: a, shell: 'echo in-pg'}\n"
              "  - {name: b, shell: 'exit 4', needs: [a]}\n")
    assert cli("run", "pipeline.yaml", "--state", url).code == 1
    data = cli("status", "pipeline.yaml", "--state", url, "--json").json()
    assert {m["member"]: m["status"] for m in data["members"]} == {"a": "succeeded",
                                                                   "b": "failed"}
    assert not (cli.folder / ".orecart" / "state.db").exists()
    rerun = cli("run", "pipeline.yaml", "--only-failed", env={"ORECART_STATE": url})
    assert rerun.code == 1
    again = cli("status", "pipeline.yaml", "--state", url, "--json").json()
    assert {m["member"]: m["status"] for m in again["members"]}["a"] == "skipped"
    admin.dispose()
