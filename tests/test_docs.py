"""The README documents every setting, every command and every Action input
(as datasette and sqlite-utils check their docs)."""

from __future__ import annotations

import re

import click
import pytest
import yaml

from receiver.cli import main
from tests.conftest import REPO
from tracker.settings import Settings

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", [row[0] for row in Settings.documentation()])
def test_every_setting_has_a_row(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", README, re.M), f"{name} is missing from the README's settings table"


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


@pytest.mark.parametrize("command", _commands(main))
def test_every_command_is_shown(command: str) -> None:
    assert f"session-buddy-ci {command}" in README, f"`session-buddy-ci {command}` is not in the README"


def test_every_command_has_help() -> None:
    def walk(group: click.Group) -> list[click.Command]:
        result: list[click.Command] = []
        for command in group.commands.values():
            result.append(command)
            if isinstance(command, click.Group):
                result += walk(command)
        return result

    assert all(command.help for command in walk(main))


def test_every_action_input_and_output_has_a_row() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    for name in [*action["inputs"], *action["outputs"]]:
        assert re.search(rf"^\| `{name}` \|", README, re.M), f"Action input/output {name} is not documented"


def test_the_two_setup_commands_are_the_makefile_targets() -> None:
    block = README.split("## Set up: two commands", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make serve", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert "\nserve:" in makefile and "\ntest:" in makefile
    assert "exec make test" in (REPO / ".ci" / "run").read_text()
