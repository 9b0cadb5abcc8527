"""Image quality metrics in the conventions deblurring papers report."""

from __future__ import annotations

import torch


def psnr(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, crop_border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape, values in [0, data_range].

    Computed over all pixels and channels of the (optionally border-cropped) images, as
    BasicSR's ``calculate_psnr`` does for RGB. Identical images give ``inf``.
    """
    if x.shape != y.shape:
        raise ValueError(f"psnr needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    mse = torch.mean((x.double() - y.double()) ** 2).item()
    if mse == 0:
        return float("inf")
    return 10.0 * torch.log10(torch.tensor(data_range**2 / mse, dtype=torch.float64)).item()
