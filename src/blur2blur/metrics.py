"""Image quality metrics in the conventions deblurring papers report.

Images are ``(C, H, W)`` or ``(N, C, H, W)`` tensors (RGB: ``C == 3``) with values in ``[0, data_range]``
(``data_range=1.0`` for the float images this package works with). Everything is computed in float64.
Published numbers differ by up to a few tenths of a dB / a few thousandths of SSIM depending on the
convention, so each one is an explicit option:

Conventions
-----------
``quantize`` (default ``False``)
    Float inputs are compared **as given**: no rounding to 8 bit. Papers evaluate saved 8-bit PNGs
    (BasicSR's ``tensor2img`` clamps to [0, 1], multiplies by 255 and rounds; MATLAB scripts ``imread``
    uint8 files), so ``quantize=True`` first clamps to ``[0, data_range]`` and rounds to steps of
    ``data_range / 255`` (round half to even, like numpy). That reproduces the numbers of the saved files.

``y_channel`` (default ``False``)
    ``False``: RGB, all channels. ``True``: the ITU-R BT.601 luma of BasicSR's
    ``rgb2ycbcr(img, y_only=True)`` (:func:`rgb_to_y`), ``Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255``
    for inputs in [0, 1], so Y lies in [16/255, 235/255]; it is not rounded (BasicSR does not round it
    either). The peak stays ``data_range``, as in BasicSR.

``crop_border`` (default ``0``)
    Pixels removed from each side of H and W before measuring (super-resolution papers crop the scale
    factor; deblurring papers normally use 0).

Batches
-------
Papers report the mean over images of each image's metric. :func:`psnr_per_image` / :func:`ssim_per_image`
give one value per image, :func:`compute_metrics` the per-image mean. :func:`ssim` of a batch is that mean
too. :func:`psnr` of a batch keeps its original meaning (the PSNR of the MSE over the whole batch,
which the training loops use for monitoring); it is not the mean of per-image PSNRs.

PSNR
----
``10 log10(data_range^2 / MSE)`` over all pixels and channels, as BasicSR's ``calculate_psnr`` and
MATLAB's ``psnr`` compute it; identical images give ``inf``.

SSIM variants
-------------
``"gaussian"`` — BasicSR's ``calculate_ssim`` (and ``skimage.metrics.structural_similarity`` with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``): an 11x11 Gaussian window with sigma 1.5,
``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, "valid" filtering (the map is (H-10) x (W-10); no padding),
computed per channel and averaged over channels.

``"matlab_rgb"`` — MATLAB's ``ssim(A, B)`` on an H x W x 3 array, which MATLAB treats as a 3-D *volume*
(not per channel); this is how the GoPro/HIDE evaluation scripts of the MPRNet / MIMO-UNet / NAFNet era
compute SSIM. MATLAB filters with a 3-D Gaussian of sigma 1.5 and support ``2*ceil(3*sigma)+1 = 11`` in
every dimension (``imgaussfilt3(X, 1.5, 'FilterSize', 11, 'Padding', 'replicate')``; older releases build
the same separable 11x11x11 kernel and call ``imfilter(..., 'replicate')``), keeps the "same" size and
averages the whole SSIM map. Along the channel axis only 3 samples exist: 'replicate' padding extends
them by 5 copies of R before and 5 copies of B after, so the 11 channel taps ``w[-5..5]`` fold into a
3x3 mixing of the channels::

    out_R = (w[-5] + ... + w[0]) R + w[1] G + (w[2] + ... + w[5]) B
    out_G = (w[-5] + ... + w[-1]) R + w[0] G + (w[1] + ... + w[5]) B
    out_B = (w[-5] + ... + w[-2]) R + w[-1] G + (w[0] + ... + w[5]) B

i.e. the local statistics mix the colour channels (inter-channel colour differences count as local
"structure" shared by both images), and the replicate-padded border pixels count in the mean. Its numbers
therefore differ from ``"gaussian"``, and are systematically higher: on the bundled photos (mild blur or
noise, "gaussian" SSIM 0.9-0.96) by about 0.01-0.05, and by up to 0.25 on heavily blurred or noisy images.
Compare numbers only within one variant. With ``y_channel=True`` (one channel) the padding replicates that
channel, the channel taps sum to 1 and the variant is MATLAB's 2-D ``ssim`` of a grayscale image.

Not provided
------------
LPIPS is not provided: it needs pretrained AlexNet/VGG weights that cannot be downloaded here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

SSIMVariant = Literal["gaussian", "matlab_rgb"]

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 2*ceil(3*1.5)+1 = 11 taps; also BasicSR's and skimage's (truncate 3.5) window
_MIN_SIZE = 2 * _SSIM_RADIUS + 1

# BasicSR rgb2ycbcr(y_only=True), for RGB in [0, 1]; the weights sum to 219 (the 16..235 video range).
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_OFFSET = 16.0 / 255.0


def rgb_to_y(x: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """BT.601 luma of RGB images as BasicSR's ``rgb2ycbcr(img, y_only=True)``: ``(..., 3, H, W)`` -> ``(..., 1, H, W)``.

    ``x`` holds RGB in ``[0, data_range]``; the result is ``data_range * (16 + 65.481 r + 128.553 g + 24.966 b) / 255``
    with ``r = R / data_range`` etc., so it lies in ``[16, 235] * data_range / 255``. Not rounded.
    Integer inputs are converted to float64 first.
    """
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y needs RGB images of shape (..., 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.double()
    r, g, b = x.unbind(dim=-3)
    y = _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b + _Y_OFFSET * data_range
    return y.unsqueeze(-3)


def _quantize(x: torch.Tensor, data_range: float) -> torch.Tensor:
    # Saving to an 8-bit file clamps and rounds; torch.round is half-to-even like numpy's.
    return torch.round(x.clamp(0.0, data_range) * (255.0 / data_range)) * (data_range / 255.0)


def _prepare(
    x: torch.Tensor, y: torch.Tensor, name: str, *, data_range: float, crop_border: int, y_channel: bool,
    quantize: bool, batched: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate, then float64 -> quantize -> luma -> crop. With ``batched`` the result is ``(N, C, H, W)``."""
    if x.shape != y.shape:
        raise ValueError(f"{name} needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if data_range <= 0:
        raise ValueError(f"{name}: data_range must be positive, got {data_range}")
    if crop_border < 0:
        raise ValueError(f"{name}: crop_border must be >= 0, got {crop_border}")
    if batched or y_channel:
        if x.ndim not in (3, 4):
            raise ValueError(f"{name} needs images of shape (C, H, W) or (N, C, H, W), got {tuple(x.shape)}")
    x, y = x.double(), y.double()
    if batched and x.ndim == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if quantize:
        x, y = _quantize(x, data_range), _quantize(y, data_range)
    if y_channel:
        x, y = rgb_to_y(x, data_range=data_range), rgb_to_y(y, data_range=data_range)
    if crop_border:
        if 2 * crop_border >= min(x.shape[-2], x.shape[-1]):
            raise ValueError(f"{name}: crop_border={crop_border} leaves nothing of images of shape {tuple(x.shape)}")
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        y = y[..., crop_border:-crop_border, crop_border:-crop_border]
    return x, y


def _psnr_from_mse(mse: float, data_range: float) -> float:
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(data_range**2 / mse)


def psnr(
    x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
    quantize: bool = False,
) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape, values in [0, data_range].

    ``x``, ``y``: ``(C, H, W)`` or ``(N, C, H, W)`` (any shape ending in H, W when ``y_channel`` is off);
    ``C == 3`` when ``y_channel``. Computed over all pixels and channels of the (optionally quantized,
    luma-converted, border-cropped) images, as BasicSR's ``calculate_psnr`` does. For a batch this is
    the PSNR of the MSE over the whole batch; use :func:`psnr_per_image` for the papers' per-image mean.
    Identical images give ``inf``. See the module docstring for the options.
    """
    x, y = _prepare(x, y, "psnr", data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                    quantize=quantize, batched=False)
    return _psnr_from_mse(torch.mean((x - y) ** 2).item(), data_range)


def capped_psnr(x: torch.Tensor, y: torch.Tensor, cap: float = 100.0) -> float:
    """PSNR in dB of `x` against `y`, both clamped to [0, 1], at most `cap`: identical images give `cap`,
    not ``inf``, so that training signals (a translator's drift, a cycle's PSNR) average and log finitely."""
    return min(psnr(x.clamp(0, 1), y.clamp(0, 1)), cap)


def psnr_per_image(
    x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, crop_border: int = 0, y_channel: bool = False,
    quantize: bool = False,
) -> list[float]:
    """PSNR in dB of each image of ``(N, C, H, W)`` tensors (a ``(C, H, W)`` pair gives a list of one).

    Same options as :func:`psnr`; an identical pair gives ``inf``.
    """
    x, y = _prepare(x, y, "psnr", data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                    quantize=quantize, batched=True)
    mse = torch.mean((x - y) ** 2, dim=(1, 2, 3))
    return [_psnr_from_mse(m, data_range) for m in mse.tolist()]


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # MATLAB's fspecial/imgaussfilt, OpenCV's getGaussianKernel(11, 1.5) and scipy all use the sampled,
    # sum-normalised exp(-t^2 / (2 sigma^2)); the 3-D MATLAB kernel is its separable product.
    t = torch.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=dtype, device=device)
    w = torch.exp(-(t**2) / (2 * _SSIM_SIGMA**2))
    return w / w.sum()


def _filter_valid_2d(v: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 11x11 Gaussian of each channel, no padding: ``(N, C, H, W)`` -> ``(N, C, H-10, W-10)``."""
    n, c, h, w = v.shape
    v = v.reshape(n * c, 1, h, w)
    v = F.conv2d(v, taps.view(1, 1, -1, 1))
    v = F.conv2d(v, taps.view(1, 1, 1, -1))
    return v.reshape(n, c, h - 2 * _SSIM_RADIUS, w - 2 * _SSIM_RADIUS)


def _filter_replicate_3d(v: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """11x11x11 Gaussian over the (C, H, W) volume with 'replicate' padding, "same" size: ``(N, C, H, W)``."""
    r = _SSIM_RADIUS
    v = F.pad(v.unsqueeze(1), (r, r, r, r, r, r), mode="replicate")  # (N, 1, C+10, H+10, W+10)
    v = F.conv3d(v, taps.view(1, 1, -1, 1, 1))
    v = F.conv3d(v, taps.view(1, 1, 1, -1, 1))
    v = F.conv3d(v, taps.view(1, 1, 1, 1, -1))
    return v.squeeze(1)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, variant: str, data_range: float) -> torch.Tensor:
    """SSIM map of float64 ``(N, C, H, W)`` images (same size for "matlab_rgb", valid-cropped for "gaussian")."""
    taps = _gaussian_taps(x.dtype, x.device)
    if variant == "gaussian":
        filt = _filter_valid_2d
    elif variant == "matlab_rgb":
        filt = _filter_replicate_3d
    else:
        raise ValueError(f"unknown ssim variant {variant!r}; use 'gaussian' or 'matlab_rgb'")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    # One filtering pass over the five stacked moments (x, y, x^2, y^2, xy) instead of five calls.
    n = x.shape[0]
    moments = filt(torch.cat([x, y, x * x, y * y, x * y], dim=0), taps)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.split(n, dim=0)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    # E[x^2] - mu^2 form, as BasicSR, skimage and MATLAB compute the (biased, weighted) moments.
    sigma_xx, sigma_yy, sigma_xy = e_xx - mu_xx, e_yy - mu_yy, e_xy - mu_xy
    num = (2 * mu_xy + c1) * (2 * sigma_xy + c2)
    den = (mu_xx + mu_yy + c1) * (sigma_xx + sigma_yy + c2)
    return num / den


def ssim_per_image(
    x: torch.Tensor, y: torch.Tensor, *, variant: SSIMVariant = "gaussian", data_range: float = 1.0,
    crop_border: int = 0, y_channel: bool = False, quantize: bool = False,
) -> list[float]:
    """SSIM of each image of ``(N, C, H, W)`` tensors (a ``(C, H, W)`` pair gives a list of one), each in [-1, 1].

    ``C == 3`` (RGB) normally, ``C == 1`` also works; values in ``[0, data_range]``; H and W at least 11
    after ``crop_border``. ``variant`` is ``"gaussian"`` (BasicSR) or ``"matlab_rgb"`` (MATLAB ``ssim`` of
    the RGB volume); see the module docstring for both and for the other options.
    """
    x, y = _prepare(x, y, "ssim", data_range=data_range, crop_border=crop_border, y_channel=y_channel,
                    quantize=quantize, batched=True)
    if x.shape[-2] < _MIN_SIZE or x.shape[-1] < _MIN_SIZE:
        raise ValueError(f"ssim needs H and W of at least {_MIN_SIZE} (the Gaussian window), got images of shape "
                         f"{tuple(x.shape)} after crop_border={crop_border}")
    maps = _ssim_maps(x, y, variant, data_range)
    # Mean over channels and pixels at once: equal to BasicSR's mean of per-channel means (same map size).
    return maps.mean(dim=(1, 2, 3)).tolist()


def ssim(
    x: torch.Tensor, y: torch.Tensor, *, variant: SSIMVariant = "gaussian", data_range: float = 1.0,
    crop_border: int = 0, y_channel: bool = False, quantize: bool = False,
) -> float:
    """Structural similarity of ``(C, H, W)`` images, or the mean over the images of ``(N, C, H, W)`` batches.

    Same arguments as :func:`ssim_per_image`; the result is in [-1, 1], 1 for identical images.
    """
    values = ssim_per_image(x, y, variant=variant, data_range=data_range, crop_border=crop_border,
                            y_channel=y_channel, quantize=quantize)
    return sum(values) / len(values)


def compute_metrics(
    pred: torch.Tensor, target: torch.Tensor, *, metrics: Sequence[str] = ("psnr", "ssim"), data_range: float = 1.0,
    crop_border: int = 0, y_channel: bool = False, quantize: bool = False, ssim_variant: SSIMVariant = "gaussian",
) -> dict[str, float]:
    """The requested metrics (``"psnr"``, ``"ssim"``) of ``pred`` against ``target``, mean over the images.

    ``pred``, ``target``: ``(C, H, W)`` or ``(N, C, H, W)``, values in ``[0, data_range]``. For a batch each
    value is the mean of the per-image values (the papers' convention), so PSNR is *not* the pooled-MSE
    value of :func:`psnr`. Options as in :func:`psnr` / :func:`ssim` (``ssim_variant`` is ssim's ``variant``).
    Returns e.g. ``{"psnr": 31.2, "ssim": 0.94}``. Unknown names (LPIPS included) raise ValueError.
    """
    opts = {"data_range": data_range, "crop_border": crop_border, "y_channel": y_channel, "quantize": quantize}
    out: dict[str, float] = {}
    for name in metrics:
        if name == "psnr":
            values = psnr_per_image(pred, target, **opts)
        elif name == "ssim":
            values = ssim_per_image(pred, target, variant=ssim_variant, **opts)
        elif name == "lpips":
            raise ValueError("lpips is not provided (its pretrained weights cannot be downloaded here)")
        else:
            raise ValueError(f"unknown metric {name!r}; available: 'psnr', 'ssim'")
        out[name] = sum(values) / len(values)
    return out
