"""Training curriculum by blur degree (paper Sec. 4.1.1): least blurred images first.

In the unpaired setting there is no sharp reference, so the blur degree of each image of B
is a *no-reference* measure: the blur effect of Crete-Roffet et al. (SPIE 2007), as
implemented by scikit-image (``skimage.measure.blur_effect``). It re-blurs the image with a
1-D box filter along each axis and measures how much of the image's gradient energy that
removes: a sharp image loses a lot (score near 0), an already blurred one little (near 1).
``tests/test_curriculum.py`` checks that it orders images by known blur strength.

The translator first trains on the least blurred ``start_fraction`` of B, then on all of B
from step ``widen_at`` on (paper: the easier half for 200K iterations).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from blur2blur.data.images import read_image
from blur2blur.fileio import atomic_write_text
from blur2blur.ops import centre_crop

_MAX_SIZE = 512  # score a centre crop: the measure is local, and whole 4K frames are slow


def blur_degree(img: torch.Tensor, h_size: int = 11) -> float:
    """Blur degree of one image (3, H, W) or (1, H, W) in [0, 1]: 0 = sharp, towards 1 = blurrier.

    Computed on the luminance of a centre crop of at most 512x512; the larger of the two
    axes' scores (a motion blur along one axis counts fully).
    """
    from skimage.measure import blur_effect

    if img.dim() != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected (3, H, W) or (1, H, W), got {tuple(img.shape)}")
    h, w = img.shape[-2:]
    if min(h, w) < 2 * h_size:
        raise ValueError(f"image {w}x{h} is too small to score (needs at least {2 * h_size} pixels a side)")
    crop = centre_crop(img, _MAX_SIZE).float().clamp(0, 1)
    weights = torch.tensor([0.2125, 0.7154, 0.0721]).view(3, 1, 1)  # the luminance skimage's rgb2gray uses
    gray = (crop * weights).sum(0) if crop.shape[0] == 3 else crop[0]
    return float(blur_effect(gray.numpy().astype(np.float64), h_size=h_size))


def score_images(paths: Sequence[str | os.PathLike], cache: str | os.PathLike | None = None,
                 progress: bool = True) -> dict[str, float]:
    """{path: blur degree} for image files; with `cache` (a JSON file), known scores are reused."""
    from tqdm.auto import tqdm

    cached: dict[str, float] = {}
    if cache is not None and Path(cache).exists():
        cached = json.loads(Path(cache).read_text(encoding="utf-8"))
    scores = {}
    for p in tqdm([str(p) for p in paths], desc="blur degree", unit="img", disable=not progress):
        scores[p] = cached[p] if p in cached else blur_degree(read_image(p)[0])
    if cache is not None:
        atomic_write_text(cache, json.dumps(scores, indent=0))
    return scores


@dataclass
class Curriculum:
    """Which images of B to train on at a given step."""

    scores: dict[str, float]
    start_fraction: float = 0.5
    widen_at: int = 200_000

    def __post_init__(self):
        if not 0 < self.start_fraction <= 1:
            raise ValueError(f"start_fraction must be in (0, 1], got {self.start_fraction}")
        self.ordered = sorted(self.scores, key=lambda p: (self.scores[p], p))

    def easy(self) -> list[str]:
        """The least blurred ``start_fraction`` of the images (at least one)."""
        return self.ordered[:max(1, round(len(self.ordered) * self.start_fraction))]

    def images_at(self, step: int) -> list[str]:
        return self.easy() if step < self.widen_at else list(self.ordered)


__all__ = ["Curriculum", "blur_degree", "score_images"]
