"""How fast ``serve`` goes through its queue and how little it keeps per run: a real
``Server`` loop in a thread, real member processes, a real SQLite store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from orecart.model import RunStatus
from orecart.service.requests import RunRequest
from orecart.service.serving import Server, open_server
from orecart.stores import open_store

PIPELINE = "pace\nmembers:\n  - {name: a, run: [true], rerun: always}\n"


def served(folder: Path, poll: float) -> Server:
    file = folder / "pipeline.yaml"
    file.write_text(f"pipeline: {PIPELINE}")
    server = open_server([file], None, None, None, None, grace=5.0, requeue=1,
                         notice=lambda line: None)
    server.poll = poll
    return server


def drain(server: Server, count: int, within: float) -> list[RunStatus]:
    """Queue ``count`` runs, serve them; their statuses once all ended or ``within`` ran out."""
    ids = [server.service.submit(RunRequest("pace", key=f"k{i}")).run.id for i in range(count)]
    loop = threading.Thread(target=server.serve, daemon=True)
    loop.start()
    deadline = time.monotonic() + within
    store = server.service.store
    try:
        while time.monotonic() < deadline:
            statuses = [store.get_run(run_id).status for run_id in ids]
            if all(status.terminal for status in statuses):
                break
            time.sleep(0.05)
        return statuses
    finally:
        server.stop()
        loop.join(timeout=30)
        server.service.close()


def test_the_next_queued_run_starts_when_one_ends_not_at_the_next_poll(tmp_path: Path) -> None:
    # with a 5 s poll, three runs one after the other took over 10 s: the loop slept out
    # its poll after each run ended, as only a client's datagram woke it
    server = served(tmp_path, poll=5.0)
    statuses = drain(server, 3, within=4.0)
    assert statuses == [RunStatus.SUCCEEDED] * 3



def test_a_queued_run_cancelled_elsewhere_leaves_no_secret_in_memory(tmp_path: Path) -> None:
    # a secret parameter is held in memory only, until the run starts; a queued run
    # cancelled by another process (`orecart cancel`) kept it for the service's whole life
    server = served(tmp_path, poll=5.0)
    service = server.service
    try:
        asked = RunRequest("pace", params={"API_TOKEN": "s3cret-value"}, key="with-secret")
        run_id = service.submit(asked).run.id
        assert "s3cret-value" not in str(service.store.payload(run_id))
        assert run_id in service._held
        elsewhere = open_store(service.store.url)
        try:
            assert elsewhere.request_cancel(run_id).status is RunStatus.CANCELLED
        finally:
            elsewhere.close()
        server.tick()
        assert service._held == {}
        assert service.store.get_run(run_id).status is RunStatus.CANCELLED
    finally:
        service.close()
