"""``orecart serve`` and its clients end to end: submit (and --wait), run keys, racing
submits, FIFO per pipeline, pipelines side by side, ``queue``, a DIR of files, secret
parameters refused, and bad serve arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.service.conftest import Served, lines, wait_until

#: ``gated`` appends its run id to COUNT, then waits (at most 20 s) for the file GATE.
GATED = """
pipeline: gated
members:
  - name: work
    rerun: always
    shell: |
      echo "$ORECART_RUN_ID" >> {count}
      i=0; while [ ! -f {gate} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
      test ! -f {fail}
"""


def gated(served: Served, name: str = "pipeline.yaml") -> tuple[Path, Path, Path]:
    """Write the gated pipeline; its count, gate and fail files."""
    count, gate, fail = (served.folder / n for n in ("count", "gate", "fail"))
    served.write(GATED.format(count=count, gate=gate, fail=fail), name)
    return count, gate, fail


def test_a_key_whose_run_is_queued_running_or_succeeded_is_not_queued_again(
        served: Served) -> None:
    count, gate, _ = gated(served)
    first = served("submit", "pipeline.yaml", "--key", "r1")
    assert first.code == 0 and "no `orecart serve` is running" in first.err
    run_id = first.out.strip()
    queued_again = served("submit", "pipeline.yaml", "--key", "r1")
    assert (queued_again.code, queued_again.out.strip()) == (0, run_id)
    assert "not queued again" in queued_again.err and "(queued)" in queued_again.err

    served.serve("pipeline.yaml")
    wait_until(lambda: lines(count), "the member to start")
    assert served.enqueue("r1") == run_id  # running
    gate.touch()
    served.wait_status(run_id, "succeeded")
    done = served("submit", "pipeline.yaml", "--key", "r1", "--wait")
    assert (done.code, "(succeeded)" in done.err) == (0, True)
    assert lines(count) == [run_id]
    assert [r.id for r in served.runs()] == [run_id]


def test_submit_wait_exits_as_run_does_and_a_failed_key_is_queued_again(
        served: Served) -> None:
    count, gate, fail = gated(served)
    gate.touch()
    served.serve("pipeline.yaml")
    ok = served("submit", "pipeline.yaml", "--key", "ok", "--wait")
    assert ok.code == 0, ok.err
    assert "work: succeeded" in ok.err  # --wait shows the member lines
    fail.touch()
    failed = served("submit", "pipeline.yaml", "--key", "bad", "--wait")
    assert failed.code == 1, failed.err
    again = served("submit", "pipeline.yaml", "--key", "bad", "--wait")
    assert again.code == 1, again.err
    runs = served.runs()
    assert [(r.key, r.status) for r in runs] == [
        ("ok", "succeeded"), ("bad", "failed"), ("bad", "failed")]
    assert lines(count) == [r.id for r in runs]


def test_two_submits_of_one_key_at_the_same_moment_give_one_run(served: Served) -> None:
    count, gate, _ = gated(served)
    gate.touch()
    served.serve("pipeline.yaml")
    racing = [subprocess.Popen(served.command("submit", "pipeline.yaml", "--key", "race"),
                               cwd=served.folder, env=served.env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(3)]
    answers = [p.communicate(timeout=60) for p in racing]
    assert [p.returncode for p in racing] == [0, 0, 0], answers
    ids = {out.strip() for out, _ in answers}
    assert len(ids) == 1, answers
    run_id = ids.pop()
    served.wait_status(run_id, "succeeded")
    assert [r.id for r in served.runs()] == [run_id]
    assert lines(count) == [run_id]


FIFO = """
pipeline: fifo
members:
  - name: work
    rerun: always
    shell: |
      echo "start $ORECART_RUN_ID" >> {log}
      sleep 0.3
      echo "end $ORECART_RUN_ID" >> {log}
"""


def test_runs_of_one_pipeline_run_in_submit_order_one_at_a_time(served: Served) -> None:
    log = served.folder / "log"
    served.write(FIFO.format(log=log))
    ids = [served.enqueue(f"k{i}") for i in range(3)]
    served.serve("pipeline.yaml")
    served.wait_status(ids[-1], "succeeded")
    expected = []
    for run_id in ids:
        expected += ["start", run_id, "end", run_id]
    assert lines(log) == expected
    assert all(served.status_of(run_id) == "succeeded" for run_id in ids)


#: a member that starts, then waits for the other pipeline's member to have started
SIDE = """
pipeline: {name}
members:
  - name: meet
    shell: |
      touch {folder}/{name}.started
      i=0; while [ ! -f {folder}/{other}.started ]; do
        sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 7
      done
"""

COMPOSE = """
version: "3"
services:
  web: {image: nginx}
"""


def test_a_folder_of_two_pipelines_and_a_compose_file_serves_both_side_by_side(
        served: Served) -> None:
    folder = served.folder / "pipelines"
    folder.mkdir()
    for name, other in (("left", "right"), ("right", "left")):
        (folder / f"{name}.yaml").write_text(SIDE.format(name=name, other=other,
                                                         folder=served.folder))
    (folder / "docker-compose.yml").write_text(COMPOSE)
    serve = served.serve("pipelines")
    assert "serving 2 pipeline(s): left, right" in serve.log()
    assert "docker-compose" not in serve.log()
    ids = [served.enqueue(file=f"pipelines/{n}.yaml") for n in ("left", "right")]
    for name, run_id in zip(("left", "right"), ids, strict=True):
        served.wait_status(run_id, "succeeded", f"pipelines/{name}.yaml")
    assert "error" not in serve.log()


def test_queue_shows_queued_and_running_runs_and_the_serve_process(served: Served) -> None:
    count, gate, _ = gated(served)
    serve = served.serve("pipeline.yaml")
    running = served.enqueue("a")
    wait_until(lambda: lines(count), "the first run to start")
    queued = served.enqueue("b")
    view = served.ok("queue", "--json").json()
    assert [r["id"] for r in view["running"]] == [running]
    assert [r["id"] for r in view["queued"]] == [queued]
    assert [s["pid"] for s in view["services"]] == [serve.pid]
    text = served.ok("queue").out
    assert running in text and queued in text and str(serve.pid) in text
    gate.touch()
    served.wait_status(queued, "succeeded")
    assert served.ok("queue", "--json").json()["queued"] == []


SECRET = """
pipeline: secret
members:
  - name: work
    env: {DB_PASSWORD: "${params.pw:-}"}
    shell: 'true'
"""


def test_a_secret_parameter_is_refused_and_never_reaches_serve(served: Served) -> None:
    served.write(SECRET)
    serve = served.serve("pipeline.yaml")
    for param in ("pw=s3cret-Value-9", "PASSWORD=s3cret-Value-9"):
        done = served("submit", "pipeline.yaml", "-p", param, "--key", "x")
        assert done.code == 2, done.err
        assert "holds a secret" in done.err and "Traceback" not in done.err
        assert "s3cret-Value-9" not in done.out + done.err
    assert served.ok("queue", "--json").json()["queued"] == []
    served.ok("submit", "pipeline.yaml", "-p", "pw=", "--wait")  # nothing secret: it runs
    assert "s3cret-Value-9" not in serve.log()
    assert served.runs()[0].params == {"pw": ""}


def test_serve_of_a_missing_path_or_of_files_with_different_stores_is_a_usage_error(
        served: Served) -> None:
    missing = served("serve", "missing.yaml")
    assert missing.code == 2, missing.err
    assert "missing.yaml" in missing.err and "Traceback" not in missing.err
    for name in ("a", "b"):
        (served.folder / name).mkdir()
        (served.folder / name / "pipeline.yaml").write_text(
            f"pipeline: {name}\nmembers:\n  - {{name: m, shell: 'true'}}\n")
    split = served("serve", "a/pipeline.yaml", "b/pipeline.yaml")
    assert split.code == 2, split.err
    assert "different stores" in split.err and "--state" in split.err
    assert "Traceback" not in split.err
