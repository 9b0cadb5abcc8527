"""`blur2blur extractor train|eval`: the blur-kernel extractor F (KernelWizard), stage 1 of fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (PAIRS_HELP, WEIGHTS_NAME_HELP, Command, app, command_group, config_option,
                                  device_option, examples, fail, known_pairs, layout_option, machine_preset,
                                  prepare_run, preset_option, resolve_config, run_dir_option, show_config_option,
                                  train_command, training_pairs, weight_file)
from blur2blur.fileio import atomic_write_text

extractor_app = command_group(help="Train and measure the blur-kernel extractor F (stage 1 of fit)."
                              + examples("blur2blur extractor train --demo --preset tiny --out extractor.safetensors",
                                         "blur2blur extractor eval --extractor extractor.safetensors --demo"))
app.add_typer(extractor_app, name="extractor")


def load_extractor(path: Path, device: str | None):
    """The extractor at `path` (weights of ours or official) on `device`, in eval mode; fails with a message."""
    from blur2blur.devices import pick_device
    from blur2blur.models import CheckpointError, load_any

    try:
        net = load_any(path, arch="kernel_wizard")
    except (CheckpointError, FileNotFoundError, KeyError, ValueError) as e:
        fail(str(e))
    return net.to(pick_device(device)).eval()


def extractor_info(path: Path) -> dict:
    """What a K folder's manifest records of the extractor that made it."""
    from blur2blur.hub import sha256_file

    return {"file": path.name, "sha256": sha256_file(path)}


@extractor_app.command("train", cls=Command)
def train_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the trained extractor (.safetensors)."),
    pairs: Optional[Path] = typer.Option(None, help=PAIRS_HELP),
    layout: str = layout_option(),
    split: str = typer.Option("train", help="Split to train on, where the layout has splits."),
    val_pairs: Optional[Path] = typer.Option(None, help="Held-out pairs for the metric (default: a share of "
                                             "the training scenes, val_fraction)."),
    demo: bool = typer.Option(False, "--demo", help="Train on the bundled demo known-blur pairs."),
    preset: Optional[str] = preset_option("paper", "paper: the extractor paper's recipe (GPU-sized); tiny: a "
                                          "CPU-sized model for tests and demos"),
    config: Optional[Path] = config_option(),
    set_: List[str] = typer.Option([], "--set", help="Override one setting, e.g. --set loop.steps=2000 "
                                   "--set arch.use_vae=true."),
    init: Optional[Path] = typer.Option(None, help="Start from these weights: ours or official "
                                        f"GOPRO_woVAE.pth, {WEIGHTS_NAME_HELP}."),
    run_dir: Optional[Path] = run_dir_option(),
    device: Optional[str] = device_option(),
    show_config: bool = show_config_option(),
) -> None:
    """Train the blur-kernel extractor F on known-blur pairs (resumable; DDP under torchrun).

    Examples:

      blur2blur extractor train --demo --preset tiny --out extractor.safetensors
      blur2blur extractor train --pairs GOPRO_Large --preset paper --out gopro-extractor.safetensors
    """
    from blur2blur.models import load_any
    from blur2blur.train.extractor import PRESETS, ExtractorTrainer
    from blur2blur.train.loop import setup_runtime

    cfg = resolve_config(PRESETS, machine_preset(preset, "paper", device), config, set_, device, show_config)
    run_dir, record = prepare_run(out, run_dir, cfg)

    train_pairs, held, root = training_pairs(pairs, layout, split, val_pairs, demo, cfg.val_fraction, cfg.loop.seed)
    runtime = setup_runtime(cfg.loop)
    try:
        extractor = None
        if init is not None:
            extractor = load_any(weight_file(init), arch="kernel_wizard")
        trainer = ExtractorTrainer(cfg, train_pairs, held, runtime, extractor=extractor)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    n = sum(p.numel() for p in trainer.extractor.parameters())
    train_command(trainer, trainer.extractor, cfg, runtime, run_dir, record, out, desc="kernel extractor",
                  banner=f"extractor: {n / 1e6:.2f}M parameters; {len(train_pairs)} training pairs from {root}, "
                         f"{len(held)} held out",
                  info={"trained_by": "blur2blur extractor train", "pairs": str(root),
                        "init": str(init) if init else None}, report=_print_metric)


def _print_metric(m: dict) -> None:
    typer.echo(f"held-out re-blur PSNR {m['reblur_psnr']:.2f} dB vs identity (sharp vs blurry) "
               f"{m['identity_psnr']:.2f} dB: {m['gain_db']:+.2f} dB, {100 * m['improved']:.0f}% of "
               f"{int(m['pairs'])} pairs improved")


@extractor_app.command("eval", cls=Command)
def eval_cmd(
    extractor: Path = typer.Option(..., help=f"Extractor weights: ours or official, {WEIGHTS_NAME_HELP}."),
    pairs: Optional[Path] = typer.Option(None, help=PAIRS_HELP),
    layout: str = layout_option(),
    split: str = typer.Option("test", help="Split to evaluate on, where the layout has splits."),
    demo: bool = typer.Option(False, "--demo", help="Evaluate on the bundled demo's held-out known pairs."),
    size: int = typer.Option(256, help="Centre crop per pair (0: whole images)."),
    limit: Optional[int] = typer.Option(None, help="Evaluate on at most this many pairs."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the numbers to this JSON file."),
    device: Optional[str] = device_option(),
) -> None:
    """Measure the extractor: PSNR(re-blurred, blurry) against the identity PSNR(sharp, blurry).

    Examples:

      blur2blur extractor eval --extractor extractor.safetensors --demo
      blur2blur extractor eval --extractor kernel_wizard_gopro_wovae --pairs GOPRO_Large --limit 50
    """
    from blur2blur.train.extractor import reblur_psnr

    found, _ = known_pairs(pairs, layout, split, "test" if demo else None)
    net = load_extractor(weight_file(extractor), device)
    metrics = reblur_psnr(net, found[:limit] if limit else found, size=size or None,
                          device=next(net.parameters()).device)
    _print_metric(metrics)
    if json_out is not None:
        text = json.dumps(metrics, indent=2)
        if json_out.exists():
            # The same evaluation again (it is deterministic): done; anything else is not ours to replace.
            if json_out.read_text(encoding="utf-8") == text:
                typer.echo(f"{json_out} holds these numbers already: nothing to do")
                return
            fail(f"{json_out} exists with other numbers; refusing to overwrite it")
        atomic_write_text(json_out, text)
