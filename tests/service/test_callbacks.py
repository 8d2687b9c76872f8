"""Callbacks: a real local HTTP receiver hears each status change of a run, in order,
signed with HMAC-SHA256; failed posts are retried with backoff and every attempt is
recorded; a receiver that never answers leaves the run's own status alone. Runs are real
``orecart run`` / ``submit`` + ``serve`` processes on SQLite, members local processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orecart.callbacks import CallbackSettings, Delivery
from orecart.model import Run, RunStatus
from orecart.secrets import hide_url
from orecart.service.callbacks import Deliverer
from orecart.service.requests import RunRequest, from_payload, to_payload
from orecart.stores import open_store
from tests.service.conftest import Served, wait_until

SECRET = "callback-Key-5f0e9a"
PARAM_SECRET = "param-Secret-77aa"
ENV_SECRET = "env-Secret-0b1c2d"
FAST = {"ORECART_CALLBACK_BACKOFF": "0.05", "ORECART_CALLBACK_ATTEMPTS": "3",
        "ORECART_CALLBACK_TIMEOUT": "2"}

PIPELINE = """\
pipeline: told
env: {DB_PASSWORD: "${SOURCE_PASSWORD}"}
members:
  - {name: a, shell: 'echo "$DB_PASSWORD ${params.pw:-}"'}
  - {name: b, shell: 'true', needs: [a]}
