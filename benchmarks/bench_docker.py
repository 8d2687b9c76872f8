"""Container overhead: a chain of trivial containers, orecart against a shell loop.

Workload: 10 image members in a chain (each ``needs`` the one before), each running
``true`` in BUSYBOX_IMAGE (``orecart-test/busybox:1``, built locally by
``tests.services.docker.ensure_images`` with ``docker import``; nothing is pulled),
``max_parallel`` 1, pull policy ``if-missing``.
Baseline: the shell loop ``for i in 1..10; do docker run --rm IMAGE true; done``.
Target (from the issue): orecart's wall time is at most 1.15 x the shell loop's.

Method. Each repetition runs, in a rotating order, side by side on the same daemon:

* ``shell loop``: ``sh -c 'for i in ...; do docker run --rm IMAGE true || exit 1; done'``;
* ``orecart CLI`` (held against the target): a fresh process,
  ``<prefix>/bin/orecart run pipeline.yaml --pull if-missing --max-parallel 1 --quiet``,
  in a fresh folder (a first run: new SQLite store; a second run in the same folder would
  skip every member, their image digest being unchanged);
* ``orecart service``: ``Tools().run(Source(file, pull=PullPolicy.IF_MISSING),
  RunOptions(max_parallel=1))`` inside this process (no interpreter start-up or imports),
  with every Docker API request and state-store call timed (see below);
* ``sdk loop``: ``client.containers.run(IMAGE, ["true"], remove=True)`` 10 times in this
  process: the floor for a Python caller of the Docker SDK (create, start, wait, logs,
  remove);
* ``(CLI imports alone)``: ``from orecart.cli import app; import orecart.executors.docker,
  orecart.stores.sql`` in a fresh process: the part of the CLI's fixed cost that is
  interpreter start-up and imports.

orecart's sources are byte-compiled first, as an installed orecart's are
(``common.installed_bytecode``).

The figure held against the target is the median over repetitions of the per-repetition
ratio ``orecart CLI / shell loop`` (paired, so load drift on a shared machine cancels).
The ``cpu s`` column is user + system time: of the child process and the children it
reaped (``os.wait4``; for the shell loop, ``sh`` and its ``docker`` clients, not dockerd),
or of this whole process for the in-process variants.

Where orecart's time goes: the ``orecart service`` run patches ``requests.Session.send``
(every Docker API request, with the container it is about) and the public methods of
``SqlStore`` with timers, and prints per member the median time of each kind of Docker
request on the executor's worker threads (image checks, create, inspect, start, wait,
remove: the next member's container is created while the current one runs, and each is
removed after its result is out, so neither waits on the chain), the log followers' own
requests (they run beside ``wait``), the runner's turnaround from one member's result to
the next one's start request, the store writes, and the fixed costs before the first and
after the last request. ``CLI - service`` is the CLI's own fixed cost (interpreter, imports,
rendering).

    python benchmarks/bench_docker.py [--repeats 5] [--members 10]

Leaves nothing behind: every container is removed by the run that made it (``--rm``,
orecart's cleanup), and the end checks no container of these pipelines is left.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests
import yaml
from common import ROOT, Report, clean_exit, console_script, installed_bytecode, median, table

sys.path.insert(0, str(ROOT))  # tests.services.docker builds the images

from tests.services.docker import BUSYBOX_IMAGE, ensure_images  # noqa: E402

from orecart.model import PullPolicy  # noqa: E402
from orecart.service import RunOptions, Source, Tools  # noqa: E402
from orecart.stores.sql import SqlStore  # noqa: E402

TARGET_RATIO = 1.15
#: what ``orecart run`` imports before and while it runs image members, in a fresh process
IMPORTS = [
    sys.executable,
    "-c",
    "from orecart.cli import app; import orecart.executors.docker, orecart.stores.sql",
]
CHAIN = "bench-docker-chain"


# -- the daemon and pipelines -------------------------------------------------------------


def daemon() -> docker.DockerClient:
    """A client with the test images built (``docker import``, never a pull)."""
    client = docker.from_env()
    client.ping()
    ensure_images(client)
    return client


def chain_pipeline(folder: Path, count: int, image: str) -> Path:
    """A native pipeline file: ``count`` members running ``true``, each needing the last."""
    members: list[dict[str, Any]] = []
    for i in range(count):
        member: dict[str, Any] = {"name": f"c{i:02d}", "image": image, "command": ["true"]}
        if i:
            member["needs"] = [f"c{i - 1:02d}"]
        members.append(member)
    document = {
        "pipeline": CHAIN,
        "settings": {"max_parallel": 1, "pull": "if-missing"},
        "members": members,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def timed_process(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system, its reaped children included) of a child
    process, which must exit 0. CPU time moves much less than wall time with load."""
    start = time.perf_counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as child:
        output = child.stdout.read() if child.stdout else b""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"{argv} exited {child.returncode}:\n{output.decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def orecart_cli(file: Path, *options: str) -> tuple[float, float]:
    """(wall, CPU) seconds of ``orecart run FILE --quiet OPTIONS`` in a fresh process."""
    return timed_process([*console_script("orecart"), "run", str(file), "--quiet", *options])


