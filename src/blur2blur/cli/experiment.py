"""`blur2blur split | evaluate | experiment | demo`: the paper's experiments and the bundled demo."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (PAIRS_HELP, WEIGHTS_NAME_HELP, Command, app, device_option, fail, known_pairs,
                                  layout_option, precision_option, show_config_option, weight_file)
from blur2blur.runs import COMPOSED

CONFIGS = Path(__file__).resolve().parent.parent / "configs"   # the experiment configs shipped in the package


@app.command(cls=Command)
def split(
    pairs: Path = typer.Option(..., "--pairs", help="A paired dataset of the camera. " + PAIRS_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for B/, S/ (links to the dataset) and split.json."),
    ratio: float = typer.Option(0.6, help="B's share of the scenes (the paper: 0.6, i.e. 0.6 : 0.4)."),
    layout: str = layout_option(),
    split_name: str = typer.Option("train", "--split", help="Split of --pairs to divide."),
    seed: int = typer.Option(0, help="Seed of the scene shuffle."),
) -> None:
    """Divide a paired dataset into disjoint scene sets: the blurry images of one form B, the sharp of the other S.

    Examples:

      blur2blur split --pairs REDS --ratio 0.6 --out reds-split
    """
    from blur2blur.data.split import write_split

    found, root = known_pairs(pairs, layout, split_name, None)
    try:
        done = write_split(found, out, ratio, seed, source=str(root))
    except (ValueError, FileExistsError) as e:
        fail(str(e))
    manifest = json.loads((done / "split.json").read_text(encoding="utf-8"))
    for part, kind in (("B", "blurry"), ("S", "sharp")):
        m = manifest[part]
        typer.echo(f"{part}: {len(m['files'])} {kind} images of {len(m['scenes'])} scenes -> {done / part}")
    typer.echo(f"next: blur2blur fit --blurry {done / 'B'} --sharp {done / 'S'} --known-pairs P --out RUN")


@app.command(cls=Command)
def evaluate(
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Test pairs. " + PAIRS_HELP),
    run: Optional[Path] = typer.Option(None, "--run", help="A `blur2blur fit` run folder (its composed model)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=f"Any deblurrer: ours or official weights, "
                                         f"{WEIGHTS_NAME_HELP}."),
    input_only: bool = typer.Option(False, "--input-only", help="Score the blurry inputs themselves (no model)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for metrics.json and metrics.md."),
    layout: str = layout_option(),
    split_name: str = typer.Option("test", "--split", help="Split of --pairs to score."),
    demo: bool = typer.Option(False, "--demo", help="Score on the bundled demo's known-camera test pairs."),
    crop: Optional[int] = typer.Option(None, help="Score square crops of this side instead of whole images."),
    crops_per_image: int = typer.Option(1, help="With --crop: crops per image (seeded positions)."),
    ssim_variant: str = typer.Option("gaussian", "--ssim", help="gaussian (BasicSR) or matlab_rgb (GoPro papers)."),
    y_channel: bool = typer.Option(False, help="Score the Y (luma) channel only."),
    crop_border: int = typer.Option(0, help="Pixels ignored at every border."),
    tile: Optional[int] = typer.Option(None, help="Run the model in tiles of this size (large frames)."),
    save_outputs: bool = typer.Option(False, "--save-outputs", help="Also write every output to OUT/outputs/."),
    device: Optional[str] = device_option(),
    precision: Optional[str] = precision_option(),
) -> None:
    """PSNR/SSIM of a model on test pairs: per image and mean, as JSON and a Markdown table.

    Examples:

      blur2blur evaluate --demo --input-only --out eval-blurry
      blur2blur evaluate --run runs/mycam --pairs test-pairs/ --out eval/
    """
    from blur2blur.config import diff_configs
    from blur2blur.devices import pick_device, pick_precision
    from blur2blur.evaluate import EvalConfig, evaluate as run_evaluation, markdown_table, write_evaluation
    from blur2blur.inference import prepare_for_inference
    from blur2blur.models import CheckpointError, load_any

    from blur2blur.hub import sha256_file

    if (run is not None) + (model is not None) + input_only != 1:
        fail("give exactly one of --run RUN, --model FILE or --input-only")
    path = None if input_only else (run / COMPOSED if run is not None else weight_file(model))
    if path is not None and not path.exists():
        fail(f"{path}: no such model file" + (" (the fit did not finish)" if run is not None else ""))
    net = None
    try:
        run_device = pick_device(device)
        if path is not None:
            net = load_any(path)  # before the stored result is looked up: the default precision depends on it
        # The precision actually used (not "default"): a stored result of another precision is another result.
        chosen = pick_precision(precision, run_device, net)
    except (CheckpointError, ValueError) as e:
        fail(str(e))
    cfg = EvalConfig(crop=crop, crops_per_image=crops_per_image, ssim=ssim_variant, y_channel=y_channel,
                     crop_border=crop_border, tile=tile, precision=chosen)
    # What this evaluation is of: a rerun of the same command finds it done; anything else is refused.
    request = {"model_sha256": None if path is None else sha256_file(path),
               "pairs": "demo" if demo else str(pairs.resolve()) if pairs else None, "split": split_name,
               "config": dataclasses.asdict(cfg), "save_outputs": save_outputs}
    if (out / "metrics.json").exists():
        stored = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        # Stored before --precision existed: those evaluations all ran in fp32.
        stored.get("request", {}).get("config", {}).setdefault("precision", "fp32")
        if stored.get("request") == request:
            s = stored["summary"]
            typer.echo(f"{out / 'metrics.json'} holds this evaluation already: nothing to do (mean of "
                       f"{s['samples']}: PSNR {s['psnr_input']:.2f} -> {s['psnr']:.2f} dB)")
            return
        differ = diff_configs(stored.get("request", {}), request)  # dotted: "config.precision", not "config"
        fail(f"{out / 'metrics.json'} holds an evaluation of something else ({', '.join(differ)} differ); "
             "refusing to overwrite it (choose another --out)")
    test, _ = known_pairs(pairs, layout, split_name, "test" if demo else None)
    if net is not None:
        net = prepare_for_inference(net, run_device)
    try:
        result = run_evaluation(net, test, cfg, save_dir=out / "outputs" if save_outputs else None)
    except (ValueError, FileExistsError) as e:
        fail(str(e))
    result["request"] = request
    write_evaluation(result, out)
    typer.echo(markdown_table(result).splitlines()[-3])
    s = result["summary"]
    typer.echo(f"mean of {s['samples']}: PSNR {s['psnr_input']:.2f} -> {s['psnr']:.2f} dB, "
               f"SSIM {s['ssim_input']:.4f} -> {s['ssim']:.4f}; wrote {out / 'metrics.json'}")


def _run(cfg, out: Path) -> None:
    from blur2blur.experiment import markdown, run_experiment
    from blur2blur.hub import OfflineError

    try:
        results = run_experiment(cfg, out)
    except (ValueError, FileExistsError, OfflineError) as e:
        fail(str(e))
    typer.echo(markdown(results))
    typer.echo(f"report: {out / 'report' / 'index.html'}")


@app.command(cls=Command)
def experiment(
    config: str = typer.Argument(..., help="An experiment YAML file, or the name of a bundled one: "
                                 "paper_gopro_to_reds, paper_gopro_to_rsblur, paper_gopro_to_rb2v_street."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder; rerunning the same command resumes it."),
    set_: List[str] = typer.Option([], "--set", help="Override a setting, e.g. --set ratio=0.5."),
    show_config: bool = show_config_option(),
) -> None:
    """A Table-2-style comparison (direct, baselines, Blur2Blur, upper bound) and the B:S ratio ablation.

    Examples:

      blur2blur experiment paper_gopro_to_reds --show-config --out runs/reds
      blur2blur experiment paper_gopro_to_reds --out runs/reds --set known_pairs=/data/GOPRO_Large
    """
    from blur2blur.cli.common import resolve_config
    from blur2blur.experiment import ExperimentConfig

    path = Path(config)
    if not path.is_file():
        bundled = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
        if config not in bundled:
            fail(f"{config}: no such config file, nor a bundled config ({', '.join(bundled)})")
        path = CONFIGS / f"{config}.yaml"
    cfg = resolve_config({"default": ExperimentConfig}, "default", path, set_, None, show_config)
    _run(cfg, out)


@app.command(cls=Command)
def demo(
    out: Path = typer.Option(Path("blur2blur-demo"), "--out", "-o", help="Run folder (resumed when rerun)."),
    quick: bool = typer.Option(False, "--quick", help="A minute-long version with tiny settings (for tests)."),
    config: Optional[Path] = typer.Option(None, help="YAML file overriding the demo's settings (see --show-config)."),
    set_: List[str] = typer.Option([], "--set", help="Override a setting of the demo's experiment config."),
    show_config: bool = show_config_option(),
) -> None:
    """Blur2Blur on the bundled photos: a known camera, simulated unknown cameras, a results table and a report.

    Examples:

      blur2blur demo --quick --out demo-quick
      blur2blur demo --out demo
    """
    from blur2blur.cli.common import resolve_config
    from blur2blur.experiment import demo_config

    cfg = resolve_config({"demo": lambda: demo_config(quick)}, "demo", config, set_, None, show_config)
    _run(cfg, out)
