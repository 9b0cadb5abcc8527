"""Small tensor operations shared by models and inference (no model imports here)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_right_bottom(x: torch.Tensor, height: int, width: int, mode: str = "reflect") -> torch.Tensor:
    """Pad ``(..., H, W)`` on the right and bottom to ``(height, width)``, as official test scripts do.

    `mode` is "reflect", "replicate" or "constant" (zeros). Reflect padding cannot be wider
    than the side minus one; for images that small "replicate" is used instead.
    Crop back with ``y[..., :H, :W]``.
    """
    h, w = x.shape[-2:]
    ph, pw = height - h, width - w
    if ph < 0 or pw < 0:
        raise ValueError(f"cannot pad {h}x{w} down to {height}x{width}")
    if ph == 0 and pw == 0:
        return x
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    if mode == "constant":
        return F.pad(x, (0, pw, 0, ph))
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect", min_size: int = 0) -> torch.Tensor:
    """Pad right/bottom so that H and W are multiples of `multiple` and at least `min_size`."""
    h, w = x.shape[-2:]

    def target(n: int) -> int:
        return -(-max(n, min_size) // multiple) * multiple

    return pad_right_bottom(x, target(h), target(w), mode)


def centre_crop(x: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    """The central ``height x width`` region (square by default) of (..., H, W); shorter sides stay whole."""
    h, w = x.shape[-2:]
    ch, cw = min(height, h), min(height if width is None else width, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top:top + ch, left:left + cw]

