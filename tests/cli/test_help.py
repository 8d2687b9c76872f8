"""`orecart --help`, each command's help and `--version`: what a newcomer reads first."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_help_lists_every_command_under_its_heading(cli: Cli) -> None:
    done = cli("--help")
    assert done.code == 0, done.err
    text = done.out
    headings = ["Pipelines and runs:", "Service:", "History:", "Images and the graph:"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    for command in ("validate", "schema", "plan", "run", "serve", "submit", "cancel", "queue",
                    "status", "runs", "show", "logs", "images", "diff", "backup", "restore",
                    "graph"):
        assert f"\n  {command} " in text, command
    assert "Exit codes:" in text


def test_command_help_names_options_and_their_variables(cli: Cli) -> None:
    done = cli("run", "--help")
    assert done.code == 0, done.err
    for option in ("--only", "--from", "--skip", "--only-failed", "--force", "--max-parallel",
                   "--keep", "--pull [always|if-missing|never]", "ORECART_STATE"):
        assert option in done.out, option
    graph = cli("graph", "--help")
    assert graph.code == 0 and "status" in graph.out


def test_version_and_usage_errors(cli: Cli) -> None:
    version = cli("--version")
    assert version.code == 0 and version.out.startswith("orecart ")
    missing = cli("run")
    assert missing.code == 2 and "Missing argument 'FILE'" in missing.err
    unknown = cli("run", "pipeline.yaml", "--nope")
    assert unknown.code == 2 and "No such option '--nope'" in unknown.err


def test_serve_help_says_how_it_stops(cli: Cli) -> None:
    """The signals serve stops on, as the README lists them, and what a second one does."""
    summary = cli("--help").out
    serve_line = next(line for line in summary.splitlines() if line.startswith("  serve "))
    assert not serve_line.rstrip().endswith("..."), serve_line  # its summary is whole
    done = cli("serve", "--help")
    text = " ".join(done.out.split())
    assert "SIGTERM, SIGHUP or Ctrl-C" in text and "a second signal aborts" in text, text
    assert "--grace" in text and "exit 1" in text
