"""The REST API end to end against a real ``orecart serve --http``: submit and follow a run
over server-sent events (and resume with Last-Event-ID), run keys, cancel, retry, tokens
and scopes, label filters, cursor pages, errors as JSON."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack

import httpx

from tests.service.conftest import wait_until
from tests.web.conftest import GRAPHDOWN, Api, free_port


def events_of(client: httpx.Client, run_id: str, last: int | None = None) -> list[dict[str, str]]:
    """Every frame of the run's event stream until it closes."""
    headers = {"Last-Event-ID": str(last)} if last is not None else {}
    frames, frame = [], {}
    with client.stream("GET", f"/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                frames.append(frame) if frame else None
                frame = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                frame[name] = value
    return frames


def test_a_submitted_run_is_followed_over_sse_to_its_end_and_resumed(api: Api) -> None:
    with api.client("operate") as client:
        created = client.post("/runs", json={"pipeline": "demo", "key": "sse-1",
                                             "metadata": {"dataset": "sse"}})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        assert created.json()["status"] == "queued"
        frames = events_of(client, run_id)
        kinds = [f["event"] for f in frames]
        assert kinds[-1] == "end" and "run_finished" in kinds, kinds
        assert kinds.count("member_finished") == 2
        ids = [int(f["id"]) for f in frames[:-1]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        finished = json.loads(frames[kinds.index("run_finished")]["data"])
        assert finished["data"]["status"] == "succeeded"

        resumed = events_of(client, run_id, last=ids[2])
        assert [int(f["id"]) for f in resumed[:-1]] == ids[3:]

        again = client.post("/runs", json={"pipeline": "demo", "key": "sse-1"})
        assert (again.status_code, again.json()["id"]) == (200, run_id)
        detail = client.get(f"/runs/{run_id}").json()
        assert detail["metadata"] == {"dataset": "sse"} and detail["origin"] == "api"
        assert [m["member"] for m in detail["members"]] == ["a", "b"]
        member = client.get(f"/runs/{run_id}/members/b").json()
        assert member["member"]["exit_code"] == 0 and member["member"]["fingerprint"]
        assert [a["number"] for a in member["attempts"]] == [1]


def test_many_idle_event_streams_never_starve_the_other_routes(api: Api) -> None:
    """A sync stream held one of anyio's 40 worker threads per open run page: 90 took
    over 10 s to open (each waited for a keepalive to free a thread)."""
    gate = api.folder / "gate"
    with api.client("operate") as client:
        run_id = client.post("/runs", json={"pipeline": "gated"}).json()["id"]
    api.wait_status(run_id, "running")

    async def watch(count: int) -> tuple[float, float]:
        """Seconds to open ``count`` streams, and for ``/healthz`` to answer then."""
        opening = time.monotonic()
        headers = {"Authorization": f"Bearer {api.tokens['read']}"}
        limits = httpx.Limits(max_connections=count + 5)
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=15,
                                     limits=limits) as client, AsyncExitStack() as streams:
            for _ in range(count):
                stream = await streams.enter_async_context(
                    client.stream("GET", f"/api/v1/runs/{run_id}/events"))
                assert stream.status_code == 200
                await anext(stream.aiter_lines())  # its first frame: the stream is open
            opened = time.monotonic() - opening
            await asyncio.sleep(0.5)  # every stream idle, polling
            started = time.monotonic()
            health = await client.get("/healthz", timeout=15)
            assert health.status_code == 200
            return opened, time.monotonic() - started

    try:
        opened, answered = asyncio.run(watch(90))
    finally:
        gate.touch()
    assert opened < 5.0 and answered < 1.0, (opened, answered)
    api.wait_status(run_id, "succeeded")
    gate.unlink()


def test_an_event_cursor_past_any_stored_id_is_refused_or_read_as_the_end(api: Api) -> None:
    """Found by schemathesis: ``after=2**63`` overflowed the store's integer mid-stream."""
    with api.client("operate") as client:
        run_id = client.post("/runs", json={"pipeline": "demo"}).json()["id"]
        api.wait_status(run_id, "succeeded", "failed")
        refused = client.get(f"/runs/{run_id}/events", params={"after": 2**63})
        assert refused.status_code == 422, refused.text
        frames = events_of(client, run_id, last=2**64)
        assert [f["event"] for f in frames] == ["end"]


def test_a_running_run_is_cancelled_and_an_ended_one_is_a_conflict(api: Api) -> None:
    with api.client("operate") as client:
        run_id = client.post("/runs", json={"pipeline": "gated"}).json()["id"]
        api.wait_status(run_id, "running")
        cancelled = client.post(f"/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        api.wait_status(run_id, "cancelled")
        again = client.post(f"/runs/{run_id}/cancel")
        assert again.status_code == 409 and "already ended" in again.json()["error"]


def test_retry_runs_the_failed_members_again_or_from_a_member(api: Api) -> None:
    fail = api.folder / "fail"
    fail.touch()
    with api.client("operate") as client:
        run_id = client.post("/runs", json={"pipeline": "demo"}).json()["id"]
        assert api.wait_status(run_id, "failed", "succeeded")["status"] == "failed"
        fail.unlink()
        retried = client.post(f"/runs/{run_id}/retry", json={"only_failed": True})
        assert retried.status_code == 201, retried.text
        retry_id = retried.json()["id"]
        assert retry_id != run_id
        assert api.wait_status(retry_id, "failed", "succeeded")["status"] == "succeeded"
        members = {m["member"]: m["status"] for m in client.get(f"/runs/{retry_id}/members").json()}
        assert members == {"a": "skipped", "b": "succeeded"}
        page = client.get(f"/runs/{retry_id}/members", params={"offset": 1, "limit": 1})
        assert [m["member"] for m in page.json()] == ["b"]  # in plan order
        assert client.get(f"/runs/{retry_id}/members", params={"limit": 0}).status_code == 422
        huge = {"offset": 2**63, "limit": 2**63}  # past the stores' integers: refused, no 500
        assert client.get(f"/runs/{retry_id}/members", params=huge).status_code == 422

        unknown = client.post(f"/runs/{run_id}/retry", json={"from": "nope"})
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        started = client.post(f"/runs/{run_id}/retry", json={"from": "a"})
        assert started.status_code == 201


def test_tokens_and_scopes(api: Api) -> None:
    with api.client(None) as anonymous:
        health = anonymous.get("/healthz")
        assert health.json()["status"] == "ok"
        assert isinstance(health.json()["leading"], int)  # how many, never which
        assert "pipeline" not in health.text  # no pipeline named without a token
        assert anonymous.get("/metrics").status_code == 401
        refused = anonymous.get("/runs")
        assert refused.status_code == 401 and refused.json()["error"]
        assert anonymous.get("/runs", headers={"Authorization": "Bearer oc_nope"}
                             ).status_code == 401
        assert httpx.get(f"{api.url}/metrics").status_code == 401
    with api.client("read") as reader:
        assert reader.get("/runs").status_code == 200
        assert reader.get("/pipelines").status_code == 200
        forbidden = reader.post("/runs", json={"pipeline": "quick"})
        assert forbidden.status_code == 403 and "operate" in forbidden.json()["error"]
        assert reader.post("/runs/x/cancel").status_code == 403
        metrics = reader.get("/metrics")
        assert metrics.status_code == 200 and "orecart_runs{status=" in metrics.text
        assert "orecart_queue_length " in metrics.text
    state = f"sqlite:///{api.folder / 'state.db'}"
    made = api.cli("token", "create", "--scope", "read", "--name", "short", "--state", state)
    token = made.out.strip()
    assert made.code == 0 and made.out == f"{token}\n" and token.startswith("oc_")
    listed = api.cli("token", "list", "--state", state)
    assert ["short", "read"] in [line.split()[:2] for line in listed.out.splitlines()]
    assert token not in listed.out
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{api.url}/api/v1/runs", headers=headers).status_code == 200
    assert api.cli("token", "revoke", "short", "--state", state).code == 0
    assert httpx.get(f"{api.url}/api/v1/runs", headers=headers).status_code == 401
    assert token not in api.serve.log() and api.tokens["read"] not in api.serve.log()


def test_runs_filter_by_labels_and_page_with_a_cursor(api: Api) -> None:
    with api.client("operate") as client:
        ids = {}
        for n, dataset in enumerate(["x", "x", "y", "x", "y"]):
            body = {"pipeline": "quick", "metadata": {"dataset": dataset, "n": str(n)}}
            ids[client.post("/runs", json=body).json()["id"]] = dataset
        def listed(query: str) -> set[str]:
            return {r["id"] for r in client.get(f"/runs?pipeline=quick&{query}").json()["runs"]}
        assert listed("label.dataset=x") == {i for i, d in ids.items() if d == "x"}
        assert listed("metadata=dataset:y") == {i for i, d in ids.items() if d == "y"}
        assert listed("metadata=dataset:y&label.n=2") == {list(ids)[2]}
        refused = client.get("/runs?metadata=nocolon-Secret-9")
        assert refused.status_code == 422 and "Secret-9" not in refused.text

        seen, cursor = [], None
        while True:
            page = client.get("/runs", params={"pipeline": "quick", "limit": 2,
                                               **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200
            seen += [r["id"] for r in page.json()["runs"]]
            cursor = page.json()["next"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        assert [i for i in seen if i in ids] == list(reversed(ids))  # newest first
        refused = client.get("/runs?cursor=garbage-Secret-8!")
        assert refused.status_code == 422 and "Secret-8" not in refused.text
        wait_until(lambda: all(api.wait_status(i, "succeeded") for i in ids), "quick runs")


def test_errors_are_json_with_their_codes(api: Api) -> None:
    with api.client("operate") as client:
        assert client.get("/runs/nosuchrun").status_code == 404
        assert client.get("/runs/nosuchrun/events").status_code == 404
        assert client.get("/pipelines/nope").json()["error"].startswith("no pipeline")
        assert client.get("/pipelines/nope/plan").status_code == 404
        plan = client.get("/pipelines/demo/plan").json()
        assert [s["member"] for s in plan["steps"]] == ["a", "b"]
        assert client.get("/pipelines/demo").json()["members"][1]["needs"] == ["a"]
        bad = client.post("/runs", json={"pipeline": "demo", "params": {"p": 1},
                                         "extra": "secret-value-1"})
        assert bad.status_code == 422 and "secret-value-1" not in bad.text
        assert client.post("/runs", content=b"{not json",
                           headers={"content-type": "application/json"}).status_code == 422
        assert client.post("/runs", json={"pipeline": "nope"}).status_code == 404
        assert client.get("/nowhere").status_code == 404


def test_a_graph_that_is_down_is_unavailable_not_an_internal_error(api: Api) -> None:
    served = api.folder / "pipelines" / "graphdown.yaml"
    served.write_text(GRAPHDOWN.format(port=free_port()))
    with api.client("read") as client:
        try:
            wait_until(lambda: client.get("/pipelines/graphdown").status_code == 200,
                       "serve reads graphdown.yaml")
            down = client.get("/pipelines/graphdown/plan")
        finally:
            served.unlink()
        assert down.status_code == 503 and "internal error" not in down.text, down.text
        wait_until(lambda: client.get("/pipelines/graphdown").status_code == 404,
                   "serve forgets graphdown.yaml")
