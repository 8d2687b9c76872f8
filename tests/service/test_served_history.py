"""History reads of requests made to ``orecart serve``: ``runs``, ``show`` and ``status``
say who asked for each run (its origin) and its key, as the README promises."""

from __future__ import annotations

import re

from tests.service.conftest import Served

QUICK = """
pipeline: quick
members:
  - name: a
    run: [sh, -c, "echo ${params.release}"]
"""

WIDE = {"COLUMNS": "200"}


def test_runs_show_and_status_name_the_origin_and_key_of_a_submitted_run(
        served: Served) -> None:
    served.write(QUICK)
    run_id = served.submit("-p", "release=3.55", "--key", "rel-3.55", "--label", "team=hla")
    runs = served("runs", "pipeline.yaml", env=WIDE)
    assert runs.code == 0, runs.err
    row = next(line for line in runs.out.splitlines() if run_id in line)
    assert "queued" in row and "submit" in row and "rel-3.55" in row, runs.out
    assert "release=3.55" in row
    for args in (["show", run_id], ["status", "pipeline.yaml"]):
        shown = served(*args, env=WIDE)
        assert shown.code == 0, shown.err
        assert "origin submit, key rel-3.55, labels team=hla, params release=3.55" in (
            shown.out), shown.out


def test_a_run_of_orecart_run_shows_its_origin_and_no_key(served: Served) -> None:
    served.write(QUICK)
    assert served("run", "pipeline.yaml", "-p", "release=1").code == 0
    shown = served("status", "pipeline.yaml", env=WIDE)
    assert "origin run, params release=1" in shown.out, shown.out
    runs = served("runs", "pipeline.yaml").out  # 80 columns: the status is never cut
    assert "succeeded" in runs and "succ…" not in runs, runs


def test_runs_at_80_columns_keep_the_start_whole_and_leave_out_empty_columns(
        served: Served) -> None:
    served.write("pipeline: quick\nmembers:\n  - {name: a, run: ['true']}\n")
    assert served("run", "pipeline.yaml").code == 0
    runs = served("runs", "pipeline.yaml", env={"COLUMNS": "80"}).out
    header = runs.splitlines()[1:4]
    assert not any("key" in line or "params" in line for line in header), runs
    row = next(line for line in runs.splitlines() if "succeeded" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row), runs  # one line, not folded
