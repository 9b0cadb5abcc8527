"""`blur2blur sort`: raw footage of one camera into its blurry set B and sharp set S."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from blur2blur.cli.common import Command, app, fail


@app.command("sort", cls=Command)
def sort_cmd(
    footage: List[str] = typer.Argument(..., help="Videos, folders of frames, images or glob patterns (quote globs) "
                                        "of one camera."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: blurry/ (B), sharp/ (S) and report/ "
                             "(sort.json, index.html). Rerunning the same command resumes it."),
    threshold: Optional[float] = typer.Option(None, help="Blur degree (0-1) above which a frame is blurry "
                                              "(default: Otsu's threshold on the scores, shown in the report)."),
    stride: int = typer.Option(1, help="For videos: use every N-th frame."),
    limit: Optional[int] = typer.Option(None, help="For videos: use at most this many frames per video."),
    stretch: int = typer.Option(60, help="Longest stretch of time, in used frames; a stretch goes wholly to B or "
                                "S, by the majority of its frames."),
    cut: float = typer.Option(0.3, help="Colour-histogram change (0-1) between consecutive frames that starts a "
                              "new scene."),
    gap: int = typer.Option(5, help="Frames dropped on each side where a B stretch meets an S stretch within a "
                            "scene."),
    margin: float = typer.Option(0.02, help="Frames whose blur degree is within this of the threshold are "
                                 "dropped."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Score every frame's blur degree, split blurry from sharp by stretches of time, and write B, S and a report.

    Examples:

      blur2blur sort clip.mp4 --out mycam-sorted
      blur2blur sort frames/ --out mycam-sorted --threshold 0.3    # override the chosen threshold
    """
    settings = dict(stride=stride, limit=limit, stretch=stretch, cut=cut, gap=gap, margin=margin, threshold=threshold)
    counts = sort_or_fail(footage, out, settings, progress=progress)["counts"]
    if counts["blurry"] and counts["sharp"]:
        typer.echo(f"next: blur2blur fit --blurry {out / 'blurry'} --sharp {out / 'sharp'} --known-pairs P "
                   "--out RUN")


def sort_or_fail(footage: list[str], out: Path, settings: dict, *, progress: bool = True, label: str = "") -> dict:
    """Run :func:`blur2blur.data.footage.sort_footage` with ``SortSettings(**settings)``, print its summary
    (after `label`), its report's path and its warnings; the report. Bad input or settings end the command
    with the error, naming the file."""
    from blur2blur.data.footage import SortSettings, sort_footage
    from blur2blur.data.images import ImageReadError
    from blur2blur.data.video import VideoReadError

    try:
        report = sort_footage(footage, out, SortSettings(**settings), progress=progress)
    except (FileExistsError, FileNotFoundError, ImageReadError, VideoReadError, ValueError) as e:
        fail(str(e))
    counts = report["counts"]
    if report["done_before"]:
        typer.echo(f"{out} already holds this sort (same inputs and settings); nothing to do")
    how = "given" if report["threshold_method"] == "given" else \
        f"Otsu, separation {report['separation']:.2f}"
    typer.echo(f"{label}{counts['frames']} frames, {counts['scored']} scored; threshold {report['threshold']:.3f} "
               f"({how}); B: {counts['blurry']} frames -> {out / 'blurry'}, S: {counts['sharp']} frames -> "
               f"{out / 'sharp'}, dropped {counts['frames'] - counts['blurry'] - counts['sharp']}")
    typer.echo(f"report: {out / 'report' / 'index.html'}")
    for warning in report["warnings"]:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    return report
