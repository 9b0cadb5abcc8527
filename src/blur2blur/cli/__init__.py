"""The ``blur2blur`` command. Each subcommand is a thin layer over the Python API.

One module per group of commands: :mod:`.models` (deblur, models, inspect, convert, version),
:mod:`.kernels` (the blur-kernel extractor and the known-blur set), :mod:`.deblurrer` (D'),
:mod:`.translator` (G), :mod:`.fit` (every stage for one camera).
"""

from __future__ import annotations

from blur2blur.cli import deblurrer, fit, kernels, models, translator  # noqa: F401  (importing registers the commands)
from blur2blur.cli.common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
