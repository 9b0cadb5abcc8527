"""Every command's --help teaches: runnable examples, every option described, types in plain words,
and the command list in the order users meet the commands."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from blur2blur.cli import app

runner = CliRunner()

# What users do first, then fit's stages, then the experiment tools, then weight files and models.
ORDER = ["deblur", "sort", "fit", "demo", "extractor", "known-set", "deblurrer", "translator", "simulate",
         "simulate-video", "split", "evaluate", "experiment", "weights", "models", "inspect", "convert", "export",
         "version"]


def _commands(group=None, path=()):
    """(path, click command) of the root, every group and every command under them; not the hidden ones
    (old names kept for a release, e.g. `kernels`: test_renames)."""
    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        if not command.hidden:
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands())


def _help(path) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "blur2blur")
def test_help_has_runnable_examples_and_plain_types(path):
    text = _help(path)
    assert "Examples:" in text
    # At least one example runs this very command (or, for the root, one of its commands).
    example = re.compile(r"^[\s│]*blur2blur " + re.escape(" ".join(path)), re.MULTILINE)
    assert example.search(text), text
    assert "<bool>" not in text and "list[" not in text, text


@pytest.mark.parametrize("path,command", COMMANDS, ids=lambda p: " ".join(p) if isinstance(p, tuple) else "")
def test_every_option_and_argument_is_described(path, command):
    undescribed = [p.name for p in command.params if not (p.help or "").strip()]
    assert undescribed == [], f"blur2blur {' '.join(path)}: no help for {undescribed}"


def test_commands_are_listed_in_the_order_users_meet_them():
    root = typer.main.get_command(app)
    assert [name for name in root.list_commands(None) if not root.commands[name].hidden] == ORDER
    text = _help(())
    positions = [re.search(rf"^│ {re.escape(name)}\s", text, re.MULTILINE).start() for name in ORDER]
    assert positions == sorted(positions), text
    # The headings follow the same order.
    headings = ["Deblur, and train for your camera", "The stages of fit, one at a time", "Experiments",
                "Models and weight files"]
    found = [text.index(h) for h in headings]
    assert found == sorted(found)


def test_flags_show_no_type_and_valued_options_do():
    text = _help(("deblur",))
    assert re.search(r"--example\s+Deblur the example images", text), text
    assert re.search(r"--tile\s+<int>", text) and re.search(r"--help\s+Show this message", text)
    text = _help(("fit",))
    assert re.search(r"--blurry\s+<str> \(repeatable\)", text), text
