"""Hostile text on a terminal: Rich markup and control sequences in member output, names,
parameters, image names, paths and error details are shown as text, never interpreted.

The live view is watched through a real pseudo-terminal; plain lines and `orecart logs`
through pipes. Log files keep the member's bytes as they came.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import docker
import pytest
from rich.text import Text
from tests.cli.conftest import Cli, Done
from tests.services.docker import BUSYBOX_IMAGE

from orecart.cli.base import waiting_notice
from orecart.cli.console import TextConsole
from orecart.cli.text import printable
from orecart.graph.waiting import Phase, Waiting
from orecart.model import Graph

#: Each hostile sequence between `A` and `B`: the screen must show `AB` and nothing between.
SEQUENCES = {
    "clear-screen": "\x1b[2J",
    "line-up-erase": "\x1b[5A\x1b[2K",
    "title": "\x1b]0;PWNED-TITLE\x07",
    "hyperlink": "\x1b]8;;http://evil.example/\x1b\\\x1b]8;;\x1b\\",
    "c1-csi": "\x9b2J",
    "dcs": "\x1bP1$r\x1b\\",
    "charset": "\x1b(0",
    "shift-out": "\x0e",
    "carriage-return": "\r",
    "backspace": "\x08",
    "bidi-override": "\u202e",
}
#: What must never reach a terminal or a pipe (the live view's own cursor moves are 1A/2K).
FORBIDDEN = [b"\x1b[2J", b"\x1b[5A", b"\x1b]0;", b"\x1b]8;", b"\xc2\x9b", b"\x1bP", b"\x1b(0",
             b"\x0e", b"\x08", b"\xe2\x80\xae", b"PWNED-TITLE", b"evil.example"]
MARKUP = "[/x] prefix[abc123]suffix :b:"
FOLDER = "d[/x]:b:[abc123]"  # a path that is markup too
LABEL = "[/x]:b:A\\u001b[2JB"  # a node label, in load.py's source (an ESC in it)


def hostile_output() -> str:
    """A shell `printf` of one `name:A<sequence>B` line per sequence, and the markup."""
    lines = [f"{name}:A{seq}B" for name, seq in SEQUENCES.items()] + [MARKUP]
    escaped = "".join(f"\\{byte:03o}" for byte in "\n".join(lines).encode())
    return f"printf '{escaped}\\n'"


def assert_clean(shown: bytes) -> None:
    for forbidden in FORBIDDEN:
        assert forbidden not in shown, (forbidden, shown[-2000:])


def on_terminal(cli: Cli, *args: str, timeout: float = 60) -> Done:
    """Run orecart with a pseudo-terminal (200 columns) as stdin, stdout and stderr; `out`
    holds every byte the terminal received, as latin-1 so each byte is one character."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {"TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"}
    process = subprocess.Popen(cli.command(*args), cwd=cli.folder, env=cli.env(env),
                               stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the last holder of the terminal closed it
                break
            if not data:
                break
            screen += data
    finally:
        os.close(master)
        if process.poll() is None and time.monotonic() >= deadline:
            process.kill()
    return Done(process.wait(timeout=10), bytes(screen).decode("latin-1"), "")


@pytest.fixture
def hostile(cli: Cli) -> Path:
    """A passing pipeline in a folder whose name is markup; its member prints hostility."""
    folder = cli.folder / FOLDER
    folder.mkdir(parents=True)  # the slash in "[/x]" makes it two folders
    (folder / "pipeline.yaml").write_text(f"""
pipeline: hostile
members:
  - name: talk
    shell: |
      {hostile_output()}
  - {{name: after, needs: [talk], shell: "echo fine"}}
""")
    return folder / "pipeline.yaml"


@pytest.mark.parametrize("name", SEQUENCES)
def test_printable_drops_each_sequence(name: str) -> None:
    assert printable(f"A{SEQUENCES[name]}B") == "AB"


@pytest.mark.parametrize("text", [MARKUP, "tab\tand\nnewline", "ünï 日本 ✓", "a;b\\c"])
def test_printable_keeps_text(text: str) -> None:
    assert printable(text) == text


@pytest.mark.parametrize("name", SEQUENCES)
def test_a_wait_notice_shows_the_error_as_it_reads(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server's error in a wait notice loses each whole sequence, not just its ESC (a
    line break, a carriage return too, becomes a space: the notice is one line)."""
    waiting_notice(Waiting(Phase.STARTED, "bolt://db:7687", 0.0, 3.0, f"A{SEQUENCES[name]}B"))
    shown = "A B" if name == "carriage-return" else "AB"
    assert capsys.readouterr().err.endswith(f": {shown}\n")


def test_the_console_draws_strings_and_text_as_they_read() -> None:
    buffer = io.StringIO()
    console = TextConsole(file=buffer, force_terminal=True, width=200)
    console.print(MARKUP, markup=True, emoji=True)
    console.print(Text("A\x1b[2JB", style="bold"))
    assert MARKUP in buffer.getvalue() and "AB" in buffer.getvalue()
    assert "\x1b[2J" not in buffer.getvalue()


def test_live_view_and_tables_on_a_terminal(cli: Cli, hostile: Path) -> None:
    file = str(hostile.relative_to(cli.folder))
    done = on_terminal(cli, "run", file, "-p", f"tag={MARKUP}\x1b]0;PWNED-TITLE\x07")
    assert done.code == 0, done.out[-3000:]
    assert "\x1b[?25l" in done.out  # the live view drew (it hides the cursor)
    for name in SEQUENCES:
        assert f"{name}:AB" in done.out
    assert MARKUP in done.out
    assert_clean(done.out.encode("latin-1"))
    run_id = cli("status", file, "--json").json()["run"]["id"]
    for args, literal in ((["status", file], run_id), (["runs", file], MARKUP),
                          (["show", run_id, "-P", file], run_id),
                          (["plan", file], "skip"), (["validate", file], FOLDER)):
        shown = on_terminal(cli, *args)
        assert shown.code == 0, (args, shown.out)
        assert literal.encode().decode("latin-1") in shown.out, (args, shown.out)
        assert_clean(shown.out.encode("latin-1"))


def test_plain_lines_logs_and_follow_in_pipes(cli: Cli, hostile: Path) -> None:
    file = str(hostile.relative_to(cli.folder))
    done = cli("run", file)
    assert done.code == 0, done.err
    for name in SEQUENCES:
        assert f"talk | {name}:AB" in done.out
    assert f"talk | {MARKUP}" in done.out
    assert_clean((done.out + done.err).encode())
    status = cli("status", file, "--json").json()
    run_id = status["run"]["id"]
    for args in (["logs", run_id, "-P", file], ["logs", run_id, "talk", "-f", "-P", file]):
        logs = cli(*args)
        assert logs.code == 0 and f"stdout {MARKUP}" in logs.out, logs.err
        assert "stdout clear-screen:AB" in logs.out
        assert_clean(logs.out.encode())
    talk = next(m for m in status["members"] if m["member"] == "talk")
    kept = (cli.folder / talk["log_path"]).read_bytes()
    assert b"clear-screen:A\x1b[2JB" in kept  # the file keeps the bytes as they came


def test_follow_prints_whole_clean_lines_while_the_run_goes_on(cli: Cli) -> None:
    cli.write(r"""
pipeline: slow
members:
  - name: slow
    shell: |
      printf 'one\033[2J\n'; sleep 1.5; printf 'two\033]0;\120WNED-TITLE\007'
""")
    running = cli.start("run", "pipeline.yaml")
    try:
        deadline = time.monotonic() + 30
        while not (runs := cli("runs", "pipeline.yaml", "--json")).code == 0 or not runs.json():
            assert time.monotonic() < deadline, "the run never appeared"
        followed = cli("logs", runs.json()[0]["id"], "-f")
    finally:
        running.communicate(timeout=30)
    assert followed.code == 0, followed.err
    assert "stdout one\n" in followed.out and "stdout two\n" in followed.out
    assert_clean(followed.out.encode())


@pytest.fixture
def failing(cli: Cli) -> Path:
    """A failing pipeline whose command and image names carry markup and escapes."""
    (cli.folder / "fail[").mkdir()
    return cli.write(f"""
pipeline: failing
members:
  - {{name: gone, run: ["./no[/x]such:b:\\e[2J\\e]0;PWNED-TITLE\\a"]}}
  - {{name: img, image: "orecart-test/absent:b", pull: never}}
  - {{name: ok, shell: "echo {MARKUP}"}}
""", "fail[/x]:b:.yaml")


def test_error_details_of_every_command_render_as_text(cli: Cli, failing: Path) -> None:
    file = str(failing.relative_to(cli.folder))
    done = cli("run", file)
    assert done.code == 1 and "Traceback" not in done.err, done.err
    assert "command not found: ./no[/x]such:b:" in done.out
    assert f"ok | {MARKUP}" in done.out
    run_id = cli("status", file, "--json").json()["run"]["id"]
    wide = {"COLUMNS": "200"}  # no wrapping inside the names
    for args, literal in ((["status", file], "command not found: ./no[/x]such:b:"),
                          (["show", run_id, "-P", file], "command not found: ./no[/x]such:b:"),
                          (["images", file], "orecart-test/absent"), (["runs", file], run_id),
                          (["plan", file], "no earlier success here")):
        shown = cli(*args, env=wide)
        assert shown.code == 0, (args, shown.err)
        assert literal in shown.out, (args, shown.out)
        assert_clean((shown.out + shown.err).encode())


@pytest.mark.parametrize("args, message", [
    (["validate", "missing[/x]:b:.yaml"], "no such pipeline file: missing[/x]:b:.yaml"),
    (["show", "zz[/x]:b:\x1b[2J"], "zz[/x]:b:"),
    (["run", "pipeline.yaml", "-p", "[/x]:b:\x1b]0;T\x07"], "[/x]:b:"),  # shown as repr
    (["validate", "bad[/x]:b:.yaml"], "bad[/x]:b:.yaml:3:"),
    (["validate", "image.yaml"], "'img[/x]:b:' is not an image reference"),
])
def test_error_messages_render_as_text(cli: Cli, args: list[str], message: str) -> None:
    cli.write("pipeline: p\nmembers:\n  - {name: a, shell: 'true'}\n")
    (cli.folder / "bad[").mkdir()
    cli.write("pipeline: p\nmembers:\n  - {name: a, shel: 'true'}\n", "bad[/x]:b:.yaml")
    cli.write("pipeline: p\nmembers:\n  - {name: a, image: 'img[/x]:b:'}\n", "image.yaml")
    done = cli(*args)
    assert done.code == 2, done.err
    assert done.err.startswith("error: ") and message in done.err, done.err
    assert_clean(done.err.encode())


def test_graph_labels_in_diff_and_graph_status_render_as_text(
    cli: Cli, neo4j_graph: Graph
) -> None:
    (cli.folder / "load.py").write_text(
        "import os\nfrom neo4j import GraphDatabase\n"
        "auth = (os.environ['NEO4J_USERNAME'], os.environ['NEO4J_PASSWORD'])\n"
        "with GraphDatabase.driver(os.environ['NEO4J_URI'], auth=auth) as driver:\n"
        f"    driver.execute_query('CREATE (:`{LABEL}`)')\n")
    cli.write(f"""
pipeline: labels
graph: {{uri: "{neo4j_graph.uri}", user: "{neo4j_graph.user}", password: "${{NEO4J_PASSWORD}}"}}
pools: {{neo4j-write: 1}}
members:
  - {{name: load, pool: neo4j-write, run: [python3, load.py]}}
""")
    env = {"NEO4J_USERNAME": neo4j_graph.user, "NEO4J_PASSWORD": neo4j_graph.password,
           "COLUMNS": "200"}
    assert cli("run", "pipeline.yaml", env=env).code == 0
    run_id = cli("status", "pipeline.yaml", "--json").json()["run"]["id"]
    for args in (["diff", run_id], ["graph", "status", "pipeline.yaml"]):
        shown = cli(*args, env=env)
        assert shown.code == 0, (args, shown.err)
        assert "[/x]:b:AB" in shown.out, (args, shown.out)
        assert_clean((shown.out + shown.err).encode())


def test_a_successful_run_of_a_markup_named_pipeline_exits_0(
    cli: Cli, docker_ready: docker.DockerClient
) -> None:
    name, tag = BUSYBOX_IMAGE.split(":")
    # a Motherlode file: its pipeline name, the one key at the top, is free text
    cli.write('"Pipe[/x]:b:":\n'
              f'  - {{name: a, image_repo: {name}, tag: "{tag}", command: [echo, "{MARKUP}"]}}\n')
    done = cli("run", "pipeline.yaml", "--pull", "never", env={"COLUMNS": "200"})
    assert done.code == 0, done.out + done.err
    assert f"a | {MARKUP}" in done.out
    assert "of Pipe[/x]:b:: succeeded" in done.err  # the table at the end
    for args in (["status", "pipeline.yaml"], ["runs", "pipeline.yaml"]):
        shown = cli(*args, env={"COLUMNS": "200"})
        assert shown.code == 0 and "Pipe[/x]:b:" in shown.out, (args, shown.out + shown.err)
