"""Deprecated: `blur2blur kernels train|eval|transfer`, the old names of `blur2blur extractor train|eval` and
`blur2blur known-set make`. Hidden from the help; each prints a one-line notice naming the new command, then
runs it. They go in the next release."""

from __future__ import annotations

import functools

import typer

from blur2blur.cli.common import Command, app, command_group, examples
from blur2blur.cli.extractor import eval_cmd, train_cmd
from blur2blur.cli.known_set import make_cmd

# old subcommand of `kernels` -> (the new command, its function)
RENAMED_COMMANDS = {"train": ("extractor train", train_cmd), "eval": ("extractor eval", eval_cmd),
                    "transfer": ("known-set make", make_cmd)}

kernels_app = command_group(help="Deprecated: the old name of `blur2blur extractor` and `blur2blur known-set`."
                            + examples("blur2blur extractor train --demo --preset tiny --out extractor.safetensors",
                                       "blur2blur known-set make --extractor extractor.safetensors --demo --out K"))
app.add_typer(kernels_app, name="kernels", hidden=True)


def _old_name(old: str, new: str, command):
    @functools.wraps(command)  # the same options: Typer reads them from the wrapped function's signature
    def run_under_old_name(*args, **kwargs):
        typer.secho(f"warning: `blur2blur kernels {old}` is renamed `blur2blur {new}`; the old name goes in the "
                    "next release", fg=typer.colors.YELLOW, err=True)
        return command(*args, **kwargs)

    return run_under_old_name


for _old, (_new, _command) in RENAMED_COMMANDS.items():
    kernels_app.command(_old, cls=Command, help=f"Deprecated: the old name of `blur2blur {_new}`.")(
        _old_name(_old, _new, _command))
