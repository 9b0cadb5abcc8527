"""Estimate a camera's sensor noise and JPEG compression, and re-apply them to re-blurred images.

Blur2Blur turns a camera's sharp images S into a "known-blur" set K by blurring them with a
learned blur operator. Blurring is a local average, so it also averages the camera's sensor
noise away and erases JPEG blocking: K ends up cleaner than the camera's real blurry images.
That difference has nothing to do with blur, yet a GAN discriminator comparing the two sets
can latch onto it. The remedy is to measure the camera's "look" on S and put it back on K
after blurring::

    look = estimate_camera_look(sharp_paths)          # once per camera
    print(look.describe())
    if look.is_noticeable():
        k = apply_camera_look(reblurred, look, generator=g)

Use it when the camera's images are visibly noisy or JPEG-compressed (``is_noticeable``); for
clean, losslessly stored images it changes nothing worth the cost.

Noise model: Poisson-Gaussian, the noise variance at intensity ``x`` in [0, 1] is
``a * x + b`` (``a``: shot noise, ``b``: read noise). Caveats: the estimator assumes spatially
white noise, so noise that demosaicing or denoising made spatially correlated is
under-estimated; on JPEG files it measures the noise that survived compression, which is what
should be put back before re-compressing.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from blur2blur.data.images import read_image
from blur2blur.ops import centre_crop

__all__ = [
    "CameraLook",
    "JpegProfile",
    "NoiseProfile",
    "add_noise",
    "apply_camera_look",
    "apply_jpeg",
    "estimate_camera_look",
    "estimate_noise",
    "jpeg_profile",
]

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")

# Immerkaer (1996) mask [[1,-2,1],[-2,4,-2],[1,-2,1]]: a difference of two Laplacians that cancels
# constant, linear and most smooth content. On white noise of variance v its output has variance
# sum(w^2) * v = 36 v.
_IMMERKAER_GAIN = 36.0
_MAD_TO_STD = 1.4826  # std of a zero-mean Gaussian = 1.4826 * median(|r|)

_FLAT_FRACTION = 0.25  # share of pixels (per image) kept as "flat"
_N_BINS = 12
_MIN_BIN_COUNT = 50  # fewer samples make a bin's MAD too noisy to fit on
_VAR_FLOOR = (0.25 / 255) ** 2  # keeps WLS weights finite on noise-free bins
_CLIP_MARGIN = 0.5 / 255  # windows touching this close to 0 or 1 are treated as saturated
_MAX_CROP = 512

# ITU-T T.81 Annex K.1 luminance quantisation table, natural (row-major) order, as Pillow reports it.
_ANNEX_K_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.int64)


def _ijg_table(quality: int) -> np.ndarray:
    """The IJG (libjpeg) luminance table for `quality` in 1..100."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_ANNEX_K_LUMA * scale + 50) // 100, 1, 255)


_IJG_TABLES = np.stack([_ijg_table(q) for q in range(1, 101)])  # (100, 64)


@dataclass(frozen=True)
class NoiseProfile:
    """Poisson-Gaussian noise: variance ``a * x + b`` at intensity ``x`` in [0, 1] (a, b >= 0)."""

    a: float
    b: float

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"NoiseProfile.{name} must be a finite number >= 0, got {v!r}")

    def var_at(self, x: float) -> float:
        """Noise variance at intensity `x` in [0, 1]."""
        return self.a * x + self.b

    def std_at(self, x: float) -> float:
        """Noise standard deviation at intensity `x` in [0, 1] (same units as the image)."""
        return math.sqrt(max(self.var_at(x), 0.0))

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: dict) -> NoiseProfile:
        return cls(a=float(d["a"]), b=float(d["b"]))


@dataclass(frozen=True)
class JpegProfile:
    """JPEG settings: IJG `quality` in 1..100 and chroma `subsampling` ("4:4:4", "4:2:2" or "4:2:0")."""

    quality: int
    subsampling: str

    def __post_init__(self) -> None:
        if not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            raise ValueError(f"JpegProfile.quality must be an int in 1..100, got {self.quality!r}")
        if self.subsampling not in SUBSAMPLINGS:
            raise ValueError(
                f"JpegProfile.subsampling must be one of {SUBSAMPLINGS}, got {self.subsampling!r}")

    def to_dict(self) -> dict:
        return {"quality": self.quality, "subsampling": self.subsampling}

    @classmethod
    def from_dict(cls, d: dict) -> JpegProfile:
        return cls(quality=int(d["quality"]), subsampling=str(d["subsampling"]))


