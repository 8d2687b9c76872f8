"""sensors: in native files: the kinds and options map onto the model; a bad sensor is
refused with its file, line and field (exit 2, no traceback); the schema knows them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orecart.errors import SpecError
from orecart.sensing import FileWatch, GitWatch, HttpWatch, Sensor
from orecart.spec import load_pipeline, pipeline_schema
from tests.spec.conftest import Write

ISSUE = """
    pipeline: hla
    sensors:
      - name: releases
        git: {remote: "file:///srv/IMGTHLA.git", refs: "refs/tags/v*"}
        every: 30s
        version_pattern: "v(.*)"
        latest_only: true
      - name: feed
        http: {url: "http://127.0.0.1:8000/data.csv", headers: {Accept: text/csv}}
        every: 1m
        retries: 0
      - name: drops
        file: {glob: "incoming/*.csv"}
        every: 10s
        timeout: 5s
    members:
      - name: load
        run: [./load.sh, "${params.version}", "${params.commit}"]
"""


def test_the_issues_sensors_map_onto_the_model(write: Write) -> None:
    pipeline = load_pipeline(write(ISSUE), environ={}, params={"version": "1", "commit": "c"})
    assert pipeline.sensors == (
        Sensor("releases", GitWatch("file:///srv/IMGTHLA.git", refs="refs/tags/v*"), 30.0,
               "v(.*)", latest_only=True),
        Sensor("feed", HttpWatch("http://127.0.0.1:8000/data.csv", {"Accept": "text/csv"}),
               60.0, retries=0),
        Sensor("drops", FileWatch("incoming/*.csv"), 10.0, timeout=5.0),
    )
    assert [s.kind for s in pipeline.sensors] == ["git", "http", "file"]


BAD = [
    ("sensors: [{name: a, git: {remote: r, refs: x, branch: main}}]",
     "1:47: sensors[a].git: give only one of 'refs' or 'branch'"),
    ("sensors: [{name: a, git: {remote: r, refs: x}, http: {url: 'http://h'}}]",
     "1:48: sensors[a]: give only one of 'git' or 'http'"),
    ("sensors: [{name: a, file: {glob: '*'}, version_pattern: '('}]",
     "1:57: sensors[a].version_pattern: '(' is not a regular expression"),
    ("sensors: [{name: a, http: {url: 'http://h'}, version_pattern: 'x'}]",
     "1:63: sensors[a].version_pattern: applies to git refs"),
    ("sensors: [{name: a, file: {glob: x}}, {name: a, file: {glob: y}}]",
     "1:46: sensors[a].name: duplicate sensor name 'a' (first at line 1)"),
    ("sensors: [{name: a, file: {glob: x}, every: 10ms}]",
     "1:45: sensors[a].every: must be at least 1s"),
    ("sensors: [{name: a, http: {url: 'ftp://h'}}]", "1:33: sensors[a].http.url: 'ftp://h' is not"),
    ("sensors: [{name: a, file: {glob: x}, evry: 1s}]",
     "1:38: sensors[a]: unknown key 'evry'; did you mean 'every'?"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_sensor_is_named_by_file_line_and_field(write: Write, text: str,
                                                      message: str) -> None:
    path = write(text + "\nmembers: [{name: m, run: [true]}]\n")
    with pytest.raises(SpecError) as caught:
        load_pipeline(path, environ={})
    assert message in str(caught.value)


def test_validate_shows_the_sensors_and_refuses_a_bad_one_with_exit_2(write: Write) -> None:
    good = write("sensors: [{name: drops, file: {glob: '*.csv'}, every: 10s}]\n"
                 "members: [{name: m, run: [true]}]\n", "good.yaml")
    done = subprocess.run([sys.executable, "-m", "orecart", "validate", str(good)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "sensors drops (file, every 10s)" in done.stdout
    bad = write("sensors: [{name: a, git: {remote: r}}]\nmembers: [{name: m, run: [true]}]\n")
    done = subprocess.run([sys.executable, "-m", "orecart", "validate", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}:1:26: sensors[a].git: needs one of" in done.stderr


def test_the_schema_knows_the_sensors() -> None:
    sensor = pipeline_schema()["properties"]["sensors"]["items"]
    assert {"name", "git", "http", "file", "every", "version_pattern", "latest_only",
            "retries", "timeout"} <= set(sensor["properties"])
    assert set(sensor["properties"]["git"]["properties"]) == {"remote", "refs", "branch"}
