"""`blur2blur translator train`: the blur translator G on the camera's blurry images B against K."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (Command, app, command_group, config_option, device_option, examples, fail,
                                  machine_preset, prepare_run, preset_option, resolve_config, run_dir_option,
                                  show_config_option, train_command)
from blur2blur.runs import BLUR_SCORES

translator_app = command_group(help="Train the blur translator G (camera blur -> known blur)."
                               + examples("blur2blur translator train --blurry camera/blurry --known K --preset tiny "
                                          "--out translator.safetensors"))
app.add_typer(translator_app, name="translator")


@translator_app.command("train", cls=Command)
def train_cmd(
    blurry: List[str] = typer.Option(..., help="The camera's blurry images B: files, folders or globs."),
    known: List[str] = typer.Option(..., help="The known-blur set K (e.g. the folder `known-set make` wrote)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the trained translator (.safetensors)."),
    heldout: float = typer.Option(0.1, help="Share of B held out for the discriminator-accuracy and drift signals."),
    preset: Optional[str] = preset_option("paper", "paper (the paper's recipe, GPU-sized) or tiny (CPU-sized)"),
    config: Optional[Path] = config_option(),
    set_: List[str] = typer.Option([], "--set", help="Override one setting, e.g. --set d_warmup=2000."),
    init: Optional[Path] = typer.Option(None, help="Start from these translator weights (ours or official)."),
    run_dir: Optional[Path] = run_dir_option(),
    device: Optional[str] = device_option(),
    show_config: bool = show_config_option(),
) -> None:
    """Train G against K with the paper's losses (resumable; DDP under torchrun).

    Examples:

      blur2blur translator train --blurry camera/blurry --known K --preset tiny --out translator.safetensors
    """
    from blur2blur.data.curriculum import score_images
    from blur2blur.data.images import expand_inputs
    from blur2blur.data.split import heldout_tail
    from blur2blur.fit import stage_presets
    from blur2blur.hub import DownloadError
    from blur2blur.models import CheckpointError, load_any
    from blur2blur.train.loop import setup_runtime
    from blur2blur.train.translator import TranslatorTrainer, require_content_weights

    cfg = resolve_config(stage_presets("translator"), machine_preset(preset, "paper", device), config, set_, device,
                         show_config)
    run_dir, record = prepare_run(out, run_dir, cfg)
    try:
        require_content_weights(cfg)
    except (DownloadError, FileNotFoundError) as e:
        fail(str(e))
    try:
        b = [str(p) for p in expand_inputs(blurry)]
        k = [str(p) for p in expand_inputs(known)]
    except FileNotFoundError as e:
        fail(str(e))
    train_b, held_b = heldout_tail(b, heldout)
    held_b = held_b or b   # too few images to hold any out: the signals are measured on B itself
    run_dir.mkdir(parents=True, exist_ok=True)
    scores = score_images(train_b, run_dir / BLUR_SCORES) if cfg.curriculum else None
    runtime = setup_runtime(cfg.loop)
    try:
        net = load_any(init, arch=cfg.arch) if init is not None else None
        trainer = TranslatorTrainer(cfg, train_b, k, runtime, val_blurry=held_b, val_known=k[::-1],
                                    blur_scores=scores, translator=net)
    except (ValueError, FileNotFoundError, CheckpointError, DownloadError) as e:
        fail(str(e))

    def report(m: dict) -> None:
        typer.echo(f"held-out: discriminator accuracy K vs G(B) {100 * m['d_acc_heldout']:.0f}%, K vs B "
                   f"{100 * m['d_acc_b_vs_k']:.0f}%; drift PSNR(G(y), y) {m['drift_psnr']:.2f} dB")

    n = sum(p.numel() for p in trainer.translator.parameters())
    train_command(trainer, trainer.translator, cfg, runtime, run_dir, record, out, desc="translator",
                  banner=f"{cfg.arch}: {n / 1e6:.2f}M parameters; {len(train_b)} blurry images "
                         f"({len(held_b)} held out), {len(k)} known-blur images",
                  info={"trained_by": "blur2blur translator train", "init": str(init) if init else None},
                  report=report)
