"""`blur2blur simulate` and `blur2blur simulate-video`: blur pairs from a simulated camera or a real video."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import Command, app, fail


# Spelled out rather than read from camera_sim.PRESETS, so that `blur2blur --help` does not import torch.
_CAMERA_HELP = ("Camera preset: gopro_like (the known camera: averaged frames, straight motion, lossless), "
                "phone_like (hand shake with rotation, noise, JPEG), webcam_like (long exposure, strong noise, "
                "heavy JPEG).")


@app.command("simulate", cls=Command)
def simulate_cmd(
    photos: List[str] = typer.Argument(None, help="Sharp photos: files, folders or glob patterns (quote globs)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder: blur/, sharp/ and manifest.json."),
    camera: str = typer.Option("phone_like", "--camera", "-c", help=_CAMERA_HELP),
    seed: int = typer.Option(0, help="Seed; image i of the sorted inputs uses (seed, i)."),
    set_: List[str] = typer.Option([], "--set", help="Override a camera setting, e.g. --set exposure=0.5 "
                                   "--set jpeg_quality=null (see --show-config)."),
    sharp: str = typer.Option("original", help="What goes to sharp/: original (the photo, clean ground truth), "
                              "camera (the camera's own sharp shot: its noise, tone and JPEG, no blur) or clean "
                              "(that shot without noise and JPEG: the camera's tone alone, a paired dataset's "
                              "ground truth)."),
    overwrite: bool = typer.Option(False, help="Write into a folder that already holds blur/ or sharp/ "
                                   "(inputs are never written over)."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the camera's settings and exit."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Blur sharp photos the way a simulated camera would, into a folder of (blurry, sharp) pairs.

    Examples:

      blur2blur simulate photos/ --camera phone_like --out phone-pairs
      blur2blur simulate --camera webcam_like --show-config
    """
    from blur2blur.data.camera_sim import get_camera, write_camera_pairs

    try:
        cam = get_camera(camera, set_)
    except ValueError as e:
        fail(str(e))
    if show_config:
        import yaml

        typer.echo(yaml.safe_dump(cam.to_dict(), sort_keys=False))
        raise typer.Exit(0)
    if not photos:
        fail("no PHOTOS given (files, folders or globs)")
    if out is None:
        fail("give the output folder with --out DIR")
    try:
        write_camera_pairs(photos, out, cam, seed=seed, sharp=sharp, overwrite=overwrite, show_progress=progress)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    import json

    images = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["images"]
    extents = [r["extent_px"] for r in images]
    typer.echo(f"wrote {len(images)} pair(s) to {out} (camera {cam.name}, seed {seed}); blur extent "
               f"{min(extents):.1f}-{max(extents):.1f} px, mean {sum(extents) / len(extents):.1f} px")


@app.command("simulate-video", cls=Command)
def simulate_video_cmd(
    video: Path = typer.Argument(..., help="A sharp, high frame rate video."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: blur/, sharp/ and manifest.json."),
    window: int = typer.Option(7, help="Frames averaged into one blurry image (odd); the middle one is sharp."),
    stride: Optional[int] = typer.Option(None, help="Frames between the starts of two windows (default: window)."),
    gamma: float = typer.Option(2.2, help="Average in linear light with this gamma (1: average stored values)."),
    limit: Optional[int] = typer.Option(None, help="Write at most this many pairs."),
    overwrite: bool = typer.Option(False, help="Write into a folder that already holds blur/ or sharp/."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Blur pairs from a video, GoPro style: the linear-light mean of WINDOW frames and its middle frame.

    Examples:

      blur2blur simulate-video clip-240fps.mp4 --window 7 --out video-pairs
    """
    from blur2blur.data.camera_sim import video_to_pairs
    from blur2blur.data.video import VideoReadError

    try:
        video_to_pairs(video, out, window=window, stride=stride, gamma=gamma, limit=limit, overwrite=overwrite,
                       show_progress=progress)
    except (FileExistsError, FileNotFoundError, VideoReadError, ValueError) as e:
        fail(str(e))
    import json

    pairs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["pairs"]
    typer.echo(f"wrote {len(pairs)} pair(s) to {out} ({window}-frame windows of {video.name})")
