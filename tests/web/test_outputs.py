"""What a run left, over the API of a real ``serve --http``: a member's log (whole and
followed as server-sent events while it runs, secrets redacted as on disk), its artifacts
(listed, downloaded; a path out of the folder is refused, a symlink out is not served),
the graph diff (of deltas recorded as a graph run records them; 409 without any), and
callback URLs shown masked."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import httpx

from orecart.stores import open_store
from tests.web.conftest import Api


def log_frames(client: httpx.Client, run_id: str, member: str,
               gate: Path) -> list[tuple[str, object]]:
    """(event, data) of every frame of the followed log until it closes; ``gate`` is
    made once the line ``before`` arrived (the member is still running then)."""
    frames, event = [], ""
    with client.stream("GET", f"/runs/{run_id}/members/{member}/logs",
                       params={"follow": "true"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                frames.append((event, json.loads(line[len("data: "):])))
                if event == "log" and str(frames[-1][1]).endswith(" stdout before"):
                    gate.touch()
    return frames


def test_a_members_log_is_read_whole_and_followed_to_its_end(api: Api) -> None:
    hold = api.folder / "slow-hold"
    hold.touch()
    try:
        with api.client("operate") as client:
            run_id = client.post("/runs", json={"pipeline": "outputs"}).json()["id"]
            frames = log_frames(client, run_id, "slow", api.folder / "slow-gate")
            api.wait_status(run_id, "succeeded")
            said = [str(d).rpartition(" stdout ")[2] for e, d in frames if " stdout " in str(d)]
            assert said == ["before", "after"] and frames[-1] == ("end", {}), frames
            assert "finished: succeeded" in str(frames[-2][1])
            whole = client.get(f"/runs/{run_id}/members/art/logs")
            assert whole.status_code == 200 and whole.headers["content-type"].startswith(
                "text/plain")
            assert "token ***" in whole.text and "s3cret-value-42" not in whole.text
            assert " stdout done\n" in whole.text
            assert client.get(f"/runs/{run_id}/members/nope/logs").status_code == 404
            assert client.get("/runs/nosuchrun/members/art/logs").status_code == 404
    finally:
        hold.unlink()
        (api.folder / "slow-gate").unlink(missing_ok=True)


def test_artifacts_are_listed_and_downloaded_and_nothing_outside_is_served(api: Api) -> None:
    with api.client("read") as client:
        run_id = submitted(api, "outputs")
        base = f"/runs/{run_id}/members/art/artifacts"
        listed = client.get(base)
        assert listed.status_code == 200, listed.text
        assert listed.json() == [{"name": "out.txt", "size": 4},
                                 {"name": "sub/deep.txt", "size": 7}]
        got = client.get(f"{base}/sub/deep.txt")
        assert (got.status_code, got.content) == (200, b"deeper\n")
        assert got.headers["content-type"] == "application/octet-stream"
        for name in ("link", "nope.txt", "%2e%2e/%2e%2e/%2e%2e/outside.txt",
                     "..%2F..%2F..%2Foutside.txt", "sub/%2e%2e/out.txt",
                     "%2Fetc%2Fpasswd", "sub//deep.txt", "x" * 300, f"sub/{'y' * 300}"):
            refused = client.get(f"{base}/{name}")
            assert refused.status_code == 404, (name, refused.text)
            assert "not an artifact" not in refused.text and "root:" not in refused.text
        assert client.get(f"/runs/{run_id}/members/nope/artifacts").status_code == 404


def test_a_run_without_a_graph_has_no_diff(api: Api) -> None:
    with api.client("read") as client:
        run_id = submitted(api, "quick")
        refused = client.get(f"/runs/{run_id}/diff")
        assert refused.status_code == 409 and "no graph changes" in refused.json()["error"]
        against = client.get(f"/runs/{run_id}/diff", params={"against": run_id})
        assert against.status_code == 409
        assert client.get("/runs/nosuchrun/diff").status_code == 404
        assert client.get(f"/runs/{run_id}/diff?against=nosuchrun").status_code == 404


def test_diff_gives_what_each_member_changed_and_how_two_runs_differ(api: Api) -> None:
    first, second = submitted(api, "quick"), submitted(api, "quick")
    store = open_store(f"sqlite:///{api.folder / 'state.db'}")
    try:  # the deltas a graph run records (tests/graph has them made by real Neo4j)
        for run_id, added in ((first, 2), (second, 5)):
            [one] = store.member_runs(run_id)
            store.save_member_run(replace(one, delta={
                "nodes": {"Gene": added}, "relationships": {"CODES": 1},
                "added": {"Gene": [f"g{n}" for n in range(added)]}, "removed": {}}))
    finally:
        store.close()
    with api.client("read") as client:
        one = client.get(f"/runs/{first}/diff")
        assert one.status_code == 200, one.text
        assert one.json() == {"run": first, "members": [{
            "member": "one", "run_id": first, "status": "succeeded", "nodes": {"Gene": 2},
            "relationships": {"CODES": 1}, "added": {"Gene": ["g0", "g1"]}, "removed": {}}]}
        both = client.get(f"/runs/{first}/diff", params={"against": second}).json()
        assert both["runs"] == {"a": first, "b": second}
        assert both["nodes"] == {"Gene": {"a": 2, "b": 5, "difference": 3}}
        assert both["members"]["one"]["changed"] == []


def test_a_callback_url_is_taken_and_never_shown_in_full(api: Api) -> None:
    url = "https://user:pw-secret-1@127.0.0.1:9/hook?token=tok-secret-2"
    with api.client("operate") as client:
        created = client.post("/runs", json={"pipeline": "quick", "callback_url": url})
        assert created.status_code == 201, created.text
        assert created.json()["callback_url"] == "https://***@127.0.0.1:9/***?***"
        run_id = created.json()["id"]
        api.wait_status(run_id, "succeeded")
        assert "secret" not in client.get(f"/runs/{run_id}").text
        deliveries = api.cli("callbacks", run_id, "--state",
                             f"sqlite:///{api.folder / 'state.db'}", "--json")
        assert deliveries.code == 0 and deliveries.json(), deliveries.err
        refused = client.post("/runs", json={"pipeline": "quick",
                                             "callback_url": "ftp://u:pw-secret-3@h/x"})
        assert refused.status_code == 422 and "callback_url" in refused.json()["error"]
        assert "pw-secret-3" not in refused.text
    assert "secret" not in api.serve.log()


def submitted(api: Api, pipeline: str) -> str:
    with api.client("operate") as client:
        run_id: str = client.post("/runs", json={"pipeline": pipeline}).json()["id"]
    api.wait_status(run_id, "succeeded")
    return run_id
