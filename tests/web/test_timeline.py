"""What a run's page tells of where its time went, against a real ``orecart serve --http``
(SQLite state, local-process members, the session's real Neo4j) and headless Chromium:
a member that waited for its pool records the wait (API) and the timeline draws it
labelled with the pool; a member that failed once and was retried has two attempts, two
bars of two colours; a run's checks (the pipeline's, a member's post-check) and its
before-backup are in the API's run and in the page's summary, as text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.cli.conftest import Cli
from tests.services.neo4j import Neo4jServer, wipe
from tests.web.browser import SHOTS, chromium
from tests.web.conftest import http_serve

#: ``pooled``: two members in pool p (one slot); the second waits for the first
POOLED = """
pipeline: pooled
pools: {p: 1}
members:
  - {name: first, pool: p, rerun: always, run: [sleep, "0.5"]}
  - {name: second, pool: p, rerun: always, run: [sleep, "0.1"]}
"""
#: ``gatedpool``: hold keeps pool p (one slot) until the file GATE exists; behind waits
GATEDPOOL = """
pipeline: gatedpool
pools: {{p: 1}}
members:
  - name: hold
    pool: p
    rerun: always
    shell: "i=0; while [ ! -f {gate} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done"
  - {{name: behind, pool: p, rerun: always, run: [sh, -c, "true"]}}
"""
#: ``flaky``: fails while the file MARKER is missing (and makes it), then succeeds
FLAKY = """
pipeline: flaky
members:
  - name: flaky
    rerun: always
    retries: {{count: 1, backoff: 300ms}}
    shell: "if [ -f {marker} ]; then exit 0; fi; touch {marker}; exit 1"
"""
#: ``checked``: a before-backup, a member post-check that holds, two pipeline checks of
#: which the second fails
CHECKED = """
pipeline: checked
graph: {{uri: "{uri}", user: neo4j, password: "${{NEO4J_PASSWORD}}", wait: 20s}}
backup: {{before: true, dir: "{backups}"}}
checks:
  - {{name: answers, query: "RETURN 1", expect: 1}}
  - {{name: two-nevers, query: "MATCH (n:TimelineNever) RETURN count(n)", expect: 2}}
members:
  - name: look
    rerun: always
    run: [sh, -c, "true"]
    checks:
      - {{name: graph-answers, query: "RETURN true"}}
"""
EXPECT_MS = 15_000


@dataclass
class Served:
    url: str
    folder: Path
    token: str
    runs: dict[str, dict[str, Any]]  # pipeline -> its finished run, as the API gives it

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", timeout=15,
                            headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           neo4j_server: Neo4jServer) -> Iterator[Served]:
    wipe(neo4j_server)  # a backup of what earlier tests left would be slow
    folder = tmp_path_factory.mktemp("timeline")
    pipelines = folder / "pipelines"
    pipelines.mkdir()
    (pipelines / "pooled.yaml").write_text(POOLED)
    (pipelines / "flaky.yaml").write_text(FLAKY.format(marker=folder / "marker"))
    (pipelines / "gatedpool.yaml").write_text(GATEDPOOL.format(gate=folder / "gate"))
    (pipelines / "checked.yaml").write_text(
        CHECKED.format(uri=neo4j_server.uri, backups=folder / "backups"))
    cli, state = Cli(folder), f"sqlite:///{folder / 'state.db'}"
    token = cli("token", "create", "--scope", "operate", "--name", "t", "--state",
                state).out.strip()
    env = {"NEO4J_PASSWORD": neo4j_server.password}
    with http_serve(folder, cli, state, env) as (_, url):
        found = Served(url, folder, token, {})
        with found.client() as client:
            ids = {name: client.post("/runs", json={"pipeline": name}).json()["id"]
                   for name in ("pooled", "flaky", "checked")}
            for name, run_id in ids.items():
                found.runs[name] = _finished(client, run_id)
        yield found


def _finished(client: httpx.Client, run_id: str) -> dict[str, Any]:
    from tests.service.conftest import wait_until

    def ended() -> dict[str, Any] | None:
        run: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        return run if run["finished_at"] else None

    return wait_until(ended, f"run {run_id} ended")


def member(run: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in run["members"] if m["member"] == name)
    return found


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_member_that_waited_for_its_pool_has_the_wait_recorded(served: Served) -> None:
    run = served.runs["pooled"]
    assert run["status"] == "succeeded"
    first, second = member(run, "first"), member(run, "second")
    assert (first["waited_for"], first["waited_at"]) == (None, None)
    assert second["waited_for"] == "p"
    assert t(second["waited_at"]) < t(second["started_at"])
    assert t(second["started_at"]) >= t(first["finished_at"])  # the pool held it back
    assert second["attempt_spans"] == []  # tried once: the member run is its attempt
    with served.client() as client:
        listed = client.get(f"/runs/{run['id']}/members").json()
        detail = client.get(f"/runs/{run['id']}/members/second").json()
        log = client.get(f"/runs/{run['id']}/events").text
    assert [m["waited_for"] for m in listed] == [None, "p"]
    [tried] = detail["attempts"]
    assert (tried["waited_for"], tried["waited_at"]) == ("p", second["waited_at"])
    assert log.count("event: member_waiting") == 1  # once, not once per scheduling pass


def test_a_retried_member_has_each_attempt_in_the_run(served: Served) -> None:
    run = served.runs["flaky"]
    assert run["status"] == "succeeded"
    flaky = member(run, "flaky")
    spans = flaky["attempt_spans"]
    assert flaky["attempts"] == 2
    assert [(s["number"], s["status"]) for s in spans] == [(1, "failed"), (2, "succeeded")]
    gap = (t(spans[1]["started_at"]) - t(spans[0]["finished_at"])).total_seconds()
    assert gap >= 0.25  # the backoff between them


def test_a_runs_checks_and_backups_are_in_the_api(served: Served) -> None:
    run = served.runs["checked"]
    assert run["status"] == "failed"
    checks = [(c["member"], c["name"], c["passed"]) for c in run["checks"]]
    assert checks == [(None, "answers", True), (None, "two-nevers", False),
                      ("look", "graph-answers", True)]
    assert run["checks"][1]["message"] == "check 'two-nevers' failed: got 0, expected 2"
    assert run["error"] == run["checks"][1]["message"]
    [backup] = run["backups"]
    assert Path(backup).is_file() and "-before" in Path(backup).name


@pytest.fixture(scope="module")
def page(served: Served) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(EXPECT_MS)
        page.goto(served.url + "/")
        page.fill("input[name=token]", served.token)
        page.click("button[type=submit]")
        expect(page.get_by_role("link", name="pooled")).to_be_visible()
        yield page


def drawn(page: Page, served: Served, pipeline: str) -> list[dict[str, Any]]:
    """The bars the run page's timeline drew for the run of ``pipeline``."""
    page.goto(f"{served.url}/#/runs/{served.runs[pipeline]['id']}")
    expect(page.locator("canvas#timeline")).to_be_visible()
    page.screenshot(path=str(SHOTS / f"timeline-{pipeline}.png"), full_page=True)
    bars: list[dict[str, Any]] = page.evaluate("window.__timeline.bars")
    return bars


