"""Callbacks of runs submitted over the API: a real `orecart serve --http` with a callback
secret, a real local receiver. Each status change of the run reaches the receiver in
order, signed with HMAC-SHA256 over the body, carrying the run's metadata and no secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Cli
from tests.service.conftest import wait_until
from tests.service.test_callbacks import SECRET, Receiver, signed_right
from tests.web.conftest import QUICK, http_serve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(answers=[500])  # the first post fails: it is retried
    try:
        yield found
    finally:
        found.close()


def test_an_api_run_tells_its_callback_each_status_signed(tmp_path: Path,
                                                          receiver: Receiver) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "quick.yaml").write_text(QUICK)
    cli, state = Cli(tmp_path), f"sqlite:///{tmp_path / 'state.db'}"
    token = cli("token", "create", "--scope", "operate", "--state", state).out.strip()
    env = {"ORECART_CALLBACK_SECRET": SECRET, "ORECART_CALLBACK_BACKOFF": "0.2"}
    with http_serve(tmp_path, cli, state, env) as (serve, url):
        with httpx.Client(base_url=f"{url}/api/v1", timeout=15,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            created = client.post("/runs", json={
                "pipeline": "quick", "metadata": {"dataset": "d1"},
                "callback_url": receiver.url})
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]
        wait_until(lambda: receiver.events()[-3:] == ["queued", "running", "succeeded"],
                   "the three status changes delivered")
        assert receiver.events() == ["queued", "queued", "running", "succeeded"]  # 500, retry
        assert all(signed_right(headers, body) for headers, body in receiver.received)
        body = receiver.bodies()[-1]
        assert body["run"]["id"] == run_id and body["run"]["labels"] == {"dataset": "d1"}
        assert all(SECRET.encode() not in raw for _, raw in receiver.received)
        assert SECRET not in serve.log() and "tok-Secret-1" not in serve.log()
