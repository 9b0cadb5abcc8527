"""The report page of a footage sort (``blur2blur sort``): the score histogram and contact sheets of B and S.

A person opens ``OUT/report/index.html`` to check the sort before training on it: the histogram
of every frame's blur degree with the threshold marked (bars split by what became of the frames:
B, S or dropped), a contact sheet of each side (frames spread evenly over time, each captioned
with its name and score), the counts, every stretch and the settings. The page is
:func:`blur2blur.report.html.write_report`'s; the histogram is drawn here with Pillow (the
project's report charts are line charts, and a plotting dependency is not worth one bar chart).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from blur2blur.data.images import read_image
from blur2blur.report.crops import shrunk
from blur2blur.report.html import ReportCrop, ReportTable, write_report

_SHEET_FRAMES = 12       # frames per contact sheet
_THUMB = 240             # their longest side, in pixels
_COLOURS = {"blurry": (230, 120, 30), "sharp": (40, 110, 200), None: (170, 170, 170)}


def score_histogram(scores: list[float], sides: list[str | None], threshold: float, margin: float, *,
                    bins: int = 40, width: int = 720, height: int = 300) -> torch.Tensor:
    """A (3, height, width) image in [0, 1]: stacked bars of the scores by side (orange B, blue S, grey
    dropped), the threshold as a red line and the margin around it as thin red lines."""
    from PIL import Image, ImageDraw

    left, right, top, bottom = 50, 16, 28, 36
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    values = np.asarray(scores, dtype=np.float64)
    lo, hi = min(values.min(), threshold), max(values.max(), threshold)
    lo, hi = (lo - 0.01, hi + 0.01) if hi - lo < 0.02 else (lo, hi)
    edges = np.linspace(lo, hi, bins + 1)
    counts = {side: np.histogram(values[np.array([s == side for s in sides], dtype=bool)], edges)[0]
              for side in _COLOURS}
    tallest = max(1, int(sum(counts.values()).max()))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_of(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    for b in range(bins):
        base = 0
        for side in ("sharp", "blurry", None):
            n = int(counts[side][b])
            if n:
                y0 = top + plot_h - (base + n) / tallest * plot_h
                y1 = top + plot_h - base / tallest * plot_h
                draw.rectangle([x_of(edges[b]) + 1, y0, x_of(edges[b + 1]) - 1, y1], fill=_COLOURS[side])
                base += n
    draw.line([left, top + plot_h, left + plot_w, top + plot_h], fill="black")
    draw.line([left, top, left, top + plot_h], fill="black")
    for v in (threshold - margin, threshold + margin):
        if margin > 0 and lo <= v <= hi:
            draw.line([x_of(v), top, x_of(v), top + plot_h], fill=(220, 60, 60), width=1)
    draw.line([x_of(threshold), top - 6, x_of(threshold), top + plot_h], fill=(200, 0, 0), width=3)
    draw.text((x_of(threshold) + 4, top - 20), f"threshold {threshold:.3f}", fill=(200, 0, 0))
    draw.text((left, top + plot_h + 6), f"{lo:.3f}", fill="black")
    draw.text((left + plot_w - 30, top + plot_h + 6), f"{hi:.3f}", fill="black")
    draw.text((left + plot_w / 2 - 120, top + plot_h + 20), "blur degree (0 sharp, 1 blurry)", fill="black")
    draw.text((4, top), str(tallest), fill="black")
    draw.text((4, top + plot_h - 10), "0", fill="black")
    draw.text((width - 260, 6), "orange: B   blue: S   grey: dropped", fill="black")
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255


def _thumbnail(path: Path) -> torch.Tensor:
    return shrunk(read_image(path)[0], _THUMB)


def contact_sheet(frames: list[dict], side: str, out: Path) -> ReportCrop | None:
    """Up to 12 frames of `side`, evenly spread over the sort's order, as one captioned strip."""
    chosen = [f for f in frames if f["side"] == side]
    if not chosen:
        return None
    picks = sorted({round(i) for i in np.linspace(0, len(chosen) - 1, min(_SHEET_FRAMES, len(chosen)))})
    label = "B (blurry)" if side == "blurry" else "S (sharp)"
    images = {Path(chosen[i]["name"]).stem: _thumbnail(out / side / chosen[i]["name"]) for i in picks}
    scores = {Path(chosen[i]["name"]).stem: f"blur degree {chosen[i]['score']:.3f}, stretch {chosen[i]['stretch']}"
              for i in picks}
    return ReportCrop(f"{label}: {len(picks)} of its {len(chosen)} frames", images, scores)


def write_sort_page(report_dir: str | os.PathLike, report: dict, out: str | os.PathLike) -> Path:
    """Write ``report_dir/index.html`` (and its images) for a sort `report` whose frames are under `out`."""
    out = Path(out)
    frames, counts, settings = report["frames"], report["counts"], report["settings"]
    scored = [f for f in frames if f["score"] is not None]
    t = report["threshold"]
    notes = [f"Threshold {t:.4f} on the blur degree: "
             + ("chosen by Otsu's method on the scores of all scored frames (separation "
                f"{report['separation']:.2f}: the share of the score variance between the two groups)."
                if report["threshold_method"] == "otsu" else "given (--threshold).")]
    notes += [f"WARNING: {w}." for w in report["warnings"]]
    dropped = "; ".join(f"{n} {why}" for why, n in sorted(counts["dropped"].items())) or "none"
    notes.append(f"Dropped frames: {dropped}.")
    summary = ReportTable("Counts", ["frames", "scored", "B (blurry)", "S (sharp)", "dropped", "stretches"],
                          [[counts["frames"], counts["scored"], counts["blurry"], counts["sharp"],
                            counts["frames"] - counts["blurry"] - counts["sharp"], len(report["stretches"])]])
    rows = []
    for s in report["stretches"]:
        members = frames[s["first"]:s["last"] + 1]
        rows.append([s["id"], s["source"], s["scene"], f"{members[0]['index']}-{members[-1]['index']}",
                     s["median_score"], s["blurry_votes"], s["sharp_votes"], s["side"] or "none",
                     sum(f["side"] is not None for f in members)])
    stretches = ReportTable("Stretches", ["stretch", "source", "scene", "frames", "median score", "blurry votes",
                                          "sharp votes", "side", "kept"], rows, decimals={"median score": 3},
                            note="A stretch goes wholly to one side by the majority of its frames' votes.")
    crops = []
    if scored:
        crops.append(ReportCrop("Blur degree of every scored frame", {"histogram": score_histogram(
            [f["score"] for f in scored], [f["side"] for f in scored], t, settings["margin"])}))
    crops += [c for c in (contact_sheet(frames, side, out) for side in ("blurry", "sharp")) if c is not None]
    return write_report(report_dir, title="Footage sorted into B and S", tables=[summary, stretches], crops=crops,
                        settings={"settings": settings, "sources": report["sources"]}, notes=notes,
                        overwrite=True, zoom=0)


__all__ = ["contact_sheet", "score_histogram", "write_sort_page"]
