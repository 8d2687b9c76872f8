"""The web UI in headless Chromium against a real ``orecart serve --http`` (SQLite state,
local-process members): log in with a token, start a run from the form and watch its
member states change live, read a failed member's log, cancel a running run, and see a
member's ``<script>`` output as text. Screenshots go to test-artifacts/ui/. The tests run in
file order: the later ones read the run the first one made."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog, Page, Route, expect

from orecart.model import MemberRun, MemberStatus, Run, RunStatus
from orecart.stores import open_store
from tests.cli.conftest import Cli
from tests.web.browser import SHOTS, chromium
from tests.web.conftest import http_serve

#: ``ui``: hello prints a script tag; slow waits for the file GATE; bad fails with exit 3
UI = """
pipeline: ui
env: {SECRET_NAME_ONLY: "value-never-shown"}
members:
  - name: hello
    rerun: always
    run: [sh, -c, "echo '<script>alert(1)</script>'"]
  - name: slow
    needs: [hello]
    rerun: always
    shell: |
      i=0; while [ ! -f {gate} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
  - name: bad
    needs: [hello]
    rerun: always
    run: [sh, -c, "echo boom-from-bad; exit 3"]
"""
HANG = """
pipeline: hang
members:
  - name: wait
    rerun: always
    run: [sleep, "30"]
"""
EXPECT_MS = 15_000
WIDE = 400  # members of the ``wide`` run, written straight into the store


@dataclass
class Ui:
    url: str
    folder: Path
    tokens: dict[str, str]
    state: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", timeout=15,
                            headers={"Authorization": f"Bearer {self.tokens['read']}"})


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    folder = tmp_path_factory.mktemp("ui")
    (folder / "pipelines").mkdir()
    (folder / "pipelines" / "ui.yaml").write_text(UI.replace("{gate}", str(folder / "gate")))
    (folder / "pipelines" / "hang.yaml").write_text(HANG)
    (folder / "pipelines" / "wide.yaml").write_text(_wide())
    cli, state = Cli(folder), f"sqlite:///{folder / 'state.db'}"
    tokens = {scope: cli("token", "create", "--scope", scope, "--name", scope,
                         "--state", state).out.strip() for scope in ("read", "operate")}
    with http_serve(folder, cli, state) as (_, url):
        yield Ui(url, folder, tokens, state)


def _wide() -> str:
    members = "".join(f"  - name: w{i:04d}\n    run: [\"true\"]\n" for i in range(WIDE))
    return f"pipeline: wide\nmembers:\n{members}"


def _record_wide(state: str) -> str:
    """A finished run of ``wide`` written through the store, as a runner would leave it."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    run = Run("20260101T000000-00000000wide", "wide", RunStatus.SUCCEEDED, origin="api",
              queued_at=at, started_at=at, finished_at=at + timedelta(seconds=9))
    members = [MemberRun(run.id, f"w{i:04d}", MemberStatus.SUCCEEDED, attempts=1,
                         exit_code=0, position=i, started_at=at,
                         finished_at=at + timedelta(seconds=1)) for i in range(WIDE)]
    store = open_store(state)
    try:
        store.record(run.id, run=run, member_runs=members)
    finally:
        store.close()
    return run.id


@pytest.fixture(scope="module")
def page(ui: Ui) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(EXPECT_MS)
        yield page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page: Page, ui: Ui, scope: str = "operate") -> None:
    page.goto(ui.url + "/")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.fill("input[name=token]", ui.tokens[scope])
    shot(page, "01-login")
    page.click("button[type=submit]")
    expect(page.get_by_role("link", name="ui")).to_be_visible()
    assert ui.tokens[scope] not in page.url


def status_of(page: Page, member: str) -> str:
    return page.locator(f".vlist .row[data-member={member}] .status").inner_text()


def test_a_run_started_from_the_form_is_watched_live_to_its_end(page: Page, ui: Ui) -> None:
    login(page, ui)
    page.get_by_role("link", name="ui").click()
    page.fill("textarea[name=metadata]", "dataset=browser")
    page.click("#start button[type=submit]")
    expect(page.locator(".vlist .row[data-member=slow] .status")).to_have_text("running")
    assert page.locator("#cancel").is_visible()  # the run is live on the page, not reloaded
    url = page.url
    shot(page, "02-run-live")
    (ui.folder / "gate").touch()
    expect(page.locator("#run-status .status")).to_have_text("failed")
    assert page.url == url
    assert (status_of(page, "hello"), status_of(page, "slow"),
            status_of(page, "bad")) == ("succeeded", "succeeded", "failed")
    expect(page.locator("#retry")).to_be_visible()
    assert page.evaluate("performance.getEntriesByName('orecart:run-drawn').length") >= 1
    shot(page, "03-run-failed")

    page.locator(".vlist .row[data-member=bad] a").click()
    expect(page.locator("#log")).to_contain_text("boom-from-bad")
    expect(page.locator("td", has_text="SECRET_NAME_ONLY")).to_be_visible()
    assert "value-never-shown" not in page.content()
    shot(page, "04-failed-member-log")


def test_a_members_script_output_shows_as_text(page: Page, ui: Ui) -> None:
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    login(page, ui, "read")
    run_id = page.evaluate("""async () => {
        const r = await fetch('/api/v1/runs?pipeline=ui', {headers: {Authorization:
            'Bearer ' + sessionStorage.getItem('orecart.token')}});
        return (await r.json()).runs[0].id; }""")
    page.goto(f"{ui.url}/#/runs/{run_id}/members/hello")
    expect(page.locator("#log")).to_contain_text("<script>alert(1)</script>")
    assert page.locator("#log script").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    shot(page, "05-script-as-text")


