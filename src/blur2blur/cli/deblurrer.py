"""`blur2blur deblurrer train`: the known-domain deblurrer D' for users without official weights."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (PAIRS_HELP, WEIGHTS_NAME_HELP, Command, app, command_group, config_option,
                                  device_option, examples, fail, layout_option, machine_preset, prepare_run,
                                  preset_option, resolve_config, run_dir_option, show_config_option, train_command,
                                  training_pairs, weight_file)

deblurrer_app = command_group(help="Train the deblurrer D' on known-blur pairs."
                              + examples("blur2blur deblurrer train --demo --preset tiny --out deblurrer.safetensors"))
app.add_typer(deblurrer_app, name="deblurrer")


@deblurrer_app.command("train", cls=Command)
def train_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the trained deblurrer (.safetensors)."),
    pairs: Optional[Path] = typer.Option(None, help=PAIRS_HELP),
    layout: str = layout_option(),
    split: str = typer.Option("train", help="Split to train on, where the layout has splits."),
    val_pairs: Optional[Path] = typer.Option(None, help="Held-out pairs for PSNR (default: 10% of the scenes)."),
    demo: bool = typer.Option(False, "--demo", help="Train on the bundled demo known-blur pairs."),
    preset: Optional[str] = preset_option("nafnet", "nafnet, restormer, mimo_unet (each its paper's recipe, "
                                          "GPU-sized) or tiny (a small NAFNet for CPUs)"),
    config: Optional[Path] = config_option(),
    set_: List[str] = typer.Option([], "--set", help="Override one setting, e.g. --set loop.steps=2000."),
    init: Optional[Path] = typer.Option(None, help=f"Start from these weights: ours or official, {WEIGHTS_NAME_HELP}."),
    run_dir: Optional[Path] = run_dir_option(),
    device: Optional[str] = device_option(),
    show_config: bool = show_config_option(),
) -> None:
    """Train a deblurrer (NAFNet, Restormer, MIMO-UNet) on known-blur pairs (resumable; DDP under torchrun).

    Examples:

      blur2blur deblurrer train --demo --preset tiny --out deblurrer.safetensors
      blur2blur deblurrer train --pairs GOPRO_Large --preset nafnet --out nafnet-gopro.safetensors
    """
    from blur2blur.models import CheckpointError, load_any
    from blur2blur.train.deblurrer import PRESETS, DeblurrerTrainer
    from blur2blur.train.loop import setup_runtime

    cfg = resolve_config(PRESETS, machine_preset(preset, "nafnet", device), config, set_, device, show_config)
    run_dir, record = prepare_run(out, run_dir, cfg)
    train_pairs, held, root = training_pairs(pairs, layout, split, val_pairs, demo, seed=cfg.loop.seed)
    runtime = setup_runtime(cfg.loop)
    try:
        model = load_any(weight_file(init), arch=cfg.arch) if init is not None else None
        trainer = DeblurrerTrainer(cfg, train_pairs, held, runtime, model=model)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        fail(str(e))
    n = sum(p.numel() for p in trainer.net.parameters())
    train_command(trainer, trainer.net, cfg, runtime, run_dir, record, out, desc="deblurrer",
                  banner=f"{cfg.arch}: {n / 1e6:.2f}M parameters; {len(train_pairs)} training pairs from {root}, "
                         f"{len(held)} held out",
                  info={"trained_by": "blur2blur deblurrer train", "pairs": str(root),
                        "init": str(init) if init else None}, report=_print_metric)


def _print_metric(m: dict) -> None:
    typer.echo(f"held-out PSNR {m['psnr_blurry']:.2f} dB blurry -> {m['psnr_deblurred']:.2f} dB deblurred "
               f"({m['gain_db']:+.2f} dB, {100 * m['improved']:.0f}% of {int(m['pairs'])} pairs improved)")
