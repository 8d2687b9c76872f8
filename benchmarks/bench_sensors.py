"""Sensors: one tick of a git sensor over a repository with 10,000 tags, and of a file
sensor over 10,000 files, when nothing is new.

Target (issue #12): a git sensor over a repository with 10,000 tags: one tick at most 1 s
when nothing is new. The file sensor over 10,000 unchanged files is held to the same 1 s.

Method: a real bare repository reached over ``file://``, made with ``git fast-import`` (100
commits, 100 lightweight tags on each, one minute apart), and 10,000 small files in one
folder. One pipeline declares both sensors (``refs/tags/v*`` and ``data/*.csv``); a
``Service`` is built once over a fresh SQLite state store, as ``orecart serve`` keeps one.
A tick is ``orecart.service.sensing.tick`` (read the sensor's state, look at the source,
record what it found, submit what is due), split into *look* (the watcher: git or the
file system) and *settle* (store and submits). The first tick of each sensor finds
everything new and queues 10,000 runs (nothing drains them: they stay queued); its time is
printed. Then ``--repeats`` ticks when nothing is new: median and max. Last, the same
no-news tick through ``orecart sensors FILE --tick`` (a fresh process: start-up, load,
open the store, both sensors), wall time, printed beside it.

    python benchmarks/bench_sensors.py [--tags 10000] [--files 10000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Report, clean_exit, console_script, installed_bytecode, median, timed

from orecart.model import Pipeline
from orecart.sensing import Sensor
from orecart.service import Source, Tools
from orecart.service.core import OnePipeline, Service, ServiceConfig
from orecart.service.sensing import Ticked, look, settle, state_of, where_of
from orecart.stores import open_store

TICK_S = 1.0
TAGS_PER_COMMIT = 100
PIPELINE = """\
pipeline: watched
sensors:
  - name: releases
    git: {{remote: "{url}", refs: "refs/tags/v*"}}
    timeout: 10m
  - name: drops
    file: {{glob: "data/*.csv"}}
    timeout: 10m
members:
  - name: load
    run: ["true"]
"""


def make_repository(bare: Path, tags: int) -> None:
    """A bare repository with ``tags`` lightweight tags, ``TAGS_PER_COMMIT`` a commit."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    stream = []
    commits = -(-tags // TAGS_PER_COMMIT)
    for c in range(commits):
        content = f"release {c}\n"
        stamp = 1_600_000_000 + 60 * c
        stream += [
            "commit refs/heads/main", f"mark :{c + 1}",
            f"committer bench <bench@example.org> {stamp} +0000",
            f"data {len('release')}", "release",
            *([f"from :{c}"] if c else []),
            "M 644 inline data.txt", f"data {len(content)}", content,
        ]
        for t in range(c * TAGS_PER_COMMIT, min(tags, (c + 1) * TAGS_PER_COMMIT)):
            stream += [f"reset refs/tags/v1.{t}", f"from :{c + 1}", ""]
    subprocess.run(["git", "-C", str(bare), "fast-import", "--quiet"],
                   input="\n".join(stream) + "\n", text=True, check=True)


def make_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"f{i:05d}.csv").write_text(f"{i},row\n")


class Bench:
    """One long-lived service over the pipeline; ticks timed look | settle."""

    def __init__(self, file: Path) -> None:
        tools = Tools()
        source = Source(file)
        self.pipeline: Pipeline = tools.load(source)
        self.store = open_store(tools.state_url(source, self.pipeline))
        self.service = Service(ServiceConfig(), OnePipeline(file, self.pipeline), self.store)
        self.where = where_of(self.pipeline, dict(os.environ))

    def sensor(self, name: str) -> Sensor:
        return next(s for s in self.pipeline.sensors if s.name == name)

    def tick(self, sensor: Sensor) -> tuple[float, float, float, Ticked]:
        """(whole, look, settle) seconds of one tick, and what it did."""
        start = time.perf_counter()
        state = state_of(self.store, self.pipeline.name, sensor)
        looked_s, looked = timed(lambda: look(sensor, self.where, state))
        settled_s, ticked = timed(
            lambda: settle(self.service, self.pipeline, sensor, state, looked))
        whole = time.perf_counter() - start
        if ticked.error:
            raise RuntimeError(f"sensor {sensor.name}: {ticked.error}")
        return whole, looked_s, settled_s, ticked

    def close(self) -> None:
        self.service.close()


def measure(bench: Bench, name: str, expected: int, repeats: int,
            report: Report) -> None:
    sensor = bench.sensor(name)
    whole, looked, settled, ticked = bench.tick(sensor)
    if len(ticked.submitted) != expected:
        raise RuntimeError(f"{name}: first tick queued {len(ticked.submitted)} of {expected}")
    report.row(f"{name}: first tick (all new)", whole, looked, settled, len(ticked.submitted))
    samples = []
    for _ in range(repeats):
        sample = bench.tick(sensor)
        if sample[3].added or sample[3].submitted:
            raise RuntimeError(f"{name}: a tick with nothing new added or queued something")
        samples.append(sample)
    wholes = [s[0] for s in samples]
    report.row(f"{name}: nothing new, median", median(wholes), median(s[1] for s in samples),
               median(s[2] for s in samples), 0)
    report.row(f"{name}: nothing new, max", max(wholes), max(s[1] for s in samples),
               max(s[2] for s in samples), 0)
    report.target(f"{name}: tick with nothing new, max of {repeats}", max(wholes), TICK_S, "s")


def cli_tick(file: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([*console_script("orecart"), "sensors", str(file), "--tick"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"orecart sensors --tick failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    installed_bytecode()
    with tempfile.TemporaryDirectory(prefix="orecart-bench-sensors-") as tmp:
        folder = Path(tmp)
        made_s, _ = timed(lambda: make_repository(folder / "source.git", args.tags))
        files_s, _ = timed(lambda: make_files(folder / "data", args.files))
        print(f"made {args.tags} tags in {made_s:.2f} s, {args.files} files in {files_s:.2f} s")
        file = folder / "pipeline.yaml"
        file.write_text(PIPELINE.format(url=(folder / "source.git").as_uri()))
        report = Report("one sensor tick (seconds)",
                        ["tick", "whole", "look", "settle", "queued"])
        bench = Bench(file)
        try:
            measure(bench, "releases", args.tags, args.repeats, report)
            measure(bench, "drops", args.files, args.repeats, report)
        finally:
            bench.close()
        clis = [cli_tick(file) for _ in range(3)]
        report.row("orecart sensors --tick (both, CLI), median of 3", median(clis), "", "", 0)
        passed = report.print()
    return clean_exit([], load_before, passed)


if __name__ == "__main__":
    sys.exit(main())
