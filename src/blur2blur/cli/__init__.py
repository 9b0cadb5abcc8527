"""The ``blur2blur`` command. Each subcommand is a thin layer over the Python API.

One module per group of commands: :mod:`.models` (deblur, models, inspect, convert, version),
:mod:`.kernels` (the blur-kernel extractor and the known-blur set), :mod:`.deblurrer` (D'),
:mod:`.translator` (G), :mod:`.fit` (every stage for one camera), :mod:`.simulate` (the camera
simulator), :mod:`.experiment` (split, evaluate, experiment, demo).
"""

from __future__ import annotations

from blur2blur.cli import (  # noqa: F401  (importing registers the commands)
    deblurrer,
    experiment,
    fit,
    kernels,
    models,
    simulate,
    translator,
)
from blur2blur.cli.common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