def leftovers(client: docker.DockerClient, label: str) -> list[str]:
    """Names of containers (any state) carrying ``label`` (``key`` or ``key=value``)."""
    found = client.api.containers(all=True, filters={"label": label})
    return [str(c["Names"][0]) for c in found]


# -- instrumentation: every Docker request and store call, with its thread ----------------


@dataclass(frozen=True)
class Call:
    thread: str
    what: str
    start: float
    end: float
    container: str = ""  # the container id a request is about (create: the one it made)

    @property
    def took(self) -> float:
        return self.end - self.start


_ID = re.compile(r"[0-9a-f]{64}")


def _endpoint(method: str, path: str) -> str:
    path = _ID.sub("ID", path.split("?")[0])
    path = re.sub(r"^/v[0-9.]+", "", path)
    if path.startswith("/images/"):
        return f"{method} /images/..."
    return f"{method} {path}"


@contextmanager
def instrumented() -> Iterator[list[Call]]:
    """Record every Docker API request and every public SqlStore call while inside."""
    calls: list[Call] = []
    send = requests.Session.send

    def timed_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        response = None
        try:
            response = send(self, request, **kwargs)
            return response
        finally:
            what = _endpoint(request.method, request.path_url)
            found = _ID.search(request.path_url)
            container = found.group(0) if found else ""
            if what == "POST /containers/create" and response is not None and response.ok:
                container = response.json().get("Id", "")
            thread = threading.current_thread().name
            calls.append(Call(thread, what, start, time.perf_counter(), container))

    def timer(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                thread = threading.current_thread().name
                calls.append(Call(thread, f"store.{name}", start, time.perf_counter()))

        return timed

    originals = {
        name: value
        for name, value in vars(SqlStore).items()
        if callable(value) and not name.startswith("_")
    }
    requests.Session.send = timed_send  # type: ignore[method-assign]
    for name, value in originals.items():
        setattr(SqlStore, name, timer(name, value))
    try:
        yield calls
    finally:
        requests.Session.send = send  # type: ignore[method-assign]
        for name, value in originals.items():
            setattr(SqlStore, name, value)


# -- the variants -------------------------------------------------------------------------


@dataclass
class Profile:
    """Where one service run's time went, in seconds."""

    wall: float
    calls: list[Call]
    began: float

    def worker(self) -> list[Call]:
        return [c for c in self.calls if c.thread.startswith("orecart-docker")]


@dataclass
class Samples:
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)
    profiles: list[Profile] = field(default_factory=list)

    def add(self, name: str, timing: tuple[float, float]) -> None:
        self.walls.setdefault(name, []).append(timing[0])
        self.cpus.setdefault(name, []).append(timing[1])


