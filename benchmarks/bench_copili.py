"""orecart against copili 1.4.1 (Motherlode's engine) on the same Motherlode pipeline file.

Workload: one Motherlode-format file, four independent 1-second loaders (``sleep 1`` in
busybox) and a fifth, also ``sleep 1``, whose ``dependencies`` are all four. Critical
path: 2 s. Target (from the issue): orecart's wall time is at most 0.4 x copili's.

Images. copili always pulls (``ContainerManager.pull`` calls ``images.pull(image_repo,
tag)`` before every container, even with ``container_force_image_pull`` off) and there is
no internet here, so BUSYBOX_IMAGE (built locally by ``tests.services.docker``) is pushed
to a throw-away registry (Debian's ``docker-registry serve CONFIG`` on 127.0.0.1, plain
HTTP, which dockerd trusts for loopback) and both tools run
``127.0.0.1:PORT/orecart-bench/busybox:1``. orecart keeps its default pull policy
``always``: it asks the registry for the tag's digest, then runs that digest (present
locally since the push), as copili asks the registry before each container.

How copili is invoked. copili 1.4.1 lives in its own virtualenv, never in orecart's
(default ``$XDG_CACHE_HOME/orecart-bench/copili-1.4.1``, made on first use with
``python -m venv`` and ``pip install copili==1.4.1``; or ``--copili-python``). The
benchmark runs ``COPILI_PYTHON -c DRIVER pipeline.yaml LOGDIR DOTENV`` in the run's folder,
where DRIVER is copili's documented use (its README's quick example), with none of its
callbacks set, so copili's defaults apply (nothing counts as already run; a container
starts once its dependencies exited 0)::

    pipeline = copili.Pipeline(description=FILE,
        docker_client=docker.DockerClient(base_url="unix://var/run/docker.sock"),
        dot_env_path=DOTENV)          # a missing .env: copili only warns
    pipeline.container_log_path = LOGDIR   # else logs/ beside sys.argv[0]
    pipeline.run()

and exits 1 unless all five containers exited 0. copili runs the ordered list one
container at a time, and after following a container's logs sleeps 1 s before ``wait``
(``ContainerManager.run``): that is its design, measured as it is.

How orecart is invoked: ``<prefix>/bin/orecart run pipeline.yaml --quiet`` in a fresh
process and a fresh folder (new SQLite store: a second run would skip unchanged members).
Two rows: as is (``max_parallel`` defaults to the CPU count but at least 4, so all four
loaders start together: 2 s of sleeps) and with an explicit ``--max-parallel 4``. The target is held
against the default invocation. The figure is the median over repetitions of the
per-repetition ratio ``orecart / copili``, both fresh processes (interpreter start-up and
imports included on both sides), run side by side in a rotating order. The ``cpu s``
column is the process's user + system time (``os.wait4``), which moves less with load.

Where orecart's time goes: a fourth variant, ``orecart service (in-process)``, runs
``Tools().run(Source(file), RunOptions())`` (the same defaults) inside this process with
every Docker request and store call timed (``bench_docker.instrumented``); for its
median-wall repetition the script prints, per member container in the order they were
started, when its start was requested, its create and how long before the start that
finished (containers of members whose needs are running are created ahead), start, wait,
the exit status read after the wait (log followers drained, inspect), the removal (after
the result is out) and when its result was known; and the time before the first start.
``CLI - service`` is the CLI's own fixed cost (interpreter, imports, first use of the store
and spec machinery).

    python benchmarks/bench_copili.py [--repeats 5] [--copili-python PATH]

Leaves nothing behind: the registry is stopped and its storage deleted, the pushed tag
removed, and the end checks that no container of either tool's run is left.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from bench_docker import Profile, daemon, instrumented, leftovers, members_of, orecart_cli, phases
from common import ROOT, Report, clean_exit, installed_bytecode, median, table

sys.path.insert(0, str(ROOT))  # tests.services.docker builds the images

from tests.services.docker import BUSYBOX_IMAGE, free_port, push  # noqa: E402

from orecart.service import RunOptions, Source, Tools  # noqa: E402

COPILI = "copili==1.4.1"
TARGET_RATIO = 0.4
PIPELINE = "BenchCopili"
LOADERS = ("bench_load_1", "bench_load_2", "bench_load_3", "bench_load_4")
JOIN = "bench_join"
CRITICAL_PATH = 2.0
NAN = float("nan")

DRIVER = """\
import json, sys, time
import docker
from copili import Pipeline
start = time.perf_counter()
pipeline = Pipeline(
    description=sys.argv[1],
    docker_client=docker.DockerClient(base_url="unix://var/run/docker.sock"),
    dot_env_path=sys.argv[3],
)
pipeline.container_log_path = sys.argv[2]
pipeline.run()
took = time.perf_counter() - start
codes = {m.container_desc.name: m.exit_code for m in pipeline.finished_container_managers}
print(json.dumps({"run": took, "codes": codes}))
sys.exit(0 if len(codes) == 5 and all(c == 0 for c in codes.values()) else 1)
"""


# -- copili's own environment -------------------------------------------------------------


def copili_python(given: str | None) -> Path:
    """A Python with copili 1.4.1, in a virtualenv of its own (made on first use)."""
    if given:
        return Path(given)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = cache / "orecart-bench" / "copili-1.4.1"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} with {COPILI}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", COPILI], check=True)
    return python


# -- the registry -------------------------------------------------------------------------


@contextmanager
def registry(root: Path) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 with storage under ``root``; yields host:port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed: run scripts/setup")
    port = free_port()
    config = root / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}', secret: orecart-bench}}\n"
    )
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "registry.log").read_text()[-2000:]) from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


# -- the pipeline and the variants ------------------------------------------------------


def motherlode_file(folder: Path, repository: str) -> Path:
    """The Motherlode-format pipeline: four 1 s loaders and one that needs all four."""
    loader = {"image_repo": repository, "tag": "1", "command": ["sleep", "1"]}
    items = [{"name": name, **loader} for name in LOADERS]
    items.append({"name": JOIN, **loader, "dependencies": list(LOADERS)})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({PIPELINE: items}, sort_keys=False))
    return path


def run_copili(python: Path, file: Path) -> tuple[float, float, float]:
    """(process wall, process CPU, seconds inside ``Pipeline.run``) of one copili run."""
    logs = file.parent / "copili-logs"
    argv = [str(python), "-c", DRIVER, str(file), str(logs), str(file.parent / ".env")]
    start = time.perf_counter()
    pipe, merged = subprocess.PIPE, subprocess.STDOUT
    with subprocess.Popen(argv, cwd=file.parent, stdout=pipe, stderr=merged) as child:
        out = child.stdout.read().decode() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's CPU time too
        child.returncode = code = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"copili failed ({code}):\n{out}")
    inner = float(json.loads(out.strip().splitlines()[-1])["run"])
    return wall, usage.ru_utime + usage.ru_stime, inner


def service_run(file: Path) -> Profile:
    """``orecart run`` in this process, every Docker request and store call timed."""
    with instrumented() as calls:
        began = time.perf_counter()
        outcome = Tools().run(Source(file), RunOptions())
        wall = time.perf_counter() - began
    if not outcome.ok:
        raise RuntimeError(f"orecart run failed: {outcome.run}")
    return Profile(wall, list(calls), began)


@dataclass(frozen=True)
class Figures:
    walls: dict[str, list[float]]
    cpus: dict[str, list[float]]


def measure(
    python: Path, repository: str, repeats: int, scratch: Path
) -> tuple[Figures, list[Profile]]:
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    profiles: list[Profile] = []

    def add(name: str, wall: float, cpu: float = NAN) -> None:
        walls.setdefault(name, []).append(wall)
        cpus.setdefault(name, []).append(cpu)

    def copili(rep: int) -> None:
        file = motherlode_file(scratch / f"copili-{rep}", repository)
        wall, cpu, inner = run_copili(python, file)
        add("copili 1.4.1", wall, cpu)
        add("  of it: Pipeline.run", inner)

    def orecart(name: str, *options: str) -> Callable[[int], None]:
        def one(rep: int) -> None:
            folder = scratch / f"{name.replace(' ', '_')}-{rep}"
            add(name, *orecart_cli(motherlode_file(folder, repository), *options))

        return one

    def service(rep: int) -> None:
        file = motherlode_file(scratch / f"service-{rep}", repository)
        cpu = time.process_time()
        profile = service_run(file)
        add("orecart service (in-process)", profile.wall, time.process_time() - cpu)
        profiles.append(profile)

    variants = {
        "copili": copili,
        "orecart": orecart("orecart run"),
        "orecart4": orecart("orecart run --max-parallel 4", "--max-parallel", "4"),
        "service": service,
    }
    service_run(motherlode_file(scratch / "warm-up", repository))  # imports, page cache
    names = list(variants)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            variants[name](rep)
        print(f"repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return Figures(walls, cpus), profiles


def critical_path(profiles: list[Profile]) -> None:
    """Per member (in the order they began), its phases in the median-wall service run."""
    profile = sorted(profiles, key=lambda p: p.wall)[len(profiles) // 2]
    members = [phases(calls, profile.began) for calls in members_of(profile)]
    headers = ("member", *members[0])
    rows = [(f"#{i + 1}", *m.values()) for i, m in enumerate(members)]
    print(f"\norecart service run of median wall ({profile.wall:.3f} s), seconds per member:")
    print(table(headers, rows))
    first = members[0]["start requested at"] + profile.began
    before = [c for c in profile.calls if c.end <= first]
    lookups = sum(c.took for c in before if c.what.startswith("GET /distribution"))
    docker_calls = sum(c.took for c in before if not c.what.startswith("store."))
    store = sum(c.took for c in before if c.what.startswith("store."))
    print(
        f"before the first start: {members[0]['start requested at']:.3f} s, of it Docker requests "
        f"{docker_calls:.3f} s ({lookups:.3f} s registry digest lookups), store calls "
        f"{store:.3f} s; after the last member: "
        f"{profile.wall - max(m['result at'] for m in members):.3f} s"
    )


def report(figures: Figures, profiles: list[Profile], repository: str) -> bool:
    walls = figures.walls
    copili = walls["copili 1.4.1"]
    result = Report(
        f"Motherlode file, 4 x `sleep 1` + 1 needing all four, {repository}:1; "
        f"{len(copili)} repetitions (medians; critical path {CRITICAL_PATH:g} s)",
        ("variant", "wall s", "x copili (paired)", "cpu s", "walls"),
    )
    for name, values in walls.items():
        ratio = median(v / c for v, c in zip(values, copili, strict=True))
        cpu = median(figures.cpus[name])
        cells = (median(values), ratio, "-" if math.isnan(cpu) else cpu)
        result.row(name, *cells, " ".join(f"{v:.2f}" for v in values))
    cli_minus = [
        c - s
        for c, s in zip(walls["orecart run"], walls["orecart service (in-process)"], strict=True)
    ]
    critical_path(profiles)
    print(f"CLI - service (interpreter, imports, rendering): {median(cli_minus):.3f} s")
    ratio = median(
        v / c for v, c in zip(walls["orecart run --max-parallel 4"], copili, strict=True)
    )
    print(f"(`orecart run --max-parallel 4` / copili: {ratio:.3f} x, not the target's row)")
    ratio = median(v / c for v, c in zip(walls["orecart run"], copili, strict=True))
    result.target("`orecart run` / copili", ratio, TARGET_RATIO, "x")
    return result.print()


def main() -> int:
    installed_bytecode()  # orecart as installed, not compiled afresh by every process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copili-python", help="a Python that has copili 1.4.1")
    args = parser.parse_args()
    python = copili_python(args.copili_python)
    client = daemon()
    load = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="orecart-bench-copili-"))
    repository = ""
    try:
        with registry(scratch) as host:
            repository = f"{host}/orecart-bench/busybox"
            push(client, BUSYBOX_IMAGE, f"{repository}:1")
            try:
                figures, profiles = measure(python, repository, args.repeats, scratch)
            finally:
                client.images.remove(f"{repository}:1", noprune=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        left = leftovers(client, f"orecart.pipeline={PIPELINE}") + [
            name
            for name in leftovers(client, "copili.dzd-ev.de/container")
            if name.lstrip("/") in (*LOADERS, JOIN)
        ]
        client.close()
    return clean_exit(left, load, not left and report(figures, profiles, repository))


if __name__ == "__main__":
    sys.exit(main())
