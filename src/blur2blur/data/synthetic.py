"""Synthetic motion blur: straight-line kernels of random length, angle and direction.

This is the blur of the paper's "w/ Synthetic Data" baseline (the imgaug ``MotionBlur``
augmenter: a line kernel rotated by an angle, weighted towards one end by a direction
parameter). The kernel itself comes from kornia; what is ours is drawing one kernel per image
from a seeded generator, so that every blurred image can be regenerated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import get_motion_kernel2d

from blur2blur.ops import convolve_per_image


def motion_kernel(size: int, angle: float, direction: float) -> torch.Tensor:
    """A ``(size, size)`` line kernel summing to 1.

    size: odd length in pixels (>= 3). angle: degrees. direction: in [-1, 1]; 0 spreads the
    weight evenly along the line, +-1 puts it all towards one end.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"motion kernel size must be odd and >= 3, got {size}")
    k = get_motion_kernel2d(size, torch.tensor([float(angle)]), torch.tensor([float(direction)]))
    return k[0]


def draw_motion_kernels(n: int, generator: torch.Generator, size_range: tuple[int, int] = (7, 21)
                        ) -> tuple[torch.Tensor, list[dict]]:
    """`n` random kernels padded to a common size: ``(n, K, K)`` and their parameters.

    Lengths are drawn among the odd numbers of `size_range` (inclusive), angles uniformly in
    [0, 360) and directions uniformly in [-1, 1].
    """
    lo, hi = size_range
    sizes = list(range(lo | 1, hi + 1, 2))
    if not sizes:
        raise ValueError(f"size_range {size_range} holds no odd size >= 3")
    big = max(sizes)
    kernels, params = [], []
    for _ in range(n):
        size = sizes[int(torch.randint(len(sizes), (1,), generator=generator))]
        angle = float(torch.rand((), generator=generator) * 360)
        direction = float(torch.rand((), generator=generator) * 2 - 1)
        pad = (big - size) // 2
        kernels.append(F.pad(motion_kernel(size, angle, direction), (pad, pad, pad, pad)))
        params.append({"size": size, "angle": angle, "direction": direction})
    return torch.stack(kernels), params


def blur_with_kernels(images: torch.Tensor, kernels: torch.Tensor, *, gamma: float | None = None) -> torch.Tensor:
    """Convolve image i of ``(B, C, H, W)`` in [0, 1] with kernel i of ``(B, K, K)``; same shape out.

    Borders are reflected. With `gamma` (e.g. 2.2) the blur is applied in linear light, the
    way a real exposure integrates light, and the result is re-encoded.
    """
    if kernels.shape[0] != images.shape[0]:
        raise ValueError(f"need one kernel per image: {kernels.shape[0]} kernels for {images.shape[0]} images")
    x = images.clamp(0, 1) ** gamma if gamma else images
    y = convolve_per_image(x, kernels)
    return y.clamp(0, 1) ** (1 / gamma) if gamma else y
