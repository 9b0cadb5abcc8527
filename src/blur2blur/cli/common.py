"""The root ``blur2blur`` Typer app and helpers shared by the command modules."""

from __future__ import annotations

from typing import NoReturn

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Blur2Blur: give any camera its own deblurring model, trained from unpaired blurry and sharp images.",
)


def fail(message: str) -> NoReturn:
    """Print `message` as an error and exit with status 2 (bad input)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