@dataclass(frozen=True)
class CameraLook:
    """What a camera adds besides blur: sensor noise and JPEG compression (either may be None)."""

    noise: NoiseProfile | None
    jpeg: JpegProfile | None

    def is_noticeable(self) -> bool:
        """True when the look is worth re-applying: a JPEG camera, or noise std >= 0.5/255 at mid-grey."""
        if self.jpeg is not None:
            return True
        return self.noise is not None and self.noise.std_at(0.5) >= 0.5 / 255

    def describe(self) -> str:
        """One line, e.g. ``noise std 2.1/255 at mid-grey (a=4.0e-04, b=1.0e-05), JPEG q≈85 4:2:0``."""
        if self.noise is None:
            noise = "no noise estimate"
        else:
            n = self.noise
            noise = f"noise std {n.std_at(0.5) * 255:.1f}/255 at mid-grey (a={n.a:.1e}, b={n.b:.1e})"
        jpeg = "not JPEG" if self.jpeg is None else f"JPEG q≈{self.jpeg.quality} {self.jpeg.subsampling}"
        return f"{noise}, {jpeg}"

    def to_dict(self) -> dict:
        return {
            "noise": None if self.noise is None else self.noise.to_dict(),
            "jpeg": None if self.jpeg is None else self.jpeg.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> CameraLook:
        noise, jpeg = d.get("noise"), d.get("jpeg")
        return cls(
            noise=None if noise is None else NoiseProfile.from_dict(noise),
            jpeg=None if jpeg is None else JpegProfile.from_dict(jpeg),
        )


def _as_batch(img: torch.Tensor, what: str = "image") -> torch.Tensor:
    """Check a (3, H, W) or (B, 3, H, W) float tensor and return it as (B, 3, H, W)."""
    if not isinstance(img, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(img).__name__}")
    if not img.is_floating_point():
        raise ValueError(f"{what} must be a float tensor in [0, 1], got dtype {img.dtype}")
    if img.ndim == 3:
        img = img.unsqueeze(0)
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"{what} must have shape (3, H, W) or (B, 3, H, W), got {tuple(img.shape)}")
    return img


# Noise estimation is hand-written: skimage.restoration.estimate_sigma assumes signal-independent
# Gaussian noise (a single sigma), and no maintained library fits the Poisson-Gaussian model
# (variance a*x + b) from single images; the published methods (Foi et al. 2008, Liu et al. 2014)
# exist only as research code.
def _shifts3(a: np.ndarray, axis: int) -> list[np.ndarray]:
    """The three views a[i : n-2+i] (i = 0, 1, 2) along a negative `axis`."""
    n = a.shape[axis]
    lead = (slice(None),) * (a.ndim + axis)
    return [a[lead + (slice(i, n - 2 + i),)] for i in range(3)]


def _filt3(a: np.ndarray, taps: tuple[float, float, float], axis: int) -> np.ndarray:
    """Valid 3-tap correlation along a negative `axis` (shrinks it by 2)."""
    s = _shifts3(a, axis)
    return taps[0] * s[0] + taps[1] * s[1] + taps[2] * s[2]


def _extreme3(a: np.ndarray, op, axis: int) -> np.ndarray:
    """Valid 3-wide running `op` (np.minimum or np.maximum) along a negative `axis`."""
    s = _shifts3(a, axis)
    return op(op(s[0], s[1]), s[2])