"""


class Receiver:
    """A local HTTP receiver: answers the codes of ``answers`` in turn (200 once they are
    spent) and keeps every request's headers and body."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body))
                    code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://hook:tok-Secret-1@127.0.0.1:{self.server.server_port}/in?token=abcdef"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.received]

    def events(self) -> list[str]:
        return [body["event"] for body in self.bodies()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def signed_right(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Orecart-Signature", ""), expected)


def deliveries(served: Served, run_id: str) -> list[Delivery]:
    store = served.store()
    try:
        return store.deliveries(run_id)
    finally:
        store.close()


def run_with(served: Served, url: str, env: dict[str, str]) -> tuple[Run, str]:
    served.write(PIPELINE)
    done = served("run", "pipeline.yaml", "--callback", url, "-p", f"pw={PARAM_SECRET}",
                  env={**FAST, "SOURCE_PASSWORD": ENV_SECRET, **env})
    assert done.code == 0, done.err
    run = served.runs()[-1]
    return run, done.out + done.err


def test_a_run_tells_its_callback_each_status_in_order_signed_and_without_secrets(
        served: Served, receiver: Receiver) -> None:
    run, output = run_with(served, receiver.url, {"ORECART_CALLBACK_SECRET": SECRET})
    assert receiver.events() == ["queued", "running", "succeeded"]
    assert all(signed_right(headers, body) for headers, body in receiver.received)
    last = receiver.bodies()[-1]
    assert last["run"]["id"] == run.id and last["run"]["pipeline"] == "told"
    assert last["run"]["status"] == "succeeded" and last["members"] == {"succeeded": 2}
    assert last["run"]["created_at"] and last["run"]["started_at"] and last["run"]["ended_at"]
    assert set(last) == {"run", "event", "members"}
    for _, body in receiver.received:
        for secret in (SECRET, PARAM_SECRET, ENV_SECRET):
            assert secret.encode() not in body
    assert [(d.event, str(d.status), d.attempts, d.last_status)
            for d in deliveries(served, run.id)] == [
        ("queued", "delivered", 1, 200), ("running", "delivered", 1, 200),
        ("succeeded", "delivered", 1, 200)]
    assert "tok-Secret-1" not in output and "abcdef" not in output


def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_recorded(
        served: Served, receiver: Receiver) -> None:
    receiver.answers = [500, 500]
    run, _ = run_with(served, receiver.url, {"ORECART_CALLBACK_SECRET": SECRET})
    assert receiver.events() == ["queued", "queued", "queued", "running", "succeeded"]
    first = deliveries(served, run.id)[0]
    assert (first.event, str(first.status), first.attempts, first.last_status) == (
        "queued", "delivered", 3, 200)
    assert first.delivered_at is not None and first.last_error is None
    shown = served.ok("callbacks", run.id, "--pipeline", "pipeline.yaml", "--json").json()
    assert [row["attempts"] for row in shown["deliveries"]] == [3, 1, 1]
    assert shown["deliveries"][0]["url"] == hide_url(receiver.url)
    assert "tok-Secret-1" not in json.dumps(shown) and "abcdef" not in json.dumps(shown)


def test_a_receiver_that_is_down_fails_each_delivery_after_its_attempts(
        served: Served) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    run, _ = run_with(served, f"http://127.0.0.1:{port}/in", {})
    assert run.status is RunStatus.SUCCEEDED
    found = deliveries(served, run.id)
    assert [(d.event, str(d.status), d.attempts) for d in found] == [
        ("queued", "failed", 3), ("running", "failed", 3), ("succeeded", "failed", 3)]
    assert all(d.last_status is None and d.last_error for d in found)
    shown = served.ok("callbacks", run.id, "--pipeline", "pipeline.yaml")
    assert shown.out.count("failed") >= 3 and "attempts 3" in shown.out


def test_a_submitted_run_is_told_by_serve_unsigned_when_no_secret_is_set(
        served: Served, receiver: Receiver) -> None:
    served.write(PIPELINE)
    served.write(f"SOURCE_PASSWORD={ENV_SECRET}\n", ".env")
    serve = served.serve("pipeline.yaml")
    run_id = served.submit("--callback", receiver.url, "--label", "dataset=ds1")
    wait_until(lambda: len(receiver.received) >= 3, "three deliveries")
    assert receiver.events() == ["queued", "running", "succeeded"]
    assert all("X-Orecart-Signature" not in h for h, _ in receiver.received)
    assert receiver.bodies()[0]["run"]["labels"] == {"dataset": "ds1"}
    assert receiver.bodies()[0]["run"]["id"] == run_id
    assert all(ENV_SECRET.encode() not in body for _, body in receiver.received)
    log = serve.wait_log("unsigned")
    assert log.count("unsigned") == 1 and "tok-Secret-1" not in log


@pytest.mark.parametrize("url", ["ftp://x", "file:///etc/passwd", "http://", "nothing",
                                 "http://a\u007fb.example/"])
def test_a_callback_that_is_not_http_is_a_usage_error(served: Served, url: str) -> None:
    served.write(PIPELINE)
    served.write(f"SOURCE_PASSWORD={ENV_SECRET}\n", ".env")
    done = served("submit", "pipeline.yaml", "--callback", url)
    assert done.code == 2, done.err
    assert "--callback" in done.err and "Traceback" not in done.err
    assert served.runs() == []


def test_a_url_the_client_refuses_is_a_failed_attempt_and_the_deliverer_goes_on(
        tmp_path: Path, receiver: Receiver) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    for run_id, url in (("bad1", "http://a\u007fb.example/x"), ("bad2", "http://xn--a.com/"),
                        ("good", receiver.url)):  # stored by an older orecart's check
        store.enqueue(Run(id=run_id, pipeline="p", status=RunStatus.QUEUED),
                      {"callback_url": url})
    deliverer = Deliverer(store, CallbackSettings(attempts=1, timeout=2), None)
    deliverer.start()
    try:
        assert deliverer.drain(["bad1", "bad2", "good"], timeout=10)
    finally:
        deliverer.stop()
    shown = {run_id: (str(d.status), d.attempts, d.last_error or "")
             for run_id in ("bad1", "bad2", "good") for d in store.deliveries(run_id)}
    store.close()
    assert shown["good"] == ("delivered", 1, "") and receiver.events() == ["queued"]
    assert shown["bad1"][:2] == ("failed", 1) and "InvalidURL" in shown["bad1"][2]
    assert shown["bad2"][:2] == ("failed", 1) and "a.example" not in shown["bad2"][2]


def test_a_callback_url_is_shown_as_scheme_host_and_port_only() -> None:
    assert hide_url("https://me:pw-123@h:8/x?token=abc&n=1") == "https://***@h:8/***?***"
    assert hide_url("https://hooks.example.com/services/T0/B0/SECRET") == (
        "https://hooks.example.com/***")
    assert hide_url("https://h/") == "https://h/" and hide_url("http://h") == "http://h"
    assert hide_url("http://[::1]:9/x") == "http://[::1]:9/***"
    assert hide_url("nothing") == "***"


def test_a_payload_of_an_older_orecart_loads_without_a_callback() -> None:
    run = Run(id="r1", pipeline="p", status=RunStatus.QUEUED)
    request = RunRequest("p", callback_url="https://h/x")
    payload = to_payload(request)
    assert from_payload(run, payload)[0].callback_url == "https://h/x"
    del payload["callback_url"]
    assert from_payload(run, payload)[0].callback_url is None