def in_process(action: Callable[[], Any]) -> tuple[float, float]:
    """(wall, CPU of this whole process) seconds of ``action``."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def shell_loop(count: int, image: str) -> tuple[float, float]:
    script = f"for i in $(seq {count}); do docker run --rm {image} true || exit 1; done"
    return timed_process(["sh", "-c", script])


def sdk_loop(client: docker.DockerClient, count: int, image: str) -> None:
    for _ in range(count):
        client.containers.run(image, ["true"], remove=True)


def service_run(file: Path) -> Profile:
    source = Source(file, pull=PullPolicy.IF_MISSING)
    with instrumented() as calls:
        began = time.perf_counter()
        outcome = Tools().run(source, RunOptions(max_parallel=1))
        wall = time.perf_counter() - began
    if not outcome.ok:
        raise RuntimeError(f"orecart run failed: {outcome.run}")
    return Profile(wall, list(calls), began)


def measure(client: docker.DockerClient, count: int, repeats: int, scratch: Path) -> Samples:
    samples = Samples()

    def cli(rep: int) -> None:
        file = chain_pipeline(scratch / f"cli-{rep}", count, BUSYBOX_IMAGE)
        samples.add("orecart CLI", orecart_cli(file, "--pull", "if-missing", "--max-parallel", "1"))

    def service(rep: int) -> None:
        file = chain_pipeline(scratch / f"svc-{rep}", count, BUSYBOX_IMAGE)
        cpu = time.process_time()
        profile = service_run(file)
        samples.add("orecart service", (profile.wall, time.process_time() - cpu))
        samples.profiles.append(profile)

    variants: dict[str, Callable[[int], None]] = {
        "shell loop": lambda rep: samples.add("shell loop", shell_loop(count, BUSYBOX_IMAGE)),
        "orecart CLI": cli,
        "orecart service": service,
        "sdk loop": lambda rep: samples.add(
            "sdk loop", in_process(lambda: sdk_loop(client, count, BUSYBOX_IMAGE))
        ),
        "imports": lambda rep: samples.add("(CLI imports alone)", timed_process(IMPORTS)),
    }
    service_run(chain_pipeline(scratch / "warm-up", 2, BUSYBOX_IMAGE))  # imports, page cache
    names = list(variants)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            variants[name](rep)
        print(f"repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return samples


# -- reporting ----------------------------------------------------------------------------

_STEPS = (  # worker-thread requests of a member, and what they are for
    ("GET /images/...", "image checks (the attempt's, and ahead)"),
    ("POST /containers/create", "create (ahead of the member, mostly)"),
    ("GET /containers/ID/json", "inspect (create's model, exit status)"),
    ("POST /containers/ID/start", "start"),
    ("POST /containers/ID/wait", "wait"),
    ("DELETE /containers/ID", "remove (after the result is out)"),
)


def members_of(profile: Profile) -> list[list[Call]]:
    """The worker threads' requests about each member container that was started, in the
    order they were started."""
    by_container: dict[str, list[Call]] = collections.defaultdict(list)
    for call in sorted(profile.worker(), key=lambda c: c.start):
        if call.container:
            by_container[call.container].append(call)
    started = [calls for calls in by_container.values() if _first(calls, "start")]
    return sorted(started, key=lambda calls: _posted(calls, "start").start)


def _first(calls: list[Call], what: str) -> Call | None:
    return next((c for c in calls if c.what == f"POST /containers/ID/{what}"), None)


def _posted(calls: list[Call], what: str) -> Call:
    call = _first(calls, what)
    assert call is not None, f"no {what} request for this container"
    return call


def phases(calls: list[Call], began: float) -> dict[str, float]:
    """One member container in seconds: its start request and the requests around it."""
    start, wait = _posted(calls, "start"), _posted(calls, "wait")
    create = next(c for c in calls if c.what == "POST /containers/create")
    status = next(c for c in calls if c.what.endswith("/json") and c.start >= wait.end)
    remove = next((c for c in calls if c.what.startswith("DELETE")), None)
    return {
        "start requested at": start.start - began,
        "create": create.took,
        "created before start": start.start - create.end,
        "start": start.took,
        "wait": wait.took,
        "exit status read": status.end - wait.end,
        "remove (after result)": remove.took if remove else math.nan,
        "result at": status.end - began,
    }


def per_member(profile: Profile, count: int) -> dict[str, float]:
    """Seconds per member of one run: worker requests by kind, the runner's turnaround
    between one member's result and the next one's start, followers and store calls."""
    spent: dict[str, float] = collections.defaultdict(float)
    for call in profile.worker():
        spent[call.what] += call.took
    members = [phases(calls, profile.began) for calls in members_of(profile)]
    pairs = zip(members, members[1:], strict=False)
    gaps = [b["start requested at"] - a["result at"] for a, b in pairs]
    spent["runner: one member's result -> the next one's start request"] = (
        sum(gaps) * len(members) / max(1, len(gaps))
    )
    followers = [c for c in profile.calls if c.thread.startswith("orecart-logs")]
    spent["followers: logs requests (beside wait)"] = sum(
        c.took for c in followers if c.what.endswith("/logs")
    )
    spent["followers: inspect requests (tty check)"] = sum(
        c.took for c in followers if c.what.endswith("/json")
    )
    for call in profile.calls:
        if call.what.startswith("store."):
            spent["store: " + call.what.removeprefix("store.")] += call.took
    return {k: v / count for k, v in spent.items()}


def fixed(profile: Profile) -> dict[str, float]:
    worker = sorted(profile.worker(), key=lambda c: c.start)
    first, last = worker[0].start, worker[-1].end
    before = [c for c in profile.calls if c.end <= first]
    return {
        "before the first member (load, store, plan, digests)": first - profile.began,
        "  of it: Docker requests": sum(c.took for c in before if not c.what.startswith("store")),
        "  of it: store calls": sum(c.took for c in before if c.what.startswith("store")),
        "after the last member (records, close)": profile.began + profile.wall - last,
    }


def request_counts(profile: Profile, count: int) -> list[tuple[str, str, float, float]]:
    tally: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for call in profile.calls:
        kind = call.thread.split("_")[0].split("-")[0:2]
        tally[("-".join(kind), call.what)].append(call.took)
    return [
        (thread, what, len(took) / count, sum(took) / count * 1000)
        for (thread, what), took in sorted(tally.items(), key=lambda kv: -sum(kv[1]))
    ]


def report(samples: Samples, count: int) -> bool:
    walls = samples.walls
    shell = walls["shell loop"]
    result = Report(
        f"{count} containers in a chain, max_parallel 1, pull if-missing; "
        f"{len(shell)} repetitions (medians)",
        ("variant", "wall s", "ms/container", "x shell (paired)", "cpu s", "walls"),
    )
    for name, values in walls.items():
        ratios = [w / s for w, s in zip(values, shell, strict=True)]
        result.row(
            name,
            median(values),
            median(values) / count * 1000,
            median(ratios),
            median(samples.cpus[name]),
            " ".join(f"{v:.2f}" for v in values),
        )

    cli_minus = [c - s for c, s in zip(walls["orecart CLI"], walls["orecart service"], strict=True)]
    print(f"\nCLI - service (interpreter, imports, rendering): {median(cli_minus):.3f} s")

    breakdowns = [per_member(p, count) for p in samples.profiles]
    keys = list(dict.fromkeys(k for b in breakdowns for k in b))
    step_names = dict(_STEPS)
    print("\nWhere one member's time goes in the service run (median over repetitions, ms):")
    print(
        table(
            ("part", "ms/member"),
            [
                (step_names.get(k, k), median(b.get(k, 0.0) for b in breakdowns) * 1000)
                for k in keys
            ],
        )
    )
    fixes = [fixed(p) for p in samples.profiles]
    print("\nFixed costs of the service run (median, s):")
    print(table(("part", "s"), [(k, median(f[k] for f in fixes)) for k in fixes[0]]))
    print("\nDocker requests and store calls per member (last repetition):")
    print(
        table(
            ("thread", "request", "per member", "ms/member"),
            request_counts(samples.profiles[-1], count),
        )
    )

    ratio = median(c / s for c, s in zip(walls["orecart CLI"], shell, strict=True))
    result.target(f"orecart CLI / shell loop ({count} x `true`)", ratio, TARGET_RATIO, "x")
    return result.print()


def main() -> int:
    installed_bytecode()  # orecart as installed, not compiled afresh by every process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=10)
    args = parser.parse_args()
    client = daemon()
    load = os.getloadavg()[0]
    scratch = Path(tempfile.mkdtemp(prefix="orecart-bench-docker-"))
    try:
        samples = measure(client, args.members, args.repeats, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        left = leftovers(client, f"orecart.pipeline={CHAIN}")
        client.close()
    return clean_exit(left, load, not left and report(samples, args.members))


if __name__ == "__main__":
    sys.exit(main())