def _flat_samples(img: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and local means of the flattest pixels of one (3, H, W) image, channels pooled.

    Returns two 1-D float64 arrays of equal length (empty for images smaller than 3x3).
    """
    # numpy rather than torch: these small separable filters are single-threaded and
    # predictable, where torch's thread pool mostly waits on a busy machine.
    x = img.detach().to(device="cpu", dtype=torch.float32).numpy()  # (3, H, W)
    if x.shape[-1] < 3 or x.shape[-2] < 3:
        return np.empty(0), np.empty(0)
    # All maps below are "valid" 3x3 results, (3, H-2, W-2), centred on the same pixels, so no
    # padding value leaks into the residual.
    d2 = (1.0, -2.0, 1.0)  # Immerkaer's mask is the outer product d2 x d2
    resid = _filt3(_filt3(x, d2, -1), d2, -2)
    mean = _filt3(_filt3(x, (1.0, 1.0, 1.0), -1), (1.0, 1.0, 1.0), -2) / 9
    # Light smoothing (replicate-padded, same size) before the Sobel gradient.
    xs = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    xs = _filt3(_filt3(xs, (0.25, 0.5, 0.25), -1), (0.25, 0.5, 0.25), -2)
    gx = _filt3(_filt3(xs, (-1.0, 0.0, 1.0), -1), (1.0, 2.0, 1.0), -2)
    gy = _filt3(_filt3(xs, (1.0, 2.0, 1.0), -1), (-1.0, 0.0, 1.0), -2)
    # Even-symmetric residual mask vs odd-symmetric Sobel and a zero-sum mask vs the box mean:
    # on white Gaussian noise they are uncorrelated, hence independent, so picking pixels by
    # gradient or binning them by mean does not bias the variance measured on the residual.
    grad = np.hypot(gx, gy)
    # Clipped noise has a smaller spread: drop windows that touch black or white.
    win_min = _extreme3(_extreme3(x, np.minimum, -1), np.minimum, -2)
    win_max = _extreme3(_extreme3(x, np.maximum, -1), np.maximum, -2)
    ok = (win_min > _CLIP_MARGIN) & (win_max < 1 - _CLIP_MARGIN) & np.isfinite(resid) & np.isfinite(grad)
    resid, mean, grad = resid[ok], mean[ok], grad[ok]
    if resid.size == 0:
        return resid.astype(np.float64), mean.astype(np.float64)
    n_keep = max(1, round(_FLAT_FRACTION * grad.size))
    idx = np.argpartition(grad, n_keep - 1)[:n_keep]
    return resid[idx].astype(np.float64), mean[idx].astype(np.float64)


def _bin_variances(resid: np.ndarray, mean: np.ndarray, min_count: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per intensity bin: mean intensity, robust (MAD) noise variance, sample count."""
    which = np.clip((np.clip(mean, 0, 1) * _N_BINS).astype(np.int64), 0, _N_BINS - 1)
    order = np.argsort(which, kind="stable")
    counts = np.bincount(which, minlength=_N_BINS)
    xs, vs, ns = [], [], []
    cuts = np.cumsum(counts)[:-1]
    for r, m in zip(np.split(resid[order], cuts), np.split(mean[order], cuts)):
        if r.size < min_count:
            continue
        sigma_r = _MAD_TO_STD * float(np.median(np.abs(r)))
        xs.append(float(m.mean()))
        vs.append(sigma_r**2 / _IMMERKAER_GAIN)
        ns.append(r.size)
    return np.array(xs), np.array(vs), np.array(ns, dtype=np.float64)


def _fit_nonneg_line(x: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least squares v ≈ a x + b with a, b >= 0 (exact for two parameters)."""
    has_slope = len(x) >= 2 and float(np.ptp(x)) > 1e-3
    if has_slope:
        design = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(w)[:, None]
        (a, b), *_ = np.linalg.lstsq(design, v * np.sqrt(w), rcond=None)
        if a >= 0 and b >= 0:
            return float(a), float(b)
    # The unconstrained optimum is infeasible (or the slope is unidentifiable): the constrained
    # one lies on an edge, a = 0 or b = 0; keep whichever fits better.
    b0 = float(np.sum(w * v) / np.sum(w))
    if has_slope:
        a0 = max(float(np.sum(w * x * v) / np.sum(w * x * x)), 0.0)
        if np.sum(w * (v - a0 * x) ** 2) < np.sum(w * (v - b0) ** 2):
            return a0, 0.0
    return 0.0, max(b0, 0.0)


def estimate_noise(images: Sequence[torch.Tensor] | torch.Tensor) -> NoiseProfile:
    """Fit a Poisson-Gaussian :class:`NoiseProfile` to the noise in one or more images.

    images: a list of (3, H, W) or (B, 3, H, W) float tensors in [0, 1] (a single tensor is
    accepted too); all channels and images are pooled. Works on single images; the more flat
    area at varied intensities, the better the slope ``a``. Tiny images give a best-effort
    profile (``a = 0`` when the intensity range is too narrow to fit a slope).
    """
    if isinstance(images, torch.Tensor):
        images = [images]
    if images is None or len(images) == 0:
        raise ValueError("estimate_noise needs at least one image, got an empty list")
    resids, means = [], []
    for i, item in enumerate(images):
        for img in _as_batch(item, what=f"images[{i}]"):
            r, m = _flat_samples(img)
            resids.append(r)
            means.append(m)
    resid, mean = np.concatenate(resids), np.concatenate(means)
    if resid.size == 0:
        warnings.warn("estimate_noise: no usable pixels (images smaller than 3x3 or saturated); "
                      "returning a zero noise profile", stacklevel=2)
        return NoiseProfile(0.0, 0.0)
    x, v, n = _bin_variances(resid, mean, _MIN_BIN_COUNT)
    if len(x) == 0:  # too few samples for any bin: one pooled estimate, no slope
        x, v, n = _bin_variances(resid, np.full_like(mean, 0.5), 1)
    # Variance of a variance estimate is ~ 2 v^2 / n, hence these inverse-variance weights.
    w = n / np.maximum(v, _VAR_FLOOR) ** 2
    a, b = _fit_nonneg_line(x, v, w)
    return NoiseProfile(a, b)


def jpeg_profile(path: str | os.PathLike) -> JpegProfile | None:
    """The :class:`JpegProfile` of a JPEG file, or None when the file is not a JPEG.

    The quality is the IJG quality (1..100) whose scaled Annex K luminance table is closest to
    the file's; for encoders with custom tables (many cameras) it is the nearest IJG equivalent.
    Raises FileNotFoundError for a missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return None
            tables = getattr(im, "quantization", None) or {}
            sampling = JpegImagePlugin.get_sampling(im)
    except UnidentifiedImageError:
        return None
    if 0 not in tables or len(tables[0]) != 64:
        return None  # a JPEG without a readable luminance table: nothing to compare
    luma = np.asarray(list(tables[0]), dtype=np.int64)
    dist = np.abs(_IJG_TABLES - luma[None, :]).sum(axis=1)
    quality = int(np.argmin(dist)) + 1
    subsampling = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(sampling, "4:2:0")
    return JpegProfile(quality=quality, subsampling=subsampling)


def estimate_camera_look(paths: Sequence[str | os.PathLike], max_images: int = 32,
                         generator: torch.Generator | None = None) -> CameraLook:
    """Estimate a camera's :class:`CameraLook` from its (sharp) image files.

    Noise is fitted on up to `max_images` files, evenly spaced through `paths` (or, when a
    `generator` is given, a random subset drawn from it), each cut to a centre crop of at most
    512x512. The JPEG profile is the most common one among all JPEG files (None if there is none).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("estimate_camera_look needs at least one image path, got an empty list")
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    n = len(paths)
    if n <= max_images:
        chosen = list(range(n))
    elif generator is not None:
        chosen = sorted(torch.randperm(n, generator=generator)[:max_images].tolist())
    elif max_images == 1:
        chosen = [n // 2]
    else:  # evenly spaced, first and last included
        chosen = sorted({round(i * (n - 1) / (max_images - 1)) for i in range(max_images)})
    images = [centre_crop(read_image(paths[i])[0], _MAX_CROP) for i in chosen]
    noise = estimate_noise(images)
    profiles = [p for p in (jpeg_profile(path) for path in paths) if p is not None]
    jpeg = Counter(profiles).most_common(1)[0][0] if profiles else None
    return CameraLook(noise=noise, jpeg=jpeg)


def add_noise(img: torch.Tensor, target: NoiseProfile, generator: torch.Generator | None = None,
              present: NoiseProfile | None = None) -> torch.Tensor:
    """Top the noise of `img` up to `target`: add zero-mean Gaussian noise, clamp to [0, 1].

    img: (3, H, W) or (B, 3, H, W) float in [0, 1]. The added variance at a pixel of value x is
    ``max(target(x) - present(x), 0)``, so an image that still carries noise `present` is not
    made noisier than the camera. Same shape, dtype and device as `img`; deterministic given
    `generator` (which always advances by one draw per pixel, whatever the profiles).
    """
    batched = _as_batch(img)
    x = batched.clamp(0, 1)
    var = target.a * x + target.b
    if present is not None:
        var = var - (present.a * x + present.b)
    std = var.clamp_min(0).sqrt()
    gen_device = generator.device if generator is not None else x.device
    noise = torch.randn(x.shape, generator=generator, device=gen_device, dtype=torch.float32)
    out = (x + std * noise.to(device=x.device, dtype=x.dtype)).clamp(0, 1)
    return out if img.ndim == 4 else out[0]


_PIL_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def apply_jpeg(img: torch.Tensor, profile: JpegProfile) -> torch.Tensor:
    """JPEG-compress `img` in memory with Pillow at `profile`'s quality and subsampling.

    img: (3, H, W) or (B, 3, H, W) float in [0, 1], rounded to 8 bits before encoding. Returns the
    decoded image, same shape, dtype and device, values multiples of 1/255.
    """
    batched = _as_batch(img)
    arr = (batched.detach().clamp(0, 1) * 255).round().to(device="cpu", dtype=torch.uint8)
    arr = np.ascontiguousarray(arr.permute(0, 2, 3, 1).numpy())
    out = []
    for a in arr:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=profile.quality,
                                            subsampling=_PIL_SUBSAMPLING[profile.subsampling])
        buf.seek(0)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("RGB")))
    res = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(device=img.device, dtype=img.dtype) / 255
    return res if img.ndim == 4 else res[0]


def apply_camera_look(img: torch.Tensor, look: CameraLook, generator: torch.Generator | None = None,
                      present: NoiseProfile | None = None) -> torch.Tensor:
    """Noise first, then JPEG: the order of a camera pipeline. img: (3, H, W) or (B, 3, H, W) in [0, 1].

    `present` is the noise `img` already carries (see :func:`add_noise`). Parts of `look` that
    are None are skipped; the result is always clamped to [0, 1].
    """
    out = _as_batch(img).clamp(0, 1)
    out = out if img.ndim == 4 else out[0]
    if look.noise is not None:
        out = add_noise(out, look.noise, generator=generator, present=present)
    if look.jpeg is not None:
        out = apply_jpeg(out, look.jpeg)
    return out
