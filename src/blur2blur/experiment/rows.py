"""The experiment's rows: one table that says, for each method compared, its title, how its model is
built for a camera and how it is loaded. The run, the results tables, the warnings and the report all
read this table; a new row is one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from blur2blur.experiment.models import CameraRun


def _load_any(path: Path) -> nn.Module:
    # Official deblurrer weights need load_any's shape recognition.
    from blur2blur.models import load_any

    return load_any(path).eval()


def _load_ours(path: Path) -> nn.Module:
    # Composed models D'(G(x)) are always ours: self-describing checkpoints.
    from blur2blur.models import load_checkpoint

    return load_checkpoint(path).eval()


def _build(name: str, *args) -> Callable[[CameraRun], Path]:
    """A builder: ``blur2blur.experiment.models.<name>(run, *args)`` (imported when a row runs)."""
    def build(run: CameraRun) -> Path:
        from blur2blur.experiment import models

        return getattr(models, name)(run, *args)
    return build


def _fit_known_set(run: CameraRun) -> list[tuple[Path, Path]]:
    from blur2blur.experiment.checks import known_set_sources

    return known_set_sources(run.folder / "fit", run.data.sharp)


@dataclass(frozen=True)
class Row:
    name: str
    title: str                                        # in tables, the report and the notes
    build: Callable[[CameraRun], Path] | None         # the row's model file for a camera; None: no model
    load: Callable[[Path], nn.Module] = _load_any
    # A Blur2Blur fit: its folder in the camera's folder, the key of its checks in the results, the
    # known-blur set it was trained against ((K image, its source in S)) and what to call that K.
    fit_folder: str | None = None
    signals_key: str | None = None
    known_set: Callable[[CameraRun], list[tuple[Path, Path]]] | None = None
    k_description: str = ""
    k_from_extractor: bool = False                    # K made by F: D' on K measures F (a warning if poor)
    needs_known_camera: bool = False                  # K made by the demo's simulated known camera


TABLE: tuple[Row, ...] = (
    Row("blurry", "blurry input", None),
    Row("direct", "D' direct", lambda run: run.deblurrer),   # the known camera's D', as it is
    Row("synthetic", "D' w/ synthetic data", _build("degraded_finetuned", "synthetic")),
    Row("bsrgan", "D' w/ BSRGAN-style data", _build("degraded_finetuned", "bsrgan")),
    Row("rsblur", "D' w/ RSBlur-style data", _build("degraded_finetuned", "rsblur")),
    Row("cyclegan", "CycleGAN (B -> S)", _build("unpaired", "cyclegan")),
    Row("dualgan", "DualGAN (B -> S)", _build("unpaired", "dualgan")),
    Row("blur2blur", "D' + Blur2Blur", _build("blur2blur_fit", "fit"), _load_ours, fit_folder="fit",
        signals_key="signals", known_set=_fit_known_set, k_description="the known-blur set K", k_from_extractor=True),
    Row("blur2blur_true_k", "D' + Blur2Blur, true K (diagnostic)", _build("true_k_fit"), _load_ours,
        fit_folder="fit-true-k",
        signals_key="signals_true_k", known_set=lambda run: run.true_known_set,
        k_description="K made by the known camera", needs_known_camera=True),
    Row("upper", "D' trained on the camera's pairs (upper bound)", _build("upper_bound")),
)
ROW_TABLE: dict[str, Row] = {row.name: row for row in TABLE}
ROWS = tuple(ROW_TABLE)
FIT_ROWS = tuple(row for row in TABLE if row.fit_folder)
ROW_TITLES = {row.name: row.title for row in TABLE}


__all__ = ["FIT_ROWS", "ROWS", "ROW_TABLE", "ROW_TITLES", "Row", "TABLE"]
