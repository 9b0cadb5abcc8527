"""The ``blur2blur`` command. Each subcommand is a thin layer over the Python API.

One module per group of commands: :mod:`.models` (deblur, models, inspect, convert, version),
:mod:`.extractor` (the blur-kernel extractor F), :mod:`.known_set` (the known-blur set K), :mod:`.deblurrer` (D'),
:mod:`.translator` (G), :mod:`.fit` (every stage for one camera), :mod:`.simulate` (the camera
simulator), :mod:`.experiment` (split, evaluate, experiment, demo). :mod:`.kernels` keeps the old
`kernels` commands, hidden and deprecated.
"""

from __future__ import annotations

from blur2blur.cli import (  # noqa: F401  (importing registers the commands)
    deblurrer,
    experiment,
    extractor,
    fit,
    footage,
    kernels,
    known_set,
    models,
    simulate,
    translator,
)
from blur2blur.cli.common import app


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A user reads "warning: <file>: <what was skipped and why>", not our source file and line.
    import typer

    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def main() -> None:
    import warnings

    warnings.showwarning = _show_warning
    # A renamed config key given in --set or --config: say its new name (Python hides DeprecationWarnings).
    warnings.filterwarnings("default", category=DeprecationWarning, module=r"blur2blur\.config$")
    app()


__all__ = ["app", "main"]
