"""Small tensor operations shared by models, inference and the synthetic blurs (no model imports here)."""

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


_FFT_FROM = 33  # kernels this wide or wider are applied through the FFT (same result to float precision, faster)


def convolve_per_image(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve image i of ``(B, C, H, W)`` with kernel i of ``(B, K, K)`` (K odd); same shape out.

    A true convolution (the kernel flipped) with reflected borders; images smaller than the kernel
    radius get replicated borders instead. The one convolution of the synthetic blurs (motion
    kernels, the baselines' degradations). kornia's ``filter2d`` is a correlation without the FFT
    path for wide kernels, so it is not used here.
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    if k % 2 == 0 or kernels.shape[0] != b:
        raise ValueError(f"need one odd-sized kernel per image, got {tuple(kernels.shape)} for {b} images")
    p = k // 2
    mode = "reflect" if p < h and p < w else "replicate"
    xp = F.pad(x.reshape(1, b * c, h, w), (p, p, p, p), mode=mode)
    kern = kernels.to(device=x.device, dtype=x.dtype).repeat_interleave(c, 0)  # (B*C, K, K)
    if k < _FFT_FROM:
        y = F.conv2d(xp, kern.flip(-1, -2)[:, None], groups=b * c)[0]
    else:
        size = xp.shape[-2:]
        prod = torch.fft.rfft2(xp[0].double(), s=size) * torch.fft.rfft2(kern.double(), s=size)
        # Circular convolution; its last H x W samples are the un-wrapped ("valid") ones.
        y = torch.fft.irfft2(prod, s=size)[:, k - 1:, k - 1:].to(x.dtype)
    return y.reshape(b, c, h, w)


def filter_per_pixel(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Filter every pixel of ``x`` (B, C, H, W) with its own K x K kernel: ``weights`` (B, K*K, H, W).

    ``out[b, c, i, j] = sum_t weights[b, t, i, j] * x[b, c, i + dy_t, j + dx_t]``, the offsets
    ``(dy_t, dx_t)`` running row by row over ``[-K//2, K//2]^2`` (a correlation); the same kernel for
    every channel, reflected borders (replicated for images smaller than the radius). Written as a
    loop over the K*K shifts rather than ``F.unfold``: the same sums with C*H*W memory instead of
    C*K*K*H*W (a 720p frame with K = 9 would need 0.9 GB unfolded).
    """
    b, c, h, w = x.shape
    taps = weights.shape[1]
    k = int(round(taps ** 0.5))
    if k * k != taps or k % 2 == 0 or weights.shape[0] != b or weights.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"need (B, K*K, H, W) weights with K odd for {tuple(x.shape)}, got {tuple(weights.shape)}")
    p = k // 2
    mode = "reflect" if p < h and p < w else "replicate"
    xp = F.pad(x, (p, p, p, p), mode=mode)
    out = torch.zeros_like(x)
    for t in range(taps):
        dy, dx = divmod(t, k)
        out = out + weights[:, t:t + 1] * xp[..., dy:dy + h, dx:dx + w]
    return out
