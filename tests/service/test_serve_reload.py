"""A pipeline file edited while ``orecart serve`` runs: the next run uses the new version;
a broken edit is reported with file and line and the last good version keeps serving the
requests queued for it; fixing the file is picked up."""

from __future__ import annotations

from pathlib import Path

from tests.service.conftest import Serve, Served, lines, wait_until

#: ``work`` appends VERSION to OUT, then waits (at most 20 s) for GATE
VERSIONED = """
pipeline: reloaded
members:
  - name: work
    rerun: always
    shell: |
      echo {version} >> {out}
      i=0; while [ ! -f {gate} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
"""
#: the same pipeline with a misspelt key on line 5
BROKEN = """
pipeline: reloaded
members:
  - name: work
    neds: []
    shell: 'echo broken >> {out}'
"""


def loaded(serve: Serve, times: int) -> None:
    serve_log = "pipeline reloaded: loaded"
    wait_until(lambda: serve.log().count(serve_log) >= times,
               f"{serve_log!r} {times} time(s) in serve's log")


def test_an_edit_is_picked_up_and_a_broken_one_keeps_the_last_good_version(
        served: Served) -> None:
    out, gate = served.folder / "out", served.folder / "gate"
    gate.touch()

    def version(name: str) -> Path:
        return served.write(VERSIONED.format(version=name, out=out, gate=gate))

    version("v1")
    serve = served.serve("pipeline.yaml")
    served.ok("submit", "pipeline.yaml", "--wait")
    version("v2")
    loaded(serve, 1)
    gate.unlink()
    busy = served.enqueue("busy")
    wait_until(lambda: len(lines(out)) == 2, "the v2 run to start")
    queued = served.enqueue("queued")

    served.write(BROKEN.format(out=out))
    log = serve.wait_log("unknown key 'neds'")
    assert "pipeline.yaml:5:5" in log, log
    refused = served("submit", "pipeline.yaml")
    assert refused.code == 2 and "pipeline.yaml:5:5" in refused.err
    gate.touch()
    for run_id in (busy, queued):
        served.wait_status(run_id, "succeeded")
    assert lines(out) == ["v1", "v2", "v2"]  # the queued run ran the last good version

    version("v3")
    loaded(serve, 2)
    served.ok("submit", "pipeline.yaml", "--wait")
    assert lines(out) == ["v1", "v2", "v2", "v3"]
    assert serve.process.poll() is None
