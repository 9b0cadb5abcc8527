"""`blur2blur fit`: a deblurring model for one camera, from its unpaired blurry and sharp images."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (PAIRS_HELP, WEIGHTS_NAME_HELP, Command, app, check_devices, config_option,
                                  device_option, fail, layout_option, machine_preset, preset_option, resolve_config,
                                  show_config_option, training_pairs, weight_file)


@app.command(cls=Command)
def fit(
    blurry: List[str] = typer.Option([], help="The camera's blurry images B: files, folders, globs or videos."),
    sharp: List[str] = typer.Option([], help="The camera's sharp images S, other scenes (same kinds)."),
    footage: List[str] = typer.Option([], help="Instead of --blurry and --sharp: raw footage of the camera "
                                      "(videos, folders of frames), sorted into B and S as `blur2blur sort` "
                                      "does, into OUT/footage/ (its report there shows the split)."),
    footage_threshold: Optional[float] = typer.Option(None, help="With --footage: the blur degree (0-1) above "
                                                      "which a frame is blurry (default: chosen from the scores)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder; rerunning the same command resumes it."),
    known_pairs_dir: Optional[Path] = typer.Option(None, "--known-pairs", help=PAIRS_HELP),
    layout: str = layout_option("--known-pairs"),
    split: str = typer.Option("train", help="Split of --known-pairs to use, where it has splits."),
    demo_pairs: bool = typer.Option(False, "--demo-pairs", help="Use the bundled demo known-blur pairs."),
    extractor: Optional[Path] = typer.Option(None, help="A trained blur-kernel extractor, ours or official "
                                             f"GOPRO_woVAE.pth, {WEIGHTS_NAME_HELP} (skips stage 1)."),
    known_set: List[str] = typer.Option([], "--known-set", help="A known-blur set K made elsewhere: the camera's "
                                        "sharp images with the known blur (files, folders or globs; skips "
                                        "stages 1-2)."),
    deblurrer: Optional[Path] = typer.Option(None, help="A deblurrer for the known blur, ours or official "
                                             f"NAFNet/Restormer/MIMO-UNet weights, {WEIGHTS_NAME_HELP} (skips "
                                             "stage 3)."),
    preset: Optional[str] = preset_option("paper", "paper (the paper's recipes, GPU-sized) or tiny (CPU-sized)"),
    config: Optional[Path] = config_option(),
    set_: List[str] = typer.Option([], "--set", help="Override a setting, e.g. --set translator.loop.steps=1000."),
    frame_stride: int = typer.Option(1, help="For videos in --blurry/--sharp: use every N-th frame."),
    frame_limit: Optional[int] = typer.Option(None, help="For videos: use at most this many frames per video."),
    device: Optional[str] = device_option(),
    show_config: bool = show_config_option(),
) -> None:
    """Run every missing stage: extractor, known-blur set K, deblurrer, translator, composed model.

    Examples:

      blur2blur fit --blurry camera/blurry --sharp camera/sharp --demo-pairs --preset tiny --out runs/mycam
      blur2blur fit --blurry B/ --sharp S.mp4 --known-pairs GOPRO_Large --deblurrer nafnet_gopro_width32 --out runs/cam
      blur2blur fit --footage walk.mp4 ride.mp4 --demo-pairs --preset tiny --out runs/bodycam
    """
    import dataclasses

    from blur2blur.runs import check_settings
    from blur2blur.data.images import IMAGE_EXTENSIONS, expand_inputs
    from blur2blur.data.video import VIDEO_EXTENSIONS, VideoReadError, extract_frames, is_video
    from blur2blur.fit import PRESETS, FitInputs, run_fit
    from blur2blur.hub import OfflineError

    cfg = resolve_config(PRESETS, machine_preset(preset, "paper", device), config, set_, None, show_config)
    if device:
        cfg = dataclasses.replace(cfg, **{part: dataclasses.replace(
            getattr(cfg, part), loop=dataclasses.replace(getattr(cfg, part).loop, device=device))
            for part in ("extractor", "deblurrer", "translator")})
    check_devices(cfg, device)
    extractor, deblurrer = weight_file(extractor), weight_file(deblurrer)  # before any frame is decoded

    try:  # before anything is written: a refused folder fails fast (run_fit checks it again)
        check_settings(out, cfg, advice="use another --out")
    except ValueError as e:
        fail(str(e))
    if footage:
        if blurry or sharp:
            fail("give --footage, or --blurry and --sharp, not both")
        blurry, sharp = sorted_footage(footage, out / FOOTAGE_DIR, frame_stride, frame_limit, footage_threshold)
    elif not (blurry and sharp):
        fail("give the camera's images: --blurry and --sharp, or raw footage with --footage")

    def gather(items: list[str], name: str) -> list[Path]:
        # Videos are decoded once into OUT/frames/<name>/ (frames already there are kept).
        files = expand_inputs(items, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
        found: list[Path] = []
        for f in files:
            found += extract_frames(f, out / "frames" / name, stride=frame_stride, limit=frame_limit) \
                if is_video(f) else [f]
        return found

    try:
        b, s = gather(blurry, "B"), gather(sharp, "S")
        k = expand_inputs(known_set, IMAGE_EXTENSIONS) if known_set else None
    except (FileNotFoundError, VideoReadError) as e:
        fail(str(e))
    if k is not None and extractor is not None:
        fail("give --known-set or --extractor, not both: with K given, no extractor is used")
    resolved_b = {p.resolve() for p in b}
    if resolved_b & {p.resolve() for p in s}:
        fail("the same files are given as --blurry and --sharp; B and S must be different images")
    if k and resolved_b & {p.resolve() for p in k}:
        fail("the same files are given as --blurry and --known-set; B and K must be different images")
    needs_pairs = deblurrer is None or (k is None and (extractor is None or not (out / "K").exists()))
    pairs, held = [], []
    if needs_pairs or known_pairs_dir is not None or demo_pairs:
        pairs, held, _ = training_pairs(known_pairs_dir, layout, split, None, demo_pairs, what="--known-pairs")
    try:
        final = run_fit(FitInputs(b, s, pairs, held, extractor, deblurrer, known_set=k), cfg, out)
    except (OfflineError, ValueError, FileExistsError, FileNotFoundError) as e:
        fail(str(e))
    typer.echo(f"done: {final}\ndeblur with:  blur2blur deblur --run {out} IMAGES... --out DIR")


FOOTAGE_DIR = "footage"  # in the run folder: the sort of --footage (blurry/, sharp/, report/)


def sorted_footage(footage: list[str], out: Path, stride: int, limit: int | None,
                   threshold: float | None) -> tuple[list[str], list[str]]:
    """Sort `footage` into ``out/blurry`` and ``out/sharp`` (a rerun reuses the sort); their folders, as
    --blurry and --sharp. Fails, naming the sort's report, when either side is empty."""
    from blur2blur.cli.footage import sort_or_fail
    from blur2blur.data.footage import BLURRY, SHARP

    counts = sort_or_fail(footage, out, dict(stride=stride, limit=limit, threshold=threshold),
                          label="footage: ")["counts"]
    if not (counts[BLURRY] and counts[SHARP]):
        fail(f"the footage gave {counts[BLURRY]} blurry and {counts[SHARP]} sharp frames; both are needed. See "
             f"{out / 'report' / 'index.html'}, and set --footage-threshold, or give --blurry and --sharp")
    return [str(out / BLURRY)], [str(out / SHARP)]
