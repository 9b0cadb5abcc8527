"""`blur2blur fit`: every stage of Blur2Blur for one camera, skipping what is already done.

Stages, each leaving its result in the run folder (a stage whose result exists is skipped, and
an interrupted stage resumes from its own checkpoints):

1. ``extractor.safetensors`` - the blur-kernel extractor F, trained on the known pairs P
   (or given with ``extractor=``);
2. ``K/`` - the known-blur set: the camera's sharp images S re-blurred by F (skipped, with stage 1,
   when K is given: ``FitInputs.known_set``, ``fit --known-set``);
3. ``deblurrer.safetensors`` - D', trained on P (or given with ``deblurrer=``);
4. ``blur_scores.json`` - the blur degree of every image of B (for the curriculum);
5. ``translator.safetensors`` - G, trained on B against K;
6. ``blur2blur.safetensors`` - the composed model D'(G(x)), what ``blur2blur deblur --run`` uses.

Then ``report/index.html``, the page that says whether the translator learned and shows what the
model does (:mod:`blur2blur.report.fit`); a rerun rewrites it without retraining anything.

``config.yaml`` records the settings; a run folder made with other settings is refused
(:func:`blur2blur.runs.check_settings`: only the stages' steps, device and progress bar may change).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from blur2blur.config import limits
from blur2blur.known_set import KnownSetConfig
from blur2blur.train import deblurrer as deblurrer_mod
from blur2blur.train import extractor as extractor_mod
from blur2blur.train.deblurrer import DeblurrerConfig
from blur2blur.train.extractor import ExtractorConfig
from blur2blur.train.translator import TranslatorConfig


@dataclass
class FitConfig:
    # Keys with an old name, old -> new: read as the new ones (with a DeprecationWarning) in YAML files, --set
    # items and run folders recorded before the rename (blur2blur.config, "renamed keys").
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"kernels": "extractor", "transfer": "known_set"}

    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    known_set: KnownSetConfig = field(default_factory=KnownSetConfig)
    deblurrer: DeblurrerConfig = field(default_factory=DeblurrerConfig)
    translator: TranslatorConfig = field(default_factory=TranslatorConfig)
    heldout_fraction: float = field(default=0.1, metadata=limits(minimum=0, below=1))  # of B, for held-out signals


def paper_config() -> FitConfig:
    return FitConfig()


def tiny_config() -> FitConfig:
    """CPU-sized stages for tests and demos: small networks, few steps, 128-pixel crops."""
    from blur2blur.train.loop import LoopConfig

    # lambda_grad stays the paper's 0.005. The reference code's 1e-4 lets a small D separate K from B far
    # sooner, but on few scenes it does so by scene content, not blur, and G then learns a colour shift
    # (BENCHMARKS.md, "What the discriminator learns").
    # The offline low-pass content term: runs without the VGG19 file and, unlike pixel L1, lets G leave the
    # identity (losses.lowpass_content_loss).
    tr = TranslatorConfig(arch_args={"num_res": 2, "base_channel": 16}, disc_ndf=32, crop=128, d_warmup=50,
                          perceptual="lowpass",
                          hold_steps=300, decay_steps=300, curriculum_widen_at=150,
                          loop=LoopConfig(steps=600, batch_size=4, num_workers=1, log_every=10,
                                          checkpoint_every=200, eval_every=200, image_every=200))
    return FitConfig(extractor=extractor_mod.tiny_config(), deblurrer=deblurrer_mod.tiny_config(), translator=tr)


PRESETS: dict[str, Callable[[], FitConfig]] = {"paper": paper_config, "tiny": tiny_config}


def stage_presets(stage: str) -> dict[str, Callable]:
    """One stage's presets ("extractor", "deblurrer" or "translator"), each as the fit preset of that name
    sets the stage: a stage trained alone (``blur2blur translator train --preset tiny``) matches ``fit``."""
    return {name: (lambda make=make: getattr(make(), stage)) for name, make in PRESETS.items()}


@dataclass
class FitInputs:
    blurry: Sequence[Path]
    sharp: Sequence[Path]
    known_train: Sequence       # BlurPair
    known_heldout: Sequence     # BlurPair (may be empty)
    extractor: Path | None = None
    deblurrer: Path | None = None
    known_set: Sequence[Path] | None = None   # K given: stages 1-2 are skipped (no extractor needed)


def _log(msg: str) -> None:
    import sys

    print(f"[fit] {msg}", file=sys.stderr, flush=True)


def train_stage(name: str, cfg_part, make_trainer: Callable, out: Path, run: Path, *, message: str,
                trained_by: str = "blur2blur fit", log: Callable[[str], None] | None = None) -> Path:
    """`out` when it exists; else log `message`, build ``make_trainer(runtime)`` (the runtime of
    ``cfg_part.loop``), train its first network in ``run/<name>-run`` (resuming it) and save it to `out`."""
    from blur2blur.config import to_dict
    from blur2blur.train.loop import setup_runtime, train_and_save

    if out.exists():
        return out
    (log or _log)(message)
    trainer = make_trainer(setup_runtime(cfg_part.loop))
    net = trainer.nets[next(iter(trainer.nets))]
    done = train_and_save(trainer, trainer.runtime, cfg_part.loop, run / f"{name}-run", net, out,
                          config=to_dict(cfg_part), info={"trained_by": trained_by}, desc=name)
    if done is not None:  # None on the other DDP ranks
        _log(f"{name}: wrote {out} ({done[0].step} steps; held-out {done[1]})")
    return out


def run_fit(inputs: FitInputs, cfg: FitConfig, run_dir: str | os.PathLike) -> Path:
    """Run the missing stages into `run_dir`; return the composed model's path.

    Raises ValueError when `run_dir` holds a run made with other settings.
    """
    from blur2blur import runs
    from blur2blur.config import to_dict
    from blur2blur.data.curriculum import score_images
    from blur2blur.data.images import is_partial
    from blur2blur.data.split import heldout_tail
    from blur2blur.hub import sha256_file
    from blur2blur.known_set import make_known_set
    from blur2blur.models import load_any, load_checkpoint, save_checkpoint
    from blur2blur.models.composed import ComposedDeblurrer
    from blur2blur.train.translator import TranslatorTrainer
    from blur2blur.validate import validate_fit_inputs

    run = Path(run_dir)
    runs.check_settings(run, cfg)
    runs.record_settings(run, cfg)
    final = run / runs.COMPOSED
    if final.exists():
        _log(f"{final} exists: nothing to do but its report")
        write_report_quietly(run, inputs, cfg)
        return final
    # Before hours of stages 1-4: bad images, a full disk, and the translator's reconstruction term's
    # weights (train.translator.require_content_weights: offline without them, refused) are found now.
    inputs = validate_fit_inputs(inputs, cfg, run)

    # 1. the kernel extractor F and 2. the known-blur set K (or K as given)
    if inputs.known_set is not None:
        _log("stages 1-2/6: the given known-blur set K")
        known = sorted(Path(p) for p in inputs.known_set)
        if not known:
            raise ValueError("the given known-blur set K is empty")
        extractor_path = None
    else:
        extractor_path = train_stage(
            "extractor", cfg.extractor,
            lambda rt: extractor_mod.ExtractorTrainer(cfg.extractor, inputs.known_train, inputs.known_heldout, rt),
            Path(inputs.extractor) if inputs.extractor else run / runs.EXTRACTOR, run,
            message="stage 1/6: training the blur-kernel extractor")
        k_dir = run / runs.KNOWN_SET
        _log("stage 2/6: known-blur set K")
        extractor = load_any(extractor_path, arch="kernel_wizard")
        make_known_set(extractor, inputs.known_train, inputs.sharp, k_dir, cfg.known_set,
                       extractor_info={"file": extractor_path.name, "sha256": sha256_file(extractor_path)})
        known = sorted(p for p in k_dir.glob("*.png") if not is_partial(p))  # not a write cut short
    # 3. the deblurrer D'
    deblurrer_path = train_stage(
        "deblurrer", cfg.deblurrer,
        lambda rt: deblurrer_mod.DeblurrerTrainer(cfg.deblurrer, inputs.known_train, inputs.known_heldout, rt),
        Path(inputs.deblurrer) if inputs.deblurrer else run / runs.DEBLURRER, run,
        message="stage 3/6: training the deblurrer D'")
    # 4. blur degree of B
    _log("stage 4/6: blur degree of the camera's blurry images")
    train_b, held_b = heldout_tail([str(p) for p in inputs.blurry], cfg.heldout_fraction)
    scores = score_images(train_b, run / runs.BLUR_SCORES)
    # 5. the translator G
    translator_path = train_stage(
        "translator", cfg.translator,
        lambda rt: TranslatorTrainer(cfg.translator, train_b, [str(p) for p in known], rt, val_blurry=held_b or train_b,
                                     val_known=[str(p) for p in known[::-1]], blur_scores=scores),
        run / runs.TRANSLATOR, run, message="stage 5/6: training the blur translator G")
    # 6. D'(G(x))
    _log("stage 6/6: composing D'(G(x))")
    model = ComposedDeblurrer.from_parts(load_checkpoint(translator_path), load_any(deblurrer_path))
    save_checkpoint(model, final, info={"trained_by": "blur2blur fit", "translator": str(translator_path),
                                        "deblurrer": str(deblurrer_path),
                                        "extractor": str(extractor_path) if extractor_path else None,
                                        "known_set": None if inputs.known_set is None else len(known),
                                        "config": to_dict(cfg)})
    _log(f"wrote {final}")
    write_report_quietly(run, inputs, cfg)
    return final


def write_report_quietly(run: Path, inputs: FitInputs, cfg: FitConfig) -> Path | None:
    """Write (or rewrite) the run's ``report/index.html``; a failure is logged, never raised: the model
    is what the fit delivers, and the page can be made again by rerunning ``fit``."""
    from blur2blur.report.fit import write_fit_report

    try:
        page = write_fit_report(run, inputs, cfg)
    except Exception as e:  # any failure: see the docstring
        _log(f"the report was not written ({type(e).__name__}: {e}); the model is fine")
        return None
    _log(f"report: {page}")
    return page


__all__ = ["PRESETS", "FitConfig", "FitInputs", "run_fit", "stage_presets", "train_stage", "write_report_quietly"]
