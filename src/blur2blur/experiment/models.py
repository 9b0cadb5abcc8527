"""The experiment's models: the known camera's F and D', and how each row builds its model for one camera.

Every builder returns the path of a trained model, trains it only when the file is missing
(:func:`blur2blur.fit.train_stage`), and leaves its run folder next to it, so a rerun resumes.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from blur2blur import runs
from blur2blur.data.pairs import BlurPair
from blur2blur.experiment.cameras import CameraData
from blur2blur.experiment.config import CameraSpec, ExperimentConfig


def log(msg: str) -> None:
    print(f"[experiment] {msg}", file=sys.stderr, flush=True)


def _train(name: str, cfg_part, make_trainer, out: Path, run: Path) -> Path:
    from blur2blur.fit import train_stage

    return train_stage(name, cfg_part, make_trainer, out, run, message=f"training {name}",
                       trained_by="blur2blur experiment", log=log)


def known_models(cfg: ExperimentConfig, out: Path, known_train, known_test) -> tuple[Path, Path]:
    """(extractor F, deblurrer D') paths: given, bundled (the demo's D') or trained into ``out/known``."""
    from blur2blur.train.deblurrer import DeblurrerTrainer
    from blur2blur.train.extractor import ExtractorTrainer

    run = out / "known"
    extractor = Path(cfg.extractor) if cfg.extractor else _train(
        "extractor", cfg.fit.extractor, lambda rt: ExtractorTrainer(cfg.fit.extractor, known_train, known_test, rt),
        run / runs.EXTRACTOR, run)
    if cfg.deblurrer:
        deblurrer = Path(cfg.deblurrer)
    elif cfg.known_pairs is None:
        from blur2blur.assets import sample_deblurrer_path

        deblurrer = sample_deblurrer_path()  # trained on the demo's known camera only
    else:
        deblurrer = _train("deblurrer", cfg.fit.deblurrer,
                           lambda rt: DeblurrerTrainer(cfg.fit.deblurrer, known_train, known_test, rt),
                           run / runs.DEBLURRER, run)
    return extractor, deblurrer


@dataclass
class CameraRun:
    """What a row's builder needs: the settings, one camera's data and folder, the known camera's models."""

    cfg: ExperimentConfig
    spec: CameraSpec
    data: CameraData
    folder: Path                    # the camera's folder in the run folder
    known_train: list[BlurPair]
    known_test: list[BlurPair]
    extractor: Path                 # F
    deblurrer: Path                 # D'

    @functools.cached_property
    def true_known_set(self) -> list[tuple[Path, Path]]:
        """(K image, its source in S): K made by the demo's known camera on S (with K's settings)."""
        from blur2blur.data.demo import write_known_camera_set

        return write_known_camera_set(self.data.sharp, self.folder / "true-K", variants=self.cfg.fit.known_set.variants,
                                      seed=self.cfg.seed, camera_noise=self.cfg.fit.known_set.camera_noise)


def finetuned(run: CameraRun, name: str, pairs: list[BlurPair]) -> Path:
    """D' fine-tuned on `pairs` (a baseline or the upper bound); the same budget for every row."""
    from blur2blur.data.split import split_by_scene
    from blur2blur.models import load_any
    from blur2blur.train.deblurrer import DeblurrerTrainer

    cfg = run.cfg
    train, held = split_by_scene(pairs, 0.1, cfg.seed)
    return _train(f"deblurrer-{name}", cfg.finetune,
                  lambda rt: DeblurrerTrainer(cfg.finetune, train, held, rt, model=load_any(run.deblurrer)),
                  run.folder / f"deblurrer-{name}.safetensors", run.folder)


def degraded_finetuned(run: CameraRun, pipeline: str) -> Path:
    """D' fine-tuned on S degraded by a :mod:`blur2blur.data.degradations` pipeline (the row's name)."""
    from blur2blur.data.degradations import degrade_dataset
    from blur2blur.data.pairs import find_pairs

    folder = run.folder / f"degraded-{pipeline}"
    if not (folder / "manifest.json").exists():
        degrade_dataset(run.data.sharp, folder, pipeline, seed=run.cfg.seed, variants=2, overwrite=folder.exists())
    return finetuned(run, pipeline, find_pairs(folder, "folders"))


def unpaired(run: CameraRun, method: str) -> Path:
    """The B -> S generator of an unpaired translation network (``cyclegan``, ``dualgan``) trained on B and S."""
    from blur2blur.data.split import heldout_tail
    from blur2blur.train.unpaired import UnpairedTranslationTrainer

    ucfg = getattr(run.cfg, method)
    if ucfg.method != method:
        raise ValueError(f"the {method} row needs {method}.method = {method}, got {ucfg.method}")
    blurry, sharp = [str(p) for p in run.data.blurry], [str(p) for p in run.data.sharp]
    train_b, held_b = heldout_tail(blurry, 0.1, at_least_one=True)
    return _train(method, ucfg, lambda rt: UnpairedTranslationTrainer(
        ucfg, train_b, sharp, rt, val_blurry=held_b, val_sharp=sharp[:len(held_b)]),
        run.folder / f"{method}.safetensors", run.folder)


def upper_bound(run: CameraRun) -> Path:
    """D' fine-tuned on the camera's own training pairs (needs paired data: the upper bound)."""
    return finetuned(run, "upper", run.data.train_pairs)


def blur2blur_fit(run: CameraRun, folder: str, data: CameraData | None = None,
                  known_set: list[Path] | None = None) -> Path:
    """D'(G(y)) of a ``blur2blur fit`` on the camera's B and S (`data`, default: the run's) into
    ``folder`` of the camera's folder; `known_set`: K given instead of made by F."""
    from blur2blur.fit import FitInputs, run_fit

    data = data or run.data
    return run_fit(FitInputs(data.blurry, data.sharp, run.known_train, run.known_test, run.extractor, run.deblurrer,
                             known_set=known_set), run.cfg.fit, run.folder / folder)


def true_k_fit(run: CameraRun) -> Path:
    """The fit with K made by the demo's known camera instead of F (a diagnostic of F's error)."""
    return blur2blur_fit(run, "fit-true-k", known_set=[k for k, _ in run.true_known_set])


__all__ = ["CameraRun", "blur2blur_fit", "degraded_finetuned", "finetuned", "known_models", "log", "true_k_fit",
           "unpaired", "upper_bound"]
