"""`blur2blur known-set make`: the known-blur set K, the camera's sharp images re-blurred by F (stage 2 of fit)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import (PAIRS_HELP, WEIGHTS_NAME_HELP, Command, app, command_group, device_option,
                                  examples, fail, known_pairs, layout_option, weight_file)
from blur2blur.cli.extractor import extractor_info, load_extractor

known_set_app = command_group(help="Build the known-blur set K with the extractor F (stage 2 of fit)."
                              + examples("blur2blur known-set make --extractor extractor.safetensors --demo --out K"))
app.add_typer(known_set_app, name="known-set")


@known_set_app.command("make", cls=Command)
def make_cmd(
    extractor: Path = typer.Option(..., help=f"Extractor weights: ours or official, {WEIGHTS_NAME_HELP}."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for K (PNG + manifest.jsonl); resumable."),
    sharp: List[str] = typer.Option([], help="The camera's sharp images: files, folders or globs."),
    pairs: Optional[Path] = typer.Option(None, help=PAIRS_HELP),
    layout: str = layout_option(),
    split: str = typer.Option("train", help="Split of --pairs whose kernels are used, where it has splits."),
    demo: bool = typer.Option(False, "--demo", help="Use the bundled demo's known pairs and camera photos."),
    variants: int = typer.Option(1, help="K images per sharp image, each with its own known pair."),
    crop: Optional[int] = typer.Option(None, help="Write random CROP x CROP crops instead of whole images."),
    seed: int = typer.Option(0, help="Seed of every random choice: known pair, crops, camera noise."),
    camera_noise: str = typer.Option("auto", help="Give K the camera's noise and JPEG look back, estimated "
                                     "from the sharp images: auto (when noticeable), match (always), off."),
    tile: Optional[int] = typer.Option(None, help="Re-blur in tiles of this many pixels (multiple of 128)."),
    device: Optional[str] = device_option(),
) -> None:
    """Build the known-blur set K: the camera's sharp images re-blurred with kernels of known pairs.

    Examples:

      blur2blur known-set make --extractor extractor.safetensors --demo --out K
      blur2blur known-set make --extractor kernel_wizard_gopro_wovae --pairs GOPRO_Large --sharp camera/sharp --out K
    """
    from blur2blur.data.images import expand_inputs
    from blur2blur.known_set import KnownSetConfig, make_known_set

    if camera_noise not in ("auto", "match", "off"):
        fail(f"--camera-noise must be auto, match or off; got {camera_noise!r}")
    if not sharp and not demo:
        fail("give the camera's sharp images with --sharp (or --demo)")
    found, _ = known_pairs(pairs, layout, split, "train" if demo else None)
    if sharp:
        try:
            sharp_paths = expand_inputs(sharp)
        except FileNotFoundError as e:
            fail(str(e))
    elif demo:
        from blur2blur.data.demo import demo_camera_sharp

        sharp_paths = demo_camera_sharp()
    extractor = weight_file(extractor)
    net = load_extractor(extractor, device)
    cfg = KnownSetConfig(variants=variants, crop=crop, seed=seed, camera_noise=camera_noise, tile=tile)
    try:
        result = make_known_set(net, found, sharp_paths, out, cfg, extractor_info=extractor_info(extractor))
    except (ValueError, FileExistsError) as e:
        fail(str(e))
    look = f"; camera look re-applied: {result.look.describe()}" if result.look else ""
    typer.echo(f"K: wrote {result.written} image(s) to {out}" + (f", {result.skipped} already there" if
                                                                 result.skipped else "") + look)
