"""`executor:` (per pipeline and per member) and `resources:`: what they load as, where each
member then runs (``executors.routing``), and mistakes named with file, line and field."""

from __future__ import annotations

import pytest

from orecart.errors import SpecError, UsageError
from orecart.executors.routing import dask_options, parse_run_executor, route, routes
from orecart.model import ExecutorChoice
from orecart.spec import load_pipeline
from tests.spec.conftest import Write

PIPELINE = """
    settings:
      executor: {name: dask, address: "tcp://10.0.0.5:8786", artifacts: shared}
    members:
      - {name: plain, run: ["true"], executor: local}
      - name: heavy
        shell: "true"
        executor: dask
        resources: {neo4j: 1, memory: 2GB, scratch: 512MiB, slots: "${SLOTS}"}
      - {name: boxed, image: "busybox:1", executor: {name: dask, address: local}}
      - {name: default, image: "busybox:1"}
"""


def test_choices_load_and_route_members(write: Write) -> None:
    pipeline = load_pipeline(write(PIPELINE), environ={"SLOTS": "2"})
    chosen = pipeline.settings.executor
    assert chosen == ExecutorChoice("dask", "tcp://10.0.0.5:8786", "shared")
    plain, heavy, boxed, default = pipeline.members
    assert heavy.resources == {"neo4j": 1.0, "memory": 2e9, "scratch": 512 * 2**20, "slots": 2.0}
    assert plain.resources == {}
    # the member's own choice wins; a bare `dask` takes the pipeline's address and mode
    assert route(plain, None, chosen) == "run"
    assert route(heavy, None, chosen) == "dask:shared:tcp://10.0.0.5:8786"
    assert route(boxed, None, chosen) == "dask:copy:local"  # shared is 10.0.0.5's mode
    assert route(default, None, chosen) == "dask:shared:tcp://10.0.0.5:8786"
    # --executor comes before the file's settings, after the member's own choice
    run = parse_run_executor("dask://127.0.0.1:9999")
    assert route(default, run, chosen) == "dask:copy:tcp://127.0.0.1:9999"
    assert route(plain, run, chosen) == "run"
    assert route(default, None, None) == "image"
    assert routes(pipeline.members, None, None) == {"heavy": "dask:copy:local",
                                                    "boxed": "dask:copy:local"}
    assert dask_options("dask:shared:tcp://h:1") == {"address": "tcp://h:1",
                                                     "artifacts": "shared"}
    assert dask_options("image") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local", None),
        ("dask://local", ExecutorChoice("dask", "local")),
        ("dask://sched.example.org:8786", ExecutorChoice("dask", "tcp://sched.example.org:8786")),
    ],
)
def test_run_executor_values(text: str, expected: ExecutorChoice | None) -> None:
    assert parse_run_executor(text) == expected


@pytest.mark.parametrize("text", ["dask", "dask://", "dask://host", "docker", "tcp://h:1"])
def test_bad_run_executor_values_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--executor"):
        parse_run_executor(text)


@pytest.mark.parametrize(
    ("member", "line", "field", "message"),
    [
        ('{name: a, image: "busybox:1", executor: local}', 2, "members[a].executor",
         "'local' cannot run it: an image member runs on docker or dask"),
        ('{name: a, run: ["true"], executor: docker}', 2, "members[a].executor",
         "'docker' cannot run it"),
        ('{name: a, run: ["true"], executor: kubernetes}', 2, "members[a].executor",
         "kubernetes"),
        ('{name: a, run: ["true"], executor: {name: local, address: local}}', 2,
         "members[a].executor.address", "applies to the dask executor, not 'local'"),
        ('{name: a, run: ["true"], executor: {name: dask, address: "10.0.0.5"}}', 2,
         "members[a].executor.address", "tcp://HOST:PORT or local"),
        ('{name: a, run: ["true"], executor: {name: dask, artifacts: nfs}}', 2,
         "members[a].executor.artifacts", "nfs"),
        ('{name: a, run: ["true"], resources: {memory: lots}}', 2,
         "members[a].resources.memory", "a number or a size like 2GB"),
        ('{name: a, run: ["true"], resources: {neo4j: -1}}', 2,
         "members[a].resources.neo4j", "at least 0"),
    ],
)
def test_mistakes_name_file_line_and_field(write: Write, member: str, line: int, field: str,
                                           message: str) -> None:
    path = write("members:\n  - x: 1\n".replace("  - x: 1\n", f"  - {member}\n"))
    with pytest.raises(SpecError) as caught:
        load_pipeline(path)
    text = str(caught.value)
    assert f"{path}:{line}:" in text and f"{field}:" in text and message in text


def test_a_settings_executor_mistake_names_its_line(write: Write) -> None:
    path = write("""
        settings:
          executor: {name: docker, artifacts: copy}
        members:
          - {name: a, run: ["true"]}
    """)
    with pytest.raises(SpecError) as caught:
        load_pipeline(path)
    assert f"{path}:2:" in str(caught.value)
    assert "settings.executor.artifacts: applies to the dask executor" in str(caught.value)
