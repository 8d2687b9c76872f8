"""Sensors under a real ``orecart serve``: new tags of a real bare repository run in source
order with their params, exactly once across a restart; a sensor error (a hanging HTTP
server, a missing remote) is recorded and shown while serve and the other sensors go on;
``orecart sensors --tick`` and ``orecart versions`` (failed versions retried by policy,
latest_only's skipped ones)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.sensors.sources import GitSource, Served, http_source
from tests.service.conftest import Served as Folder
from tests.service.conftest import lines, wait_until

TAGS = """
pipeline: hla
sensors:
  - name: releases
    git: {{remote: "{url}", refs: "refs/tags/v*"}}
    every: 1s
    version_pattern: "v(.*)"
members:
  - name: load
    shell: >-
      echo "${{params.version}},${{params.tag}},${{params.commit}},${{params.sensor}}" >> {out}
"""


def loaded(path: Path) -> list[list[str]]:
    return [line.split(",") for line in lines(path)]


def test_serve_loads_new_tags_in_order_exactly_once_across_a_restart(served: Folder) -> None:
    source = GitSource(served.folder)
    out = served.folder / "loaded"
    commits = {}
    for tag in ("v3.1", "v3.10", "v3.2"):  # creation order, not name order
        commits[tag] = source.commit(tag)
        source.tag(tag)
    source.push()
    served.write(TAGS.format(url=source.url, out=out))
    first = served.serve("pipeline.yaml")
    wait_until(lambda: len(loaded(out)) == 3, "three releases loaded")
    assert loaded(out) == [[t[1:], t, commits[t], "releases"] for t in ("v3.1", "v3.10", "v3.2")]
    first.wait_log("(sensor releases of hla: version 3.2, key sensor:releases:v3.2@")
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    commits["v3.3"] = source.commit("v3.3")
    source.tag("v3.3")
    source.push()
    second = served.serve("pipeline.yaml")
    wait_until(lambda: len(loaded(out)) == 4, "the new release loaded")
    second.wait_log("version 3.3, key")
    assert loaded(out)[-1] == ["3.3", "v3.3", commits["v3.3"], "releases"]

    def sensor_runs_ended() -> list:
        runs = [r for r in served.runs() if r.origin == "sensor"]
        return runs if all(r.status.terminal for r in runs) else []

    runs = wait_until(sensor_runs_ended, "the four sensor runs recorded as ended")
    assert len(runs) == 4 and all(r.status == "succeeded" for r in runs)
    assert len(loaded(out)) == 4  # nothing ran twice


BROKEN = """
pipeline: watched
sensors:
  - name: feed
    http: {{url: "{url}"}}
    every: 1s
    timeout: 1s
  - name: gone
    git: {{remote: "{missing}", branch: main}}
    every: 1s
  - name: drops
    file: {{glob: "incoming/*.csv"}}
    every: 1s
members:
  - name: load
    shell: 'echo "${{params.sensor}}:${{params.file:-}}" >> {out}'
"""


def test_a_sensor_error_is_recorded_and_shown_and_serve_goes_on(served: Folder) -> None:
    out = served.folder / "loaded"
    (served.folder / "incoming").mkdir()
    hanging = Served(delay=30.0)
    with http_source(hanging) as url:
        missing = (served.folder / "nothing.git").as_uri()
        served.write(BROKEN.format(url=url, missing=missing, out=out))
        serve = served.serve("pipeline.yaml")
        serve.wait_log("error: sensor gone of watched: git ls-remote")
        serve.wait_log("error: sensor feed of watched: http")
        (served.folder / "incoming" / "a.csv").write_text("1,2\n")
        wait_until(lambda: lines(out) == ["drops:incoming/a.csv"], "the dropped file loaded")
        shown = json.loads(served.ok("sensors", "pipeline.yaml", "--json").out)
        errors = {s["name"]: s["error"] for s in shown}
        assert "no answer within 1s" in errors["feed"]
        assert "nothing.git" in errors["gone"] and errors["drops"] is None
        assert all(s["error_at"] for s in shown if s["name"] != "drops")
        assert serve.process.poll() is None


FLAKY = """
pipeline: flaky
sensors:
  - name: commits
    git: {{remote: "{url}", branch: main}}
    version_pattern: "release (\\\\S+)"
    latest_only: true
    retries: 1
    every: 1s
members:
  - name: load
    shell: 'echo "${{params.version}}" >> {out}; test "${{params.version}}" != "bad"'
"""


def test_tick_queues_new_versions_and_versions_shows_their_states(served: Folder) -> None:
    source = GitSource(served.folder)
    out = served.folder / "loaded"
    source.commit("release first")
    source.push()
    served.write(FLAKY.format(url=source.url, out=out))
    ticked = served.ok("sensors", "pipeline.yaml", "--tick")
    assert "sensor commits: version first queued as run" in ticked.out
    assert "nothing new" in served.ok("sensors", "pipeline.yaml", "--tick").out
    for subject in ("release 1.0", "release 1.0", "release bad", "not a release"):
        source.commit(subject)
    source.push()
    ticked = served.ok("sensors", "pipeline.yaml", "--tick")
    assert "version 1.0 queued" in ticked.out and "version bad queued" in ticked.out
    states = _states(served)
    assert [s for _, s, _ in states] == ["queued", "skipped", "queued", "queued"]
    serve = served.serve("pipeline.yaml")
    wait_until(lambda: lines(out).count("bad") == 2, "the failed version retried once")
    wait_until(lambda: [s for _, s, _ in _states(served)] == [
        "succeeded", "skipped", "succeeded", "failed"], "the versions' states")
    serve.signal(signal.SIGTERM)
    assert serve.wait() == 0
    assert [v for v, _, _ in _states(served)] == ["first", "1.0", "1.0", "bad"]
    assert [n for _, _, n in _states(served)] == [1, 0, 1, 2]  # runs per version
    assert lines(out) == ["first", "1.0", "bad", "bad"]
    table = served.ok("versions", "pipeline.yaml").out
    assert "skipped" in table and "failed" in table


def _states(served: Folder) -> list[tuple[str, str, int]]:
    shown = json.loads(served.ok("versions", "pipeline.yaml", "--json").out)
    return [(v["version"], v["state"], len(v["runs"])) for v in shown]
