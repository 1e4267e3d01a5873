"""Every command is documented: in the README's "Command line" section, and in its own help
with an example. Every command takes the global --db and --json."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sessionstore.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands(main))


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Command line\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, "README.md has no '## Command line' section"
    return match.group(1)


def test_the_cli_has_every_store_operation():
    names = {" ".join(path) for path in COMMANDS}
    wanted = {"create", "message", "agent", "status", "complete", "label", "list", "show",
              "history", "log", "search", "metrics", "tree", "checkpoint", "replay", "fork",
              "diff", "verify", "import", "export", "project", "demo"}
    assert wanted <= names, wanted - names


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path):
    assert f"`sessionstore {' '.join(path)}" in _section()


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_help_has_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    example = result.output.split("Example:", 1)
    assert len(example) == 2, f"`sessionstore {' '.join(path)} --help` has no example"
    assert example[1].lstrip().startswith("sessionstore "), example[1][:200]


def test_db_and_json_are_global_options():
    options = {opt for p in main.params for opt in getattr(p, "opts", [])}
    assert {"--db", "--json"} <= options
    assert main.params[0].envvar == "SESSIONSTORE_DB"
