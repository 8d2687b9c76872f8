"""docs/kubernetes.md stays true where it can be checked without a cluster: every YAML block
parses, its pipelines load with orecart's own validation, the flags it gives `orecart serve`
and `dask worker`/`dask scheduler` exist in those commands' help, and the files it names as
its tests exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from orecart.spec import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "kubernetes.md"


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)


def documents() -> list[dict]:
    return [d for block in blocks() for d in yaml.safe_load_all(block) if d]


def pipelines() -> list[str]:
    """The pipeline files of the page: blocks that are one, and the ConfigMap's."""
    found = [b for b in blocks() if b.startswith("pipeline:")]
    for doc in documents():
        if doc.get("kind") == "ConfigMap":
            found.extend(doc["data"].values())
    return found


def test_every_yaml_block_parses_into_kubernetes_objects() -> None:
    kinds = [d["kind"] for d in documents() if "kind" in d]
    assert kinds == ["Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim",
                     "Deployment", "Service", "DaskCluster"]
    assert all("apiVersion" in d for d in documents() if "kind" in d)


def test_the_pipelines_load_and_run_on_the_dask_executor(tmp_path: Path) -> None:
    texts = pipelines()
    assert len(texts) == 2
    for n, text in enumerate(texts):
        path = tmp_path / f"p{n}.yaml"
        path.write_text(text)
        pipeline = load_pipeline(path, environ={"NEO4J_PASSWORD": "x"})
        assert pipeline.settings.executor is not None
        assert pipeline.settings.executor.name == "dask"


def command_of(kind: str, container: str) -> list[str]:
    for doc in documents():
        if doc.get("kind") == kind:
            spec = doc["spec"]
            pods = [spec["template"]["spec"]] if kind == "Deployment" else [
                spec["worker"]["spec"], spec["scheduler"]["spec"]]
            for pod in pods:
                for c in pod["containers"]:
                    if c["name"] == container:
                        return [str(a) for a in c.get("command") or c["args"]]
    raise AssertionError(f"no container {container} in a {kind}")


def flags(command: list[str]) -> list[str]:
    return [a for a in command if a.startswith("--")]


def help_of(argv: list[str]) -> str:
    done = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_commands_it_gives_take_those_flags() -> None:
    serve = command_of("Deployment", "serve")
    assert serve[0] == "serve"
    text = help_of([sys.executable, "-m", "orecart", "serve"])
    assert all(flag in text for flag in flags(serve)), flags(serve)
    for container in ("worker", "scheduler"):
        command = command_of("DaskCluster", container)
        assert command[0] == "dask"
        text = help_of([sys.executable, "-m", "distributed.cli.dask_" + command[1]])
        assert all(flag in text for flag in flags(command)), (container, flags(command))


def test_the_tests_it_names_exist() -> None:
    named = re.findall(r"`(tests/[^`*]+\.py)`", DOC.read_text())
    globbed = re.findall(r"`(tests/[^`]+\*\.py)`", DOC.read_text())
    assert named and globbed
    assert all((ROOT / n).is_file() for n in named), named
    assert all(list(ROOT.glob(g)) for g in globbed), globbed