def test_the_timeline_draws_the_pool_wait_labelled_with_the_pool(page: Page,
                                                                 served: Served) -> None:
    bars = drawn(page, served, "pooled")
    waits = [(b["member"], b["for"]) for b in bars if b["kind"] == "wait"]
    assert waits == [("second", "p")]
    wait = next(b for b in bars if b["kind"] == "wait")
    start = next(b for b in bars if b["member"] == "second" and b["kind"] == "attempt")
    assert wait["end"] == start["start"] and wait["start"] < wait["end"]
    assert page.locator("canvas#timeline").get_attribute("data-bars") == str(len(bars))
    # no needs: the path is the member that ended last, its wait and attempt both outlined
    assert page.evaluate("window.__timeline.critical") == ["second"]
    assert {b["kind"] for b in bars if b["critical"]} == {"wait", "attempt"}


def test_the_timeline_draws_each_attempt_as_its_own_bar(page: Page, served: Served) -> None:
    bars = [b for b in drawn(page, served, "flaky") if b["kind"] == "attempt"]
    assert [(b["attempt"], b["status"]) for b in bars] == [(1, "failed"), (2, "succeeded")]
    assert bars[1]["start"] - bars[0]["end"] >= 250  # the backoff, a gap between them
    assert bars[0]["colour"] != bars[1]["colour"]  # the failed try is not green


def test_the_summary_lists_the_checks_and_backups_as_text(page: Page, served: Served) -> None:
    run = served.runs["checked"]
    page.goto(f"{served.url}/#/runs/{run['id']}")
    rows = page.locator("#checks tbody tr")
    expect(rows).to_have_count(3)
    assert rows.nth(1).inner_text().split("\t") == [
        "pipeline", "two-nevers", "failed", "check 'two-nevers' failed: got 0, expected 2"]
    assert rows.nth(2).inner_text().split("\t")[:3] == ["look", "graph-answers", "passed"]
    expect(page.locator("#backups li")).to_have_text(run["backups"])
    page.screenshot(path=str(SHOTS / "summary-checks.png"), full_page=True)


def test_a_wait_in_progress_is_drawn_live_until_the_member_starts(page: Page,
                                                                  served: Served) -> None:
    with served.client() as client:
        run_id = client.post("/runs", json={"pipeline": "gatedpool"}).json()["id"]
    page.goto(f"{served.url}/#/runs/{run_id}")
    page.wait_for_function("""() => (window.__timeline?.bars ?? []).some(
        (b) => b.kind === "wait" && b.member === "behind")""")
    live = page.evaluate("window.__timeline.bars")
    assert [(b["member"], b["for"]) for b in live if b["kind"] == "wait"] == [("behind", "p")]
    assert [(b["member"], b["status"]) for b in live if b["kind"] == "attempt"] == [
        ("hold", "running")]
    page.screenshot(path=str(SHOTS / "timeline-live-wait.png"), full_page=True)
    (served.folder / "gate").touch()
    expect(page.locator("#run-status .status")).to_have_text("succeeded")
    page.wait_for_function("""() => window.__timeline.bars.some(
        (b) => b.member === "behind" && b.kind === "attempt" && b.status === "succeeded")""")
    bars = page.evaluate("window.__timeline.bars")
    wait = next(b for b in bars if b["kind"] == "wait")
    start = next(b for b in bars if b["member"] == "behind" and b["kind"] == "attempt")
    assert wait["end"] == start["start"]  # the wait ended when it started, as recorded
