"""Scoring a deblurring model on test pairs: PSNR/SSIM per image and their means, the way papers report.

The test samples are whole images or ``crops_per_image`` crops of each pair at positions drawn
from ``(seed, pair index, crop index)``, so every model of a comparison sees exactly the same
pixels, and a rerun the same ones again. Each sample's metrics are stored with those of the
blurry input, which gives paired per-image differences (what a model changes on each image,
not only on average) and the share of images it improved.

Results are plain data (``{"summary": ..., "images": [...]}``) written as ``metrics.json`` and a
Markdown table by :func:`write_evaluation`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from pathlib import Path

import torch
from torch import nn

from blur2blur import metrics
from blur2blur.data.pairs import BlurPair, load_pair
from blur2blur.fileio import atomic_write_text
from blur2blur.ops import centre_crop
from blur2blur.seeding import generator

FORMAT = "blur2blur-evaluation/1"
TIE_DB = 0.01   # a PSNR gain at most this large is a tie, not an improvement (identity up to rounding)


@dataclass
class EvalConfig:
    crop: int | None = None        # side of square test crops; None: whole images
    crops_per_image: int = 1
    seed: int = 0
    ssim: str = "gaussian"         # see blur2blur.metrics: "gaussian" (BasicSR) or "matlab_rgb" (GoPro papers)
    y_channel: bool = False
    crop_border: int = 0
    tile: int | None = None        # run the model in tiles of this size (large frames)
    # The forward passes' arithmetic (blur2blur.devices.PRECISIONS); a stored result records it, so an
    # evaluation in another precision is never taken for this one.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    max_pairs: int | None = None   # evaluate only the first N pairs


@dataclass
class Sample:
    name: str
    blurry: torch.Tensor   # (3, H, W) in [0, 1]
    sharp: torch.Tensor


def evaluation_samples(pairs: Sequence[BlurPair], cfg: EvalConfig) -> Iterator[Sample]:
    """The evaluation samples of `pairs`, in order; crops where ``cfg.crop`` is set."""
    for i, pair in enumerate(pairs[:cfg.max_pairs] if cfg.max_pairs else pairs):
        blurry, sharp = load_pair(pair)
        stem = Path(pair.blurry).stem
        if pair.scene and pair.scene != stem:  # sequences repeat frame names across scenes
            stem = f"{pair.scene}__{stem}"
        if not cfg.crop:
            yield Sample(stem, blurry, sharp)
            continue
        h, w = blurry.shape[-2:]
        side = min(cfg.crop, h, w)
        g = generator(cfg.seed, i)
        for j in range(cfg.crops_per_image):
            y0 = int(torch.randint(h - side + 1, (1,), generator=g))
            x0 = int(torch.randint(w - side + 1, (1,), generator=g))
            cut = (..., slice(y0, y0 + side), slice(x0, x0 + side))
            yield Sample(f"{stem}_{j}" if cfg.crops_per_image > 1 else stem, blurry[cut], sharp[cut])


def _scores(out: torch.Tensor, sharp: torch.Tensor, cfg: EvalConfig) -> dict[str, float]:
    return {"psnr": metrics.psnr(out, sharp, crop_border=cfg.crop_border, y_channel=cfg.y_channel),
            "ssim": metrics.ssim(out, sharp, variant=cfg.ssim, crop_border=cfg.crop_border, y_channel=cfg.y_channel)}


@torch.no_grad()
def evaluate(model: nn.Module | None, pairs: Sequence[BlurPair], cfg: EvalConfig | None = None, *,
             save_dir: str | os.PathLike | None = None, progress: bool = True, desc: str = "evaluate") -> dict:
    """Score `model` (None: the blurry input itself) on `pairs`.

    Returns ``{"format", "config", "summary", "images"}``; ``images`` lists per sample its name,
    ``psnr``/``ssim`` and the input's ``psnr_input``/``ssim_input``. With `save_dir`, every output
    is written there as ``<name>.png`` (a folder that already holds one of them is refused).
    """
    from dataclasses import asdict

    from tqdm import tqdm

    from blur2blur.data.images import write_image
    from blur2blur.inference import restore

    cfg = cfg or EvalConfig()
    if not pairs:
        raise ValueError("no test pairs to evaluate on")
    device = next(model.parameters()).device if model is not None else torch.device("cpu")
    if model is not None:
        model.eval()
    rows = []
    total = len(pairs[:cfg.max_pairs] if cfg.max_pairs else pairs) * (cfg.crops_per_image if cfg.crop else 1)
    for sample in tqdm(evaluation_samples(pairs, cfg), total=total, desc=desc, disable=not progress, leave=False):
        out = sample.blurry if model is None else \
            restore(model, sample.blurry[None].to(device), tile=cfg.tile, precision=cfg.precision)[0].cpu()
        row = {"name": sample.name, **_scores(out, sample.sharp, cfg)}
        row.update({f"{k}_input": v for k, v in _scores(sample.blurry, sample.sharp, cfg).items()})
        rows.append(row)
        if save_dir is not None:
            write_image(out, Path(save_dir) / f"{sample.name}.png")
    return {"format": FORMAT, "config": asdict(cfg), "summary": summarise(rows), "images": rows}


@torch.no_grad()
def paired_crop_psnrs(model: nn.Module, pairs: Sequence[BlurPair],
                      produce: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                      *, size: int | None = 256, sharp_mode: str = "middle") -> tuple[list[float], list[float]]:
    """A trainer's held-out check: (PSNRs of the model's outputs, PSNRs of the baseline), one per pair.

    Each pair is read (centre crops of `size`; None: whole images) and ``produce(blurry, sharp)``,
    both ``(3, H, W)`` in [0, 1], returns ``(output, reference, baseline)``: PSNR(output, reference)
    and PSNR(baseline, reference) are recorded. `model` runs in eval mode and is put back after.
    """
    if not pairs:
        raise ValueError("no pairs to evaluate on")
    was_training = model.training
    model.eval()
    ours, base = [], []
    for pair in pairs:
        blurry, sharp = load_pair(pair, sharp_mode)
        if size:
            blurry, sharp = centre_crop(blurry, size), centre_crop(sharp, size)
        out, reference, baseline = produce(blurry, sharp)
        ours.append(metrics.psnr(out, reference))
        base.append(metrics.psnr(baseline, reference))
    model.train(was_training)
    return ours, base


def gain_summary(ours: Sequence[float], base: Sequence[float]) -> dict[str, float]:
    """Mean gain in dB of `ours` over `base` (paired PSNRs), the share of pairs improved and their count."""
    n = len(ours)
    return {"gain_db": (sum(ours) - sum(base)) / n, "improved": sum(a > b for a, b in zip(ours, base)) / n,
            "pairs": float(n)}


def evaluate_stored(path: str | os.PathLike, load_model: Callable[[], nn.Module | None], pairs: Sequence[BlurPair],
                    cfg: EvalConfig | None = None, *, desc: str = "evaluate") -> dict:
    """The evaluation stored at `path` (JSON), or a new one of ``load_model()`` (loaded only then) on
    `pairs`, written there atomically: a rerun of an experiment scores nothing twice."""
    path = Path(path)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    result = evaluate(load_model(), pairs, cfg, desc=desc)
    atomic_write_text(path, json.dumps(result, indent=1))
    return result


def summarise(rows: Sequence[dict]) -> dict[str, float]:
    """Means of the metrics, the mean paired gain over the input and the share of samples improved."""
    n = len(rows)
    finite = [r["psnr"] for r in rows if math.isfinite(r["psnr"])]
    gains = [r["psnr"] - r["psnr_input"] for r in rows if math.isfinite(r["psnr"] - r["psnr_input"])]
    return {"samples": n,
            "psnr": sum(finite) / len(finite) if finite else float("inf"),
            "ssim": sum(r["ssim"] for r in rows) / n,
            "psnr_input": sum(r["psnr_input"] for r in rows) / n,
            "ssim_input": sum(r["ssim_input"] for r in rows) / n,
            "gain_over_input": sum(gains) / len(gains) if gains else 0.0,
            "improved_over_input": sum(r["psnr"] - r["psnr_input"] > TIE_DB for r in rows) / n}


def paired_difference(result: dict, baseline: dict) -> dict[str, float]:
    """PSNR/SSIM of `result` minus `baseline`, image by image (same samples): mean and share improved.

    A sample counts as improved when it gains more than ``TIE_DB`` (0.01 dB): a model that is the
    identity up to rounding must not score as improving every other image.
    """
    a = {r["name"]: r for r in result["images"]}
    b = {r["name"]: r for r in baseline["images"]}
    if a.keys() != b.keys():
        raise ValueError("the two evaluations were made on different samples")
    d_psnr = [a[k]["psnr"] - b[k]["psnr"] for k in a]
    d_ssim = [a[k]["ssim"] - b[k]["ssim"] for k in a]
    n = len(d_psnr)
    return {"psnr": sum(d_psnr) / n, "ssim": sum(d_ssim) / n, "improved": sum(d > TIE_DB for d in d_psnr) / n,
            "psnr_std": (sum((d - sum(d_psnr) / n) ** 2 for d in d_psnr) / max(n - 1, 1)) ** 0.5}


def markdown_table(result: dict) -> str:
    """Per-sample table, then the means."""
    lines = ["| image | PSNR in | PSNR out | SSIM in | SSIM out |", "|---|---|---|---|---|"]
    for r in result["images"]:
        lines.append(f"| {r['name']} | {r['psnr_input']:.2f} | {r['psnr']:.2f} | {r['ssim_input']:.4f} | "
                     f"{r['ssim']:.4f} |")
    s = result["summary"]
    lines.append(f"| **mean ({s['samples']})** | {s['psnr_input']:.2f} | {s['psnr']:.2f} | {s['ssim_input']:.4f} | "
                 f"{s['ssim']:.4f} |")
    lines.append("")
    lines.append(f"Mean paired gain over the input: {s['gain_over_input']:+.2f} dB; improved "
                 f"{100 * s['improved_over_input']:.0f}% of the samples.")
    return "\n".join(lines) + "\n"


def write_evaluation(result: dict, out_dir: str | os.PathLike) -> Path:
    """``out_dir/metrics.json`` and ``out_dir/metrics.md``; refuses to replace either."""
    out = Path(out_dir)
    for name in ("metrics.json", "metrics.md"):
        if (out / name).exists():
            raise FileExistsError(f"{out / name} exists; refusing to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    # The table first: metrics.json is what marks the evaluation as done (a rerun looks for it).
    atomic_write_text(out / "metrics.md", markdown_table(result))
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=1))
    return out / "metrics.json"


__all__ = ["EvalConfig", "Sample", "evaluate", "evaluate_stored", "evaluation_samples", "gain_summary",
           "markdown_table", "paired_crop_psnrs", "paired_difference", "summarise", "write_evaluation"]