def test_a_running_run_is_cancelled_from_its_page(page: Page, ui: Ui) -> None:
    login(page, ui)
    page.get_by_role("link", name="hang").click()
    page.click("#start button[type=submit]")
    expect(page.locator(".vlist .row[data-member=wait] .status")).to_have_text("running")
    page.click("#cancel")
    expect(page.locator("#run-status .status")).to_have_text("cancelled")
    shot(page, "06-cancelled")


def test_a_read_token_cannot_start_a_run_and_is_told_why(page: Page, ui: Ui) -> None:
    login(page, ui, "read")
    page.get_by_role("link", name="hang").click()
    page.click("#start button[type=submit]")
    expect(page.locator("#start + p.error")).to_contain_text("this needs operate")


def test_a_wide_run_is_drawn_grouped_and_listed_virtually(page: Page, ui: Ui) -> None:
    run_id = _record_wide(ui.state)
    login(page, ui, "read")
    page.goto(f"{ui.url}/#/runs/{run_id}")
    expect(page.locator("#run-status .status")).to_have_text("succeeded")
    expect(page.locator("#summary")).to_contain_text(f"{WIDE} succeeded")
    assert page.locator("canvas#dag").count() == 1
    rows = page.locator(".vlist .row").count()
    assert 0 < rows < 40, rows  # only the rows in view, not one per member
    page.fill("input[name=member-filter]", "w0399")
    expect(page.locator(".vlist .row")).to_have_count(1)
    shot(page, "07-wide-run")


def test_a_page_whose_endpoint_is_missing_says_so(page: Page, ui: Ui) -> None:
    login(page, ui, "read")
    page.goto(f"{ui.url}/#/pipelines/ui/sensors")
    expect(page.locator("section")).to_be_visible()
    section = page.locator("section")
    assert section.locator("[data-na], table, p.muted").count() == 1, section.inner_text()
    assert section.locator("p.error").count() == 0


def test_the_log_route_gives_a_tail_as_text_and_404_for_an_unknown_member(ui: Ui) -> None:
    with ui.client() as client:
        run_id = client.get("/runs", params={"pipeline": "ui"}).json()["runs"][-1]["id"]
        whole = client.get(f"/runs/{run_id}/members/bad/logs")
        assert whole.status_code == 200 and "boom-from-bad" in whole.text
        assert whole.headers["content-type"].startswith("text/plain")
        tail = client.get(f"/runs/{run_id}/members/bad/logs", params={"tail": 20})
        assert tail.text == whole.text[-20:]
        missing = client.get(f"/runs/{run_id}/members/nobody/logs")
        assert missing.status_code == 404 and "nobody" in missing.json()["error"]


def _record_changes(state: str, name: str, genes: int) -> str:
    """A finished run of ``wide`` whose first member recorded ``genes`` :Gene nodes added
    (keyed g0..), as a graph run's delta is kept (tests/graph has them made by Neo4j)."""
    at = datetime(2026, 1, 2, tzinfo=UTC)
    run = Run(f"20260102T00000{genes}-0000000{name}", "wide", RunStatus.SUCCEEDED, origin="api",
              queued_at=at, started_at=at, finished_at=at + timedelta(seconds=2))
    delta = {"nodes": {"Gene": genes}, "relationships": {"CODES": 1},
             "added": {"Gene": [f"<b>g{n}</b>" for n in range(genes)]}, "removed": {}}
    member = MemberRun(run.id, "w0000", MemberStatus.SUCCEEDED, attempts=1, exit_code=0,
                       started_at=at, finished_at=at + timedelta(seconds=1), delta=delta)
    store = open_store(state)
    try:
        store.record(run.id, run=run, member_runs=[member])
    finally:
        store.close()
    return run.id


def test_the_graph_diff_of_a_run_and_between_two_runs(page: Page, ui: Ui) -> None:
    first, second = _record_changes(ui.state, "diffa", 2), _record_changes(ui.state, "diffb", 5)
    login(page, ui, "read")
    page.goto(f"{ui.url}/#/runs/{first}/diff")
    changes = page.locator("section table")
    expect(changes).to_contain_text("Gene +2")
    expect(changes).to_contain_text("Gene: <b>g0</b>, <b>g1</b>")  # keys as text, not markup
    assert page.locator("section table b").count() == 0
    page.fill("input[name=against]", second)
    page.click("form.inline button[type=submit]")
    expect(page.locator("h1")).to_contain_text(f"against {second}")
    expect(page.locator("section table").first).to_contain_text("+3")
    shot(page, "08-diff")


def test_a_stream_dropped_without_its_end_is_resumed_with_backoff(page: Page, ui: Ui) -> None:
    """A serve that stops ends its streams without ``end``: the page used to reconnect
    every second forever. Here each stream answers a keepalive only, then closes."""
    login(page, ui, "read")
    asked: list[float] = []

    def dropped(route: Route) -> None:
        asked.append(time.monotonic())
        route.fulfill(status=200, body=": keepalive\n\n",
                      headers={"Content-Type": "text/event-stream"})

    page.route("**/api/v1/runs/dropped/events", dropped)
    try:
        page.evaluate("""async () => {
            const { follow } = await import("/api.js");
            window.stopFollowing = new AbortController();
            follow("/runs/dropped/events", () => {}, window.stopFollowing.signal);
        }""")
        page.wait_for_timeout(6500)
    finally:
        page.evaluate("window.stopFollowing && window.stopFollowing.abort()")
        page.unroute("**/api/v1/runs/dropped/events")
    gaps = [round(b - a, 1) for a, b in zip(asked, asked[1:], strict=False)]
    assert len(asked) == 3, gaps  # at 0, 1 and 3 s (the next at 7): not every second
    assert gaps[1] >= 1.7, gaps
