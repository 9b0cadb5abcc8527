"""How well the filter translator reads its input's blur: direction and length, against the simulated path.

The steered filter translator turns its filters to the blur's direction and stretches them by its length,
both read from the image it is given (:mod:`blur2blur.models.filter_translator`). This measures the
readers on shots whose path is known: the folders of a ladder run (``translator_ladder.py``) that a
camera shot, each with its manifest of poses. Per folder, on the shots' central 256-px crops:

- direction: the error (degrees, modulo 180) of the path's first-to-last direction as read by
  ``local`` (:func:`blur_direction` of the direction features, averaged over the crop as doubled
  angles) and ``whole`` (:func:`whole_blur_direction`): the share off by more than 20 degrees, and the
  median;
- length: the Pearson correlation of :func:`blur_length`, read along each direction, with the path length.

A camera that turns (rotation in its manifest) has no one direction per shot and is refused.

  python benchmarks/blur_reading.py runs/ladder/cameras/ghost/data/test [MORE_FOLDERS] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import translator_ladder as ladder

from blur2blur.data.images import read_image
from blur2blur.fileio import atomic_write_text
from blur2blur.models.filter_translator import (blur_direction, blur_length, direction_features, mean_axis,
                                                  whole_blur_direction)
from blur2blur.ops import centre_crop

CROP = 256
MISREAD_DEGREES = 20


def angle_error(direction: torch.Tensor, angle: float) -> float:
    """Degrees between the unit vector (2,) and the line at `angle` radians, modulo 180."""
    found = math.atan2(direction[1].item(), direction[0].item())
    return math.degrees(abs((found - angle + math.pi / 2) % math.pi - math.pi / 2))


def mean_direction(field: torch.Tensor) -> torch.Tensor:
    """The mean axis of a (1, 2, H, W) field of unit vectors (lines, without a sign): (2,), a unit vector."""
    doubled = 2 * torch.atan2(field[:, 1], field[:, 0])
    return mean_axis(torch.ones_like(doubled), doubled, (1, 2))[0]


def correlation(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None
    r = torch.corrcoef(torch.tensor([a, b], dtype=torch.float64))[0, 1].item()
    return None if math.isnan(r) else r


def read_folder(folder: Path) -> dict:
    """The readers' errors on the shots of one camera folder (its ``manifest.json``, ``blur/``)."""
    manifest = folder / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"{folder}: no manifest.json (give folders a ladder run's camera shot)")
    shots = json.loads(manifest.read_text())["images"]
    turning = [s["stem"] for s in shots if s.get("rotation_deg", 0.0)]
    if turning:
        raise SystemExit(f"{folder}: {len(turning)} shots turn (e.g. {turning[0]}): no one direction to compare")
    paths, errors, lengths = [], {"local": [], "whole": []}, {"local": [], "whole": []}
    with torch.no_grad():
        for shot in shots:
            x = centre_crop(read_image(folder / "blur" / f"{shot['stem']}.png")[0], CROP)[None]
            angle = ladder.path_angle(shot["poses"])
            fields = {"local": blur_direction(direction_features(x)),
                      "whole": whole_blur_direction(x).expand(1, 2, *x.shape[-2:])}
            for name, field in fields.items():
                errors[name].append(angle_error(mean_direction(field), angle))
                lengths[name].append(blur_length(x, field).item())
            paths.append(shot["path_length_px"])
    result = {"folder": str(folder), "shots": len(shots)}
    for name in fields:
        e = sorted(errors[name])
        result[name] = {"misread": sum(v > MISREAD_DEGREES for v in e), "median_error_deg": e[len(e) // 2],
                        "length_r": correlation(lengths[name], paths),
                        "length_over_path": sum(a / b for a, b in zip(lengths[name], paths)) / len(paths)}
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="camera folders of a ladder run (manifest.json, blur/)")
    p.add_argument("--json", type=Path, help="also write the results here (JSON)")
    args = p.parse_args(argv)
    results = [read_folder(f) for f in args.folders]
    print(f"| folder | shots | misread > {MISREAD_DEGREES} deg, local / whole | median error | "
          "length r with the path | length / path |")
    print("|---|---|---|---|---|---|")
    for r in results:
        lo, wh = r["local"], r["whole"]
        num = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"| {r['folder']} | {r['shots']} | {lo['misread']} / {wh['misread']} | "
              f"{lo['median_error_deg']:.0f} / {wh['median_error_deg']:.0f} | {num(lo['length_r'])} / "
              f"{num(wh['length_r'])} | {lo['length_over_path']:.2f} / {wh['length_over_path']:.2f} |")
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
