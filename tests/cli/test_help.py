"""`orecart --help`, each command's help and `--version`: what a newcomer reads first."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_help_lists_every_command_under_its_heading(cli: Cli) -> None:
    done = cli("--help")
    assert done.code == 0, done.err
    text = done.out
    headings = ["Pipelines and runs:", "History:", "Images and the graph:"]
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    for command in ("validate", "schema", "plan", "run", "status", "runs", "show", "logs",
                    "images", "diff", "backup", "restore", "graph"):
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
