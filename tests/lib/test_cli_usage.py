"""Usage errors of every ``millpond`` command: click's usage message, exit 2, no traceback.

typer bundles its own click, so the exceptions it raises are not the standalone click's;
these tests walk every command of the real console script.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from millpond.cli import app

MILLPOND = str(Path(sys.executable).parent / "millpond")


def _command_paths(group=None, prefix=()):
    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if hasattr(command, "commands"):
            yield from _command_paths(command, path)


COMMANDS = list(_command_paths())


def _millpond(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MILLPOND, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def _assert_usage_error(result: subprocess.CompletedProcess, says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert len(result.stderr.splitlines()) <= 5, result.stderr


def test_the_walk_finds_every_command():
    assert {("run",), ("runs",), ("catalog",), ("validate",), ("docs",)} <= set(COMMANDS)


PASSES_OPTIONS_ON = {("lab",)}
"""Commands that hand the options they do not know to the program they start (JupyterLab)."""


@pytest.mark.parametrize("path", [p for p in COMMANDS if p not in PASSES_OPTIONS_ON], ids=" ".join)
def test_an_unknown_option_is_a_usage_error(path, tmp_path):
    _assert_usage_error(_millpond(*path, "--no-such-option", cwd=tmp_path), "No such option")


@pytest.mark.parametrize(
    "args, says",
    [
        (["run", "shop", "extra-arg"], "unexpected extra argument"),
        (["run", "shop", "--jobs", "0"], "'--jobs'"),
        (["nosuchcommand"], "No such command"),
        (["runs", "--limit", "many"], "'many'"),
    ],
    ids=["extra argument", "jobs 0", "unknown command", "not a number"],
)
def test_bad_arguments_are_usage_errors(args, says, tmp_path):
    _assert_usage_error(_millpond(*args, cwd=tmp_path), says)
