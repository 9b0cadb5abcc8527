"""Degradation pipelines of the paper's synthetic-data and "generalised deblurring" baselines.

Blur2Blur (Table 2) compares against deblurrers trained on sharp images of the target camera
degraded by a hand-designed pipeline. Three pipelines are here, each a pure function
``f(sharp, generator, cfg) -> degraded`` of a ``(3, H, W)`` or ``(N, 3, H, W)`` float image in
[0, 1], returning the same shape and dtype, clamped to [0, 1]:

=================  ===================================================================  ==========
name               recipe                                                               function
=================  ===================================================================  ==========
``"synthetic"``    "w/ Synthetic Data": imgaug ``MotionBlur``-like straight kernel of    :func:`synthetic_motion`
                   random length, angle and direction (one per image)
``"bsrgan"``       BSRGAN's shuffled degradations (Zhang et al., ICCV 2021) with the    :func:`bsrgan_degrade`
                   motion blur Blur2Blur added, output kept at the input size
``"rsblur"``       RSBlur's realistic synthesis (Rim et al., ECCV 2022): blur in        :func:`rsblur_degrade`
                   linear light, saturation, Poisson-Gaussian noise in raw space, ISP
=================  ===================================================================  ==========

Every random choice comes from the `generator` passed in, so an image degraded with
``blur2blur.seeding.generator(seed, index)`` can be regenerated alone. A batch draws its images'
parameters one image after the other from the same generator.

:func:`degrade_dataset` writes a paired set in the "folders" layout.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from blur2blur.data.camera_look import JpegProfile, NoiseProfile, add_noise, apply_jpeg
from blur2blur.data.images import ImageInfo, expand_inputs, read_image, write_image
from blur2blur.data.synthetic import draw_motion_kernels
from blur2blur.ops import convolve_per_image
from blur2blur.seeding import generator, randint

__all__ = [
    "BSRGANConfig",
    "DEGRADATIONS",
    "RSBlurConfig",
    "SyntheticMotionConfig",
    "bsrgan_degrade",
    "degrade",
    "degrade_dataset",
    "gaussian_kernel",
    "linear_to_srgb",
    "random_trajectory",
    "rsblur_degrade",
    "shifted_copies_kernel",
    "srgb_to_linear",
    "synthetic_motion",
]

# ---------------------------------------------------------------------------------------------
# Small shared pieces: seeded draws, per-image convolution, kernels from shifted copies
# ---------------------------------------------------------------------------------------------


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _chance(g: torch.Generator, p: float) -> bool:
    """True with probability p; always consumes one draw, so later draws do not depend on p."""
    return float(torch.rand((), generator=g, dtype=torch.float64)) < p


def _check_images(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) or (N, 3, H, W) float -> (N, 3, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"images must be float tensors in [0, 1], got dtype {x.dtype}")
    b = x.unsqueeze(0) if x.ndim == 3 else x
    if b.ndim != 4 or b.shape[1] != 3:
        raise ValueError(f"images must have shape (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}")
    return b


def _per_image(fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor], x: torch.Tensor,
               g: torch.Generator) -> torch.Tensor:
    """Apply ``fn((3, H, W) in [0, 1], g)`` to each image in turn; same shape and dtype as `x`."""
    batch = _check_images(x)
    out = torch.stack([fn(img.clamp(0, 1), g).to(batch.dtype).clamp(0, 1) for img in batch])
    return out if x.ndim == 4 else out[0]


def shifted_copies_kernel(offsets: torch.Tensor) -> torch.Tensor:
    """The ``(K, K)`` kernel (K odd, sum 1) that averages copies of an image shifted by `offsets`.

    offsets: ``(n, 2)`` sub-pixel shifts ``(dy, dx)``. Convolving with the kernel equals the mean
    of the n copies, each shifted by bilinear interpolation (each offset's weight is split over
    its four neighbouring taps); the kernel's centre is the zero shift.
    """
    offsets = torch.as_tensor(offsets, dtype=torch.float64).reshape(-1, 2)
    r = int(math.ceil(float(offsets.abs().max()))) + 1
    size = 2 * r + 1
    pos = offsets + r
    base = pos.floor()
    frac = pos - base
    y0, x0 = base[:, 0].long(), base[:, 1].long()
    fy, fx = frac[:, 0], frac[:, 1]
    kernel = torch.zeros(size, size, dtype=torch.float64)
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                        (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        kernel.index_put_((y0 + dy, x0 + dx), wgt, accumulate=True)
    return (kernel / kernel.sum()).float()


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Inverse sRGB transfer curve (IEC 61966-2-1, as RSBlur's ``rgb2lin``), for x in [0, 1]."""
    x = x.clamp(0, 1)
    return torch.where(x < 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Forward sRGB transfer curve (RSBlur's ``lin2rgb``), for x in [0, 1]."""
    x = x.clamp(0, 1)
    return torch.where(x < 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _validate(cfg: object) -> None:
    """Ranges must be (lo, hi) with lo <= hi; names ending in _prob must lie in [0, 1]."""
    for name, value in asdict(cfg).items():
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            if value[0] > value[1]:
                raise ValueError(f"{type(cfg).__name__}.{name}: range {tuple(value)} has low > high")
        if name.endswith("_prob") and not (0.0 <= value <= 1.0):
            raise ValueError(f"{type(cfg).__name__}.{name} must be a probability in [0, 1], got {value!r}")


# ---------------------------------------------------------------------------------------------
# 1. "w/ Synthetic Data": imgaug MotionBlur-like straight kernels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticMotionConfig:
    """The "w/ Synthetic Data" baseline's blur (Blur2Blur Sec. 4.2: imgaug motion blur, per image).

    size_range: odd kernel lengths drawn uniformly among the odd sizes in this range (inclusive).
        Default 7-21 px, the range of :func:`blur2blur.data.synthetic.draw_motion_kernels` (and of
        the demo's known camera). imgaug's own ``MotionBlur`` default is ``k=(3, 7)``; Blur2Blur
        does not say which range it used.
    angle uniform in [0, 360) and direction uniform in [-1, 1], as imgaug ``MotionBlur`` draws them.
    gamma: None blurs the stored (sRGB) values, as imgaug does; a number (e.g. 2.2) blurs in
        linear light instead.
    """

    size_range: tuple[int, int] = (7, 21)
    gamma: float | None = None

    def __post_init__(self) -> None:
        _validate(self)


def synthetic_motion(x: torch.Tensor, g: torch.Generator, cfg: SyntheticMotionConfig | None = None) -> torch.Tensor:
    """Blur each image with its own straight motion kernel drawn from `g` (see :class:`SyntheticMotionConfig`).

    A thin wrapper over :func:`~blur2blur.data.synthetic.draw_motion_kernels` (kernels from
    kornia's ``get_motion_kernel2d``) and the convolution of
    :func:`~blur2blur.data.synthetic.blur_with_kernels`; it also accepts images smaller than the
    kernel (replicated borders).
    """
    cfg = cfg or SyntheticMotionConfig()
    batch = _check_images(x).clamp(0, 1)
    kernels, _ = draw_motion_kernels(batch.shape[0], g, cfg.size_range)
    lin = batch ** cfg.gamma if cfg.gamma else batch
    out = convolve_per_image(lin, kernels).clamp(0, 1)
    out = out ** (1 / cfg.gamma) if cfg.gamma else out
    out = out.clamp(0, 1).to(batch.dtype)
    return out if x.ndim == 4 else out[0]


# ---------------------------------------------------------------------------------------------
# 2. BSRGAN's shuffled degradations, adapted to deblurring
# ---------------------------------------------------------------------------------------------

BSRGAN_STEPS = ("motion", "iso_blur", "aniso_blur", "down", "up", "noise", "jpeg")
_RESIZE_MODES = ("bilinear", "bicubic", "area")  # OpenCV's INTER_LINEAR, INTER_CUBIC, INTER_AREA


@dataclass(frozen=True)
class BSRGANConfig:
    """BSRGAN's degradation model (Zhang et al., "Designing a practical degradation model for deep
    blind image super-resolution", ICCV 2021; code ``utils_blindsr.degradation_bsrgan``) for deblurring.

    Sources of the defaults:

    * motion (Blur2Blur's addition, "averaging with neighboring frames"): the mean of n copies
      (n uniform in `motion_copies`) shifted along a random direction (uniform in [0, 180) degrees)
      by a step uniform in `motion_step` px between neighbours. Neither paper gives numbers; the
      defaults (3-11 copies, 0.5-2 px, so up to 20 px of extent, like the 7-21 px synthetic
      kernels) and ``motion_prob=1`` (deblurring is the task) are ours.
    * iso_blur / aniso_blur: the paper's "two convolutions with isotropic and anisotropic Gaussian
      kernels" (BSRGAN's code instead lets each of its two blur slots pick either kind with
      probability 1/2). Kernel sizes ``2 * randint(2, 11) + 3`` = odd 7..25; isotropic sigma
      ``(2 + 0.2 sf) * U(0, 1)`` and anisotropic covariance eigenvalues ``(4 + sf) * U(0, 1)``
      with rotation ``U(0, pi)``, all as BSRGAN's ``add_blur``, at sf = 1 (no super-resolution):
      sigma in (0, 2.2), eigenvalues (variances) in (0, 5). Always applied, as in BSRGAN.
    * down / up: BSRGAN's "downsample2" (probability 0.75 for its interpolation branch: scale
      ``U(1, 2 sf)`` = U(1, 2) at sf = 1, OpenCV linear/cubic/area) and "downsample3" (back to
      ``size / sf`` = the input size, random interpolation), kept in that order in the shuffle as
      BSRGAN does; so the output has the input's size. BSRGAN's other 25% branch (a shifted
      Gaussian of sigma <= 0.6 sf then nearest decimation) is left out, as is its initial
      extra x2 downscale (super-resolution only).
    * noise: always, level ``randint(1, 25) / 255`` (the paper's range; the code draws 2..25);
      channel-independent with probability 0.4, the same (gray) noise on all channels with
      probability 0.4, otherwise correlated across channels with covariance ``L^2 U^T D U``
      (L = 25/255, D diagonal uniform in [0, 1], U a random orthogonal matrix). BSRGAN takes
      ``abs`` of that covariance elementwise, which can make it indefinite; we keep it as built.
    * jpeg: in the shuffle with probability 0.9, quality ``randint(30, 95)``, 4:2:0 (OpenCV's
      default), through :func:`blur2blur.data.camera_look.apply_jpeg`; and a final JPEG after the
      shuffle, always, as BSRGAN's "final JPEG compression noise" (`final_jpeg_prob`).
    * BSRGAN's processed camera sensor noise (probability 0.25, needs an ISP model it does not
      release) is left out; :func:`rsblur_degrade` models raw-space noise.
    """

    motion_prob: float = 1.0
    motion_copies: tuple[int, int] = (3, 11)
    motion_step: tuple[float, float] = (0.5, 2.0)
    iso_prob: float = 1.0
    aniso_prob: float = 1.0
    kernel_size: tuple[int, int] = (7, 25)
    iso_sigma: tuple[float, float] = (0.0, 2.2)
    aniso_var: tuple[float, float] = (0.0, 5.0)
    resize_prob: float = 0.75
    resize_scale: tuple[float, float] = (1.0, 2.0)
    resize_modes: tuple[str, ...] = _RESIZE_MODES
    noise_prob: float = 1.0
    noise_level: tuple[int, int] = (1, 25)
    noise_color_prob: float = 0.4
    noise_gray_prob: float = 0.4
    jpeg_prob: float = 0.9
    jpeg_quality: tuple[int, int] = (30, 95)
    final_jpeg_prob: float = 1.0

    def __post_init__(self) -> None:
        _validate(self)
        if self.noise_color_prob + self.noise_gray_prob > 1:
            raise ValueError("BSRGANConfig: noise_color_prob + noise_gray_prob must be <= 1")
        if self.resize_scale[0] < 1:
            raise ValueError(f"BSRGANConfig.resize_scale must be >= 1 (a downscale), got {self.resize_scale}")
        bad = [m for m in self.resize_modes if m not in _RESIZE_MODES]
        if bad or not self.resize_modes:
            raise ValueError(f"BSRGANConfig.resize_modes must be a non-empty subset of {_RESIZE_MODES}, got {bad}")
        if self.kernel_size[0] < 1:
            raise ValueError(f"BSRGANConfig.kernel_size must be >= 1, got {self.kernel_size}")

    @classmethod
    def only(cls, step: str, **overrides) -> BSRGANConfig:
        """A config where `step` (``"motion"``, ``"iso_blur"``, ``"aniso_blur"``, ``"resize"``,
        ``"noise"``, ``"jpeg"`` or ``"final_jpeg"``) is always applied and every other step never."""
        probs = {"motion": "motion_prob", "iso_blur": "iso_prob", "aniso_blur": "aniso_prob",
                 "resize": "resize_prob", "noise": "noise_prob", "jpeg": "jpeg_prob", "final_jpeg": "final_jpeg_prob"}
        if step not in probs:
            raise ValueError(f"unknown BSRGAN step {step!r}; expected one of {sorted(probs)}")
        return replace(cls(), **{p: float(k == step) for k, p in probs.items()}, **overrides)


def _odd_size(g: torch.Generator, size_range: tuple[int, int]) -> int:
    sizes = list(range(size_range[0] | 1, size_range[1] + 1, 2))
    if not sizes:
        raise ValueError(f"kernel size range {size_range} holds no odd size")
    return sizes[randint(g, 0, len(sizes) - 1)]


def gaussian_kernel(size: int, cov: torch.Tensor) -> torch.Tensor:
    """A ``(size, size)`` sampled Gaussian of 2x2 covariance `cov` (in (x, y) order), summing to 1."""
    r = size // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    pts = torch.stack([xx, yy], -1)
    e = -0.5 * torch.einsum("...i,ij,...j->...", pts, torch.linalg.inv(cov.double()), pts)
    k = torch.exp(e - e.max())
    return (k / k.sum()).float()


def _bsrgan_step(step: str, img: torch.Tensor, g: torch.Generator, cfg: BSRGANConfig,
                 state: dict) -> torch.Tensor:
    """One BSRGAN step on a (3, h, w) image (h, w may be the downscaled size)."""
    if step == "motion":
        if not _chance(g, cfg.motion_prob):
            return img
        n = randint(g, *cfg.motion_copies)
        stride = _uniform(g, *cfg.motion_step)
        angle = _uniform(g, 0.0, math.pi)
        t = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * stride
        offsets = torch.stack([t * math.sin(angle), t * math.cos(angle)], 1)
        return convolve_per_image(img[None], shifted_copies_kernel(offsets)[None])[0]
    if step in ("iso_blur", "aniso_blur"):
        if not _chance(g, cfg.iso_prob if step == "iso_blur" else cfg.aniso_prob):
            return img
        size = _odd_size(g, cfg.kernel_size)
        if step == "iso_blur":
            sigma = max(_uniform(g, *cfg.iso_sigma), 1e-3)
            cov = torch.eye(2, dtype=torch.float64) * sigma**2
        else:
            l1, l2 = (max(_uniform(g, *cfg.aniso_var), 1e-4) for _ in range(2))
            theta = _uniform(g, 0.0, math.pi)
            c, s = math.cos(theta), math.sin(theta)
            v = torch.tensor([[c, s], [s, -c]], dtype=torch.float64)  # BSRGAN's V (its own inverse)
            cov = v @ torch.diag(torch.tensor([l1, l2], dtype=torch.float64)) @ v
        return convolve_per_image(img[None], gaussian_kernel(size, cov)[None])[0]
    if step == "down":
        state["resized"] = _chance(g, cfg.resize_prob)
        if not state["resized"]:
            return img
        scale = _uniform(g, *cfg.resize_scale)
        mode = cfg.resize_modes[randint(g, 0, len(cfg.resize_modes) - 1)]
        h, w = img.shape[-2:]
        size = (max(1, int(h / scale)), max(1, int(w / scale)))
        return _resize(img, size, mode)
    if step == "up":
        if not state.get("resized"):
            return img
        mode = cfg.resize_modes[randint(g, 0, len(cfg.resize_modes) - 1)]
        return _resize(img, state["size"], mode)
    if step == "noise":
        if not _chance(g, cfg.noise_prob):
            return img
        level = randint(g, *cfg.noise_level) / 255.0
        kind = _uniform(g, 0.0, 1.0)
        h, w = img.shape[-2:]
        if kind < cfg.noise_color_prob:
            noise = level * torch.randn(3, h, w, generator=g)
        elif kind < cfg.noise_color_prob + cfg.noise_gray_prob:
            noise = level * torch.randn(1, h, w, generator=g).expand(3, h, w)
        else:
            big = cfg.noise_level[1] / 255.0
            d = torch.rand(3, generator=g, dtype=torch.float64)
            u, _ = torch.linalg.qr(torch.rand(3, 3, generator=g, dtype=torch.float64))
            mix = big * torch.diag(d.sqrt()) @ u  # n = mix^T z has covariance big^2 U^T D U
            noise = torch.einsum("ij,ihw->jhw", mix, torch.randn(3, h, w, generator=g, dtype=torch.float64))
        return (img + noise.to(device=img.device, dtype=img.dtype)).clamp(0, 1)
    if step == "jpeg":
        if not _chance(g, cfg.jpeg_prob):
            return img
        return apply_jpeg(img.clamp(0, 1), JpegProfile(randint(g, *cfg.jpeg_quality), "4:2:0"))
    raise AssertionError(step)


def _resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(img[None], size=size, mode=mode, **kw)[0].clamp(0, 1)


def bsrgan_degrade(x: torch.Tensor, g: torch.Generator, cfg: BSRGANConfig | None = None) -> torch.Tensor:
    """BSRGAN's degradation shuffle plus motion blur, keeping the input size (see :class:`BSRGANConfig`).

    Per image: a random order of the steps ``motion, iso_blur, aniso_blur, down, up, noise,
    jpeg`` (a uniform permutation from `g`, then "up" swapped behind "down" if it came first, as
    BSRGAN keeps its downsample3 after downsample2), each step applied with its probability, then
    the final JPEG. Steps between "down" and "up" act on the downscaled image, as in BSRGAN.
    """
    cfg = cfg or BSRGANConfig()

    def one(img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        order = [BSRGAN_STEPS[i] for i in torch.randperm(len(BSRGAN_STEPS), generator=g).tolist()]
        i_down, i_up = order.index("down"), order.index("up")
        if i_up < i_down:
            order[i_down], order[i_up] = "up", "down"
        state = {"size": tuple(img.shape[-2:])}
        for step in order:
            img = _bsrgan_step(step, img, g, cfg, state)
        if _chance(g, cfg.final_jpeg_prob):
            img = apply_jpeg(img.clamp(0, 1), JpegProfile(randint(g, *cfg.jpeg_quality), "4:2:0"))
        return img

    return _per_image(one, x, g)


# ---------------------------------------------------------------------------------------------
# 3. RSBlur's realistic blur synthesis
# ---------------------------------------------------------------------------------------------

# sRGB (linear, D65) -> CIE XYZ.
_RGB2XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
# XYZ -> camera matrices of four cameras, from Brooks et al. 2019 ("Unprocessing images for learned
# raw denoising", random_ccm), which RSBlur's ISP code builds on.
_XYZ2CAMS = torch.tensor([[[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
                          [[0.4913, -0.0541, -0.0202], [-0.613, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
                          [[0.838, -0.263, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
                          [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.097, 0.1581, 0.5181]]],
                         dtype=torch.float64)


@dataclass(frozen=True)
class RSBlurConfig:
    """RSBlur's blur synthesis (Rim et al., "Realistic blur synthesis for learning image deblurring",
    ECCV 2022; code github.com/rimchang/RSBlur) from single sharp images.

    Sources of the defaults:

    * blur: RSBlur averages real (interpolated) video frames in linear space. From one photo we
      average copies shifted along a random camera-shake trajectory instead: a path of length
      uniform in `trajectory_length` px whose heading performs a random walk
      (`trajectory_turn` radians per sqrt(px)), centred on its middle sample (RSBlur's ground
      truth is the middle frame); cf. RSBlur's GoPro_U set, which uses synthetic kernels. The
      trajectory numbers are ours.
    * saturation: pixels of the sharp image at or above `sat_threshold` (default: 255 in 8 bits)
      form a mask that is blurred with the same trajectory; the linear blurred image gets
      ``alpha * blurred_mask`` added, ``alpha ~ U(0.25, 1.75)`` (RSBlur's ``alpha_saturation``),
      then is clipped to [0, 1]. Where that clipped value is 1 the output stays 1, without noise
      (RSBlur's "don't add noise on saturated region").
    * inverse ISP: sRGB curve inverted (RSBlur's ``rgb2lin``; RSBlur uses no other tone curve),
      a colour correction matrix to camera RGB, and inverse white balance with red gain
      ``U(1.9, 2.4)`` and blue gain ``U(1.5, 1.9)`` (RSBlur's code for datasets without per-image
      camera metadata; also Brooks et al. 2019). RSBlur uses its cameras' measured CCMs; we draw a
      random convex combination of Brooks et al.'s four XYZ->camera matrices (``ccm="random"``),
      or none (``ccm="identity"``).
    * noise in raw space: Poisson-Gaussian, shot factor ``beta1 * U(0.5, 1.5)`` and read noise std
      ``beta2 * U(0.5, 1.5)`` with RSBlur's parameters for its own camera, beta1 = 1e-4 and
      beta2 = 9.1504e-4 (RealBlur's camera: 8.8915e-5, 2.9430e-5). Noise variance at raw value x
      is ``beta1' * x + beta2'^2``, added by :func:`blur2blur.data.camera_look.add_noise`
      (Gaussian with the Poisson variance: indistinguishable at these photon counts).
    * forward ISP: white balance, inverse CCM, sRGB curve; then JPEG with probability `jpeg_prob`,
      quality uniform in `jpeg_quality`, 4:2:0. RSBlur's synthesis code has no JPEG step; it and
      its 85-95 quality are our addition (``jpeg_prob=0`` gives RSBlur's pipeline).

    Simplifications: no Bayer mosaicing or demosaicing (RSBlur mosaics before the inverse white
    balance and demosaics with Malvar 2004, which makes its noise slightly spatially correlated;
    ours is white per channel), no camera-specific CRF (RSBlur optionally re-applies RealBlur's
    fitted polynomial CRF), and a synthetic trajectory instead of real frames.
    """

    trajectory_length: tuple[float, float] = (4.0, 24.0)
    trajectory_turn: float = 0.2
    sat_threshold: float = 1.0 - 0.5 / 255
    sat_scale: tuple[float, float] = (0.25, 1.75)
    ccm: str = "random"
    red_gain: tuple[float, float] = (1.9, 2.4)
    blue_gain: tuple[float, float] = (1.5, 1.9)
    shot_noise: float = 1e-4
    read_noise: float = 9.1504e-4
    noise_jitter: float = 0.5
    jpeg_prob: float = 1.0
    jpeg_quality: tuple[int, int] = (85, 95)

    def __post_init__(self) -> None:
        _validate(self)
        if self.ccm not in ("random", "identity"):
            raise ValueError(f"RSBlurConfig.ccm must be 'random' or 'identity', got {self.ccm!r}")
        if not 0 <= self.noise_jitter <= 1:
            raise ValueError(f"RSBlurConfig.noise_jitter must be in [0, 1], got {self.noise_jitter}")
        if self.shot_noise < 0 or self.read_noise < 0 or self.trajectory_length[0] < 0:
            raise ValueError("RSBlurConfig: noise levels and trajectory lengths must be >= 0")
        if min(self.red_gain + self.blue_gain) <= 0:
            raise ValueError("RSBlurConfig: white-balance gains must be > 0")


def random_trajectory(g: torch.Generator, length: float, turn: float = 0.2) -> torch.Tensor:
    """A smooth random camera-shake path: ``(n, 2)`` positions ``(dy, dx)`` in px, about 2 per px.

    The path has total arc length `length`; its heading starts uniform in [0, 2 pi) and performs
    a Gaussian random walk of `turn` radians per sqrt(px). It is centred on its middle sample.
    """
    n = max(2, int(math.ceil(2 * length)) + 1)
    step = length / (n - 1)
    heading = _uniform(g, 0.0, 2 * math.pi) + torch.cat([
        torch.zeros(1, dtype=torch.float64),
        torch.cumsum(torch.randn(n - 2, generator=g, dtype=torch.float64) * turn * math.sqrt(step), 0)])
    moves = step * torch.stack([heading.sin(), heading.cos()], 1)
    pts = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.cumsum(moves, 0)])
    return pts - pts[n // 2]


def _random_rgb2cam(g: torch.Generator, how: str) -> torch.Tensor:
    if how == "identity":
        return torch.eye(3, dtype=torch.float64)
    w = torch.rand(len(_XYZ2CAMS), 1, 1, generator=g, dtype=torch.float64)
    xyz2cam = (_XYZ2CAMS * w).sum(0) / w.sum()
    rgb2cam = xyz2cam @ _RGB2XYZ
    return rgb2cam / rgb2cam.sum(-1, keepdim=True)  # white stays white


def _apply_matrix(m: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,jhw->ihw", m.to(img), img)


def rsblur_degrade(x: torch.Tensor, g: torch.Generator, cfg: RSBlurConfig | None = None) -> torch.Tensor:
    """RSBlur's realistic blur synthesis from a sharp sRGB image (see :class:`RSBlurConfig`).

    Per image: sRGB -> linear; blur along a random trajectory, with saturated pixels boosted and
    clipped; linear RGB -> camera RGB -> inverse white balance (raw); Poisson-Gaussian noise;
    white balance -> camera RGB -> linear RGB -> sRGB; saturated pixels set back to 1; JPEG.
    """
    cfg = cfg or RSBlurConfig()

    def one(img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        work = img.float()
        lin = srgb_to_linear(work)
        mask = (work >= cfg.sat_threshold).float()
        path = random_trajectory(g, _uniform(g, *cfg.trajectory_length), cfg.trajectory_turn)
        kernel = shifted_copies_kernel(path)
        blurred, blurred_mask = convolve_per_image(torch.stack([lin, mask]), torch.stack([kernel, kernel]))
        alpha = _uniform(g, *cfg.sat_scale)
        sat = (blurred + alpha * blurred_mask).clamp(0, 1)
        # Inverse ISP to raw.
        rgb2cam = _random_rgb2cam(g, cfg.ccm)
        gains = torch.tensor([_uniform(g, *cfg.red_gain), 1.0, _uniform(g, *cfg.blue_gain)],
                             dtype=torch.float64).view(3, 1, 1).to(work)
        raw = _apply_matrix(rgb2cam, sat).clamp(0, 1) / gains
        # Poisson-Gaussian noise: variance shot * x + read^2.
        shot = cfg.shot_noise * _uniform(g, 1 - cfg.noise_jitter, 1 + cfg.noise_jitter)
        read = cfg.read_noise * _uniform(g, 1 - cfg.noise_jitter, 1 + cfg.noise_jitter)
        raw = add_noise(raw, NoiseProfile(a=shot, b=read**2), generator=g)
        # Forward ISP.
        cam = (raw * gains).clamp(0, 1)
        out = linear_to_srgb(_apply_matrix(torch.linalg.inv(rgb2cam), cam).clamp(0, 1))  # float32
        out = torch.where(sat >= 1, torch.ones_like(out), out).to(img.dtype)
        if _chance(g, cfg.jpeg_prob):
            out = apply_jpeg(out, JpegProfile(randint(g, *cfg.jpeg_quality), "4:2:0"))
        return out

    return _per_image(one, x, g)


# ---------------------------------------------------------------------------------------------
# Registry, whole-folder synthesis, on-the-fly pairs
# ---------------------------------------------------------------------------------------------

DEGRADATIONS: dict[str, tuple[Callable, object]] = {
    "synthetic": (synthetic_motion, SyntheticMotionConfig()),
    "bsrgan": (bsrgan_degrade, BSRGANConfig()),
    "rsblur": (rsblur_degrade, RSBlurConfig()),
}


def _lookup(name: str, cfg: object | None) -> tuple[Callable, object]:
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; expected one of {sorted(DEGRADATIONS)}")
    fn, default = DEGRADATIONS[name]
    if cfg is None:
        return fn, default
    if not isinstance(cfg, type(default)):
        raise TypeError(f"degradation {name!r} takes a {type(default).__name__}, got {type(cfg).__name__}")
    return fn, cfg


def degrade(name: str, x: torch.Tensor, g: torch.Generator, cfg: object | None = None) -> torch.Tensor:
    """Apply the registered degradation `name` (``"synthetic"``, ``"bsrgan"``, ``"rsblur"``) to `x`
    with `g`; `cfg` defaults to the registry's published defaults."""
    fn, cfg = _lookup(name, cfg)
    return fn(x, g, cfg)


MANIFEST = "manifest.json"


def degrade_dataset(photos: Sequence[str | os.PathLike] | str | os.PathLike, out_dir: str | os.PathLike,
                    name: str, *, seed: int = 0, variants: int = 1, overwrite: bool = False,
                    cfg: object | None = None) -> Path:
    """Degrade sharp photos into a paired set in the "folders" layout; returns `out_dir`.

    Writes ``out_dir/blur/<stem>_<v>.png`` and ``out_dir/sharp/<stem>_<v>.png`` (8-bit RGB PNG,
    16-bit when the photo is 16-bit) for each photo and variant ``v`` in ``0..variants-1``, and
    ``manifest.json`` (degradation, config, seed, and per pair its photo, index and variant).
    Pair (photo i of the sorted list, variant v) is degraded with ``generator(seed, i, v)``, so
    any pair can be regenerated alone. `photos`: files, folders or globs (see
    :func:`blur2blur.data.images.expand_inputs`). Refuses (FileExistsError) a folder that already
    holds ``blur/`` or ``sharp/`` unless `overwrite`.
    """
    fn, cfg = _lookup(name, cfg)
    if variants < 1:
        raise ValueError(f"variants must be >= 1, got {variants}")
    paths = expand_inputs([photos] if isinstance(photos, (str, os.PathLike)) else list(photos))
    if not paths:
        raise ValueError("no photos to degrade")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ValueError(f"two photos share the name {p.stem!r}: {stems[p.stem]} and {p}")
        stems[p.stem] = p
    out = Path(out_dir)
    for sub in ("blur", "sharp"):
        if (out / sub).exists() and not overwrite:
            raise FileExistsError(f"{out / sub} already exists; refusing to write into it (overwrite=True to replace)")
    items = []
    for i, path in enumerate(paths):
        sharp, info = read_image(path)
        keep = ImageInfo(path, info.bit_depth, grayscale=False, alpha=None)
        for v in range(variants):
            blurry = fn(sharp, generator(seed, i, v), cfg)
            rel = f"{path.stem}_{v}.png"
            write_image(sharp, out / "sharp" / rel, keep, overwrite=overwrite)
            write_image(blurry, out / "blur" / rel, keep, overwrite=overwrite)
            items.append({"photo": str(path), "index": i, "variant": v,
                          "blur": f"blur/{rel}", "sharp": f"sharp/{rel}"})
    manifest = {"degradation": name, "config": asdict(cfg), "seed": seed, "variants": variants,
                "generator": "blur2blur.seeding.generator(seed, index, variant)", "pairs": items}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return out


