"""A camera simulator: sharp photos in, the blurry photos a named camera would have taken out.

GoPro, REDS and RSBlur cannot be downloaded here, so the paper-style experiments need cameras
of their own: a *known* camera whose (blurry, sharp) pairs train the deblurrer, and *unknown*
cameras with other blur, noise and processing. Each camera is a :class:`CameraConfig`; the
simulation of one image follows the physics of an exposure::

    sharp (display values) --inverse response--> linear light
        --> mean over sub-frames of the image warped by the hand-shake pose at each sub-frame
        --> x gain, + Poisson-Gaussian sensor noise, clip to [0, 1]   (raw / linear space)
        --> camera response --> JPEG round trip (optional) --> blurry (display values)

Hand shake is a random walk with inertia over one frame interval: a velocity that persists
(``momentum``) plus a random acceleration each step, for the translation and, independently,
for an in-plane rotation about the image centre or a random point (rotation makes the blur vary
across the frame). The walk is scaled so its extent over the whole interval is a drawn number
of pixels (degrees); ``exposure`` is the fraction of the interval the shutter is open, so with
the same seed a longer exposure integrates a longer prefix of the *same* path and blurs more.
The sharp target is aligned with the pose at mid-exposure, like GoPro's middle frame.

Noise is added in linear light, before the response curve, as in a real sensor (photon shot
noise and read noise live in the raw data; the tone curve then amplifies shadow noise). Its
variance at linear signal ``x`` in [0, 1] is ``noise_a * x + noise_b`` (the same model as
:class:`blur2blur.data.camera_look.NoiseProfile`).

Presets (``PRESETS``). Extent: the largest distance a pixel travels during the exposure; PSNR: blurry vs
sharp, measured on all 91 bundled demo photos (short side 288 px) with seed 0 by
``python -m blur2blur.data.camera_sim`` (mean, and range over the photos)::

    preset       imitates                                              extent (px)         PSNR (dB)
    -----------  ----------------------------------------------------  ------------------  ------------------
    gopro_like   the known camera: 11 averaged high-fps frames,         13.9 (6.4 - 21.6)   23.2 (15.4 - 38.9)
                 smooth near-straight motion, no rotation, gamma 2.2,
                 no noise, lossless
    phone_like   an unknown camera: jittery curved hand shake over      16.0 (5.7 - 28.5)   22.7 (13.8 - 34.4)
                 60% of the frame, 0.5-2.5 deg roll about a random
                 point, sRGB + S-curve, shot/read noise, JPEG q=88
    webcam_like  an unknown camera: long exposure, small drift, gain     7.0 (3.2 - 10.5)   21.2 (16.2 - 26.6)
                 1.25 (highlights clip), gamma 2.0, strong noise,
                 JPEG q=60 (its PSNR is mostly gain, noise and JPEG)

The sharp targets written by :func:`write_camera_pairs` are the photos themselves by default (clean ground
truth); ``sharp="camera"`` writes :func:`simulate_still` instead, the camera's own sharp shot with its noise,
tone and JPEG, as the paper's sharp set S is; ``sharp="clean"`` writes that shot without noise and JPEG,
the camera's tone alone, which is what a paired dataset of the camera would hold as ground truth.

Randomness: every draw for image ``index`` comes from ``generator(seed, index)`` (motion) and
``generator(seed, index, 1)`` (noise; ``generator(seed, index, 2)`` in :func:`simulate_still`), and
the draws do not depend on the config's values (only on ``trajectory_steps``): each image is
reproducible alone, and two configs with the same seed share the same random numbers (handy for
sweeps; use different seeds for independent cameras).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.data.camera_look import SUBSAMPLINGS, JpegProfile, NoiseProfile, add_noise, apply_jpeg
from blur2blur.fileio import atomic_write_text
from blur2blur.seeding import generator

__all__ = [
    "PRESETS",
    "CameraConfig",
    "Trajectory",
    "blur_extent",
    "camera_response",
    "draw_trajectory",
    "get_camera",
    "integrate_poses",
    "inverse_camera_response",
    "measure_blur",
    "simulate",
    "simulate_still",
    "video_to_pairs",
    "write_camera_pairs",
]

_MANIFEST_FORMAT = "blur2blur.camera_sim/1"


def _check_range(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not all(math.isfinite(v) for v in value) or not 0 <= value[0] <= value[1]:
        raise ValueError(f"CameraConfig.{name} must be a range (low, high) with 0 <= low <= high, got {value!r}")


@dataclass(frozen=True)
class CameraConfig:
    """One simulated camera. Change fields with ``dataclasses.replace`` or ``config.apply_overrides``."""

    name: str = "custom"
    """Recorded in every image's record and the manifest."""

    exposure: float = 1.0
    """Fraction of the frame interval the shutter is open, in [0, 1]: the share of the hand-shake path that
    is integrated. 0 gives back the sharp image (apart from gain, noise and JPEG)."""

    subframes: int = 24
    """Number of sub-frames averaged over the exposure, >= 1. Few (e.g. 7-13, as GoPro averages 240 fps
    frames) leave the ghosting of frame averaging on large motion; many imitate a continuous exposure."""

    trajectory_steps: int = 64
    """Steps of the random walk over the whole frame interval (its time resolution), >= 2."""

    momentum: float = 0.9
    """Velocity persistence per step, in [0, 1], of both the translation and the rotation walk: 1 keeps the
    initial velocity (smooth, straight motion), small values give jittery, hand-held shake."""

    acceleration: float = 0.3
    """Standard deviation of the random acceleration per step, relative to the initial speed (>= 0)."""

    translation: tuple[float, float] = (6.0, 18.0)
    """Range (low, high) the translation extent is drawn from (uniformly): the diameter of the path over the
    whole frame interval (exposure 1), in `translation_units`."""

    translation_units: Literal["pixels", "short_side"] = "pixels"
    """``pixels``: `translation` is absolute; ``short_side``: a fraction of the image's shorter side."""

    rotation: tuple[float, float] = (0.0, 0.0)
    """Range (low, high) in degrees the in-plane rotation extent over the frame interval is drawn from."""

    rotation_centre: Literal["centre", "random"] = "centre"
    """Point the camera rotates about: the image centre, or a point drawn uniformly inside the image."""

    response: Literal["gamma", "srgb", "linear"] = "gamma"
    """Camera response (linear light -> stored values): ``x ** (1 / gamma)``, the sRGB curve, or none."""

    gamma: float = 2.2
    """Exponent of the ``gamma`` response (> 0); ignored by the others."""

    contrast: float = 1.0
    """Strength c > 0 of an S-shaped tone curve applied after the response, ``y**c / (y**c + (1-y)**c)``:
    1 is none, > 1 adds mid-tone contrast and compresses shadows and highlights."""

    gain: float = 1.0
    """Exposure gain in linear light (> 0), applied before clipping: > 1 over-exposes and bright areas
    saturate at 1 like a full sensor well."""

    noise_a: float = 0.0
    """Shot-noise coefficient: Poisson-Gaussian variance ``noise_a * x + noise_b`` at linear signal x."""

    noise_b: float = 0.0
    """Read-noise variance (signal independent), in linear light."""

    jpeg_quality: int | None = None
    """JPEG quality 1..100 of the stored image; None stores it losslessly."""

    jpeg_subsampling: str = "4:2:0"
    """Chroma subsampling of the JPEG: ``4:4:4``, ``4:2:2`` or ``4:2:0``."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.exposure) and 0 <= self.exposure <= 1):
            raise ValueError(f"CameraConfig.exposure must be in [0, 1], got {self.exposure!r}")
        if self.subframes < 1:
            raise ValueError(f"CameraConfig.subframes must be >= 1, got {self.subframes!r}")
        if self.trajectory_steps < 2:
            raise ValueError(f"CameraConfig.trajectory_steps must be >= 2, got {self.trajectory_steps!r}")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"CameraConfig.momentum must be in [0, 1], got {self.momentum!r}")
        if not (math.isfinite(self.acceleration) and self.acceleration >= 0):
            raise ValueError(f"CameraConfig.acceleration must be >= 0, got {self.acceleration!r}")
        _check_range("translation", self.translation)
        _check_range("rotation", self.rotation)
        for name in ("gamma", "contrast", "gain"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"CameraConfig.{name} must be > 0, got {v!r}")
        NoiseProfile(self.noise_a, self.noise_b)  # validates a, b >= 0
        if self.jpeg_quality is not None:
            JpegProfile(self.jpeg_quality, self.jpeg_subsampling)
        elif self.jpeg_subsampling not in SUBSAMPLINGS:
            raise ValueError(f"CameraConfig.jpeg_subsampling must be one of {SUBSAMPLINGS}, "
                             f"got {self.jpeg_subsampling!r}")

    @property
    def noise(self) -> NoiseProfile | None:
        """The sensor noise in linear light, or None for a noise-free camera."""
        return NoiseProfile(self.noise_a, self.noise_b) if self.noise_a > 0 or self.noise_b > 0 else None

    @property
    def jpeg(self) -> JpegProfile | None:
        """The JPEG settings, or None for lossless storage."""
        return None if self.jpeg_quality is None else JpegProfile(self.jpeg_quality, self.jpeg_subsampling)

    def to_dict(self) -> dict:
        """Plain JSON/YAML data (tuples as lists)."""
        from blur2blur.config import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CameraConfig:
        """The config back from :meth:`to_dict` (type-checked; unknown keys are an error)."""
        from blur2blur.config import from_dict

        return from_dict(cls, data)


PRESETS: dict[str, CameraConfig] = {
    # GoPro-style: the blurry frame is the mean of 11 consecutive sharp 240 fps frames, the camera
    # moves smoothly and almost in a straight line over that short window.
    "gopro_like": CameraConfig(
        name="gopro_like", exposure=1.0, subframes=11, momentum=1.0, acceleration=0.02, translation=(6.0, 22.0),
        rotation=(0.0, 0.0), response="gamma", gamma=2.2, contrast=1.0, gain=1.0, noise_a=0.0, noise_b=0.0,
        jpeg_quality=None),
    # A hand-held phone: short jittery shake that turns, some roll about a point off-centre, a punchy
    # tone curve, denoised-phone level noise and JPEG.
    "phone_like": CameraConfig(
        name="phone_like", exposure=0.6, subframes=48, momentum=0.75, acceleration=0.8, translation=(7.0, 26.0),
        rotation=(0.5, 2.5), rotation_centre="random", response="srgb", contrast=1.25, gain=1.0,
        noise_a=3e-4, noise_b=4e-6, jpeg_quality=88, jpeg_subsampling="4:2:0"),
    # A webcam in dim light: long exposure, small slow drift, auto-exposure that over-exposes, strong
    # noise and heavy JPEG.
    "webcam_like": CameraConfig(
        name="webcam_like", exposure=1.0, subframes=32, momentum=0.9, acceleration=0.3, translation=(3.0, 10.0),
        rotation=(0.0, 0.5), rotation_centre="centre", response="gamma", gamma=2.0, contrast=0.9, gain=1.25,
        noise_a=1.5e-3, noise_b=1e-4, jpeg_quality=60, jpeg_subsampling="4:2:0"),
}


def get_camera(camera: CameraConfig | str, overrides: Sequence[str] = ()) -> CameraConfig:
    """A preset by name (or a config as is), with ``field=value`` overrides (see ``config.apply_overrides``).

    Raises ValueError for an unknown preset name and ``config.ConfigError`` (a ValueError) for a bad override.
    """
    if isinstance(camera, str):
        if camera not in PRESETS:
            raise ValueError(f"unknown camera {camera!r}; choose one of {', '.join(PRESETS)}")
        camera = PRESETS[camera]
    if not isinstance(camera, CameraConfig):
        raise TypeError(f"camera must be a CameraConfig or a preset name, got {type(camera).__name__}")
    if overrides:
        from blur2blur.config import apply_overrides

        camera = apply_overrides(camera, list(overrides))
    return camera


# --------------------------------------------------------------------------- response curves


def _s_curve(y: torch.Tensor, c: float) -> torch.Tensor:
    # y**c / (y**c + (1-y)**c): fixes 0, 1/2 and 1, and its inverse is the same curve with 1/c.
    yc, rc = y.pow(c), (1 - y).pow(c)
    return yc / (yc + rc)


def camera_response(linear: torch.Tensor, camera: CameraConfig) -> torch.Tensor:
    """Linear light in [0, 1] -> stored values in [0, 1] (any shape): the response, then the S-curve."""
    x = linear.clamp(0, 1)
    if camera.response == "gamma":
        y = x.pow(1 / camera.gamma)
    elif camera.response == "srgb":
        y = torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308).pow(1 / 2.4) - 0.055)
    else:
        y = x
    if camera.contrast != 1:
        y = _s_curve(y.clamp(0, 1), camera.contrast)
    return y.clamp(0, 1)


def inverse_camera_response(values: torch.Tensor, camera: CameraConfig) -> torch.Tensor:
    """Stored values in [0, 1] -> linear light in [0, 1] (any shape); inverse of :func:`camera_response`."""
    y = values.clamp(0, 1)
    if camera.contrast != 1:
        y = _s_curve(y, 1 / camera.contrast)
    if camera.response == "gamma":
        x = y.pow(camera.gamma)
    elif camera.response == "srgb":
        x = torch.where(y <= 0.04045, y / 12.92, ((y.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4))
    else:
        x = y
    return x.clamp(0, 1)


# --------------------------------------------------------------------------- hand-shake trajectory


@dataclass(frozen=True)
class Trajectory:
    """The camera's poses during one exposure.

    poses: ``(subframes, 3)`` float64, per sub-frame ``(dx, dy, angle)``: the sharp image is sampled at
    ``R(angle) (p - centre) + centre + (dx, dy)`` for output pixel p (x right, y down, pixels; angle in
    degrees). Relative to the pose at mid-exposure, so a zero-length exposure gives all-zero poses.
    centre: ``(cx, cy)`` rotation centre in pixels. summary: JSON-ready statistics (see :func:`draw_trajectory`).
    """

    poses: np.ndarray
    centre: tuple[float, float]
    summary: dict


def _diameter(points: np.ndarray) -> float:
    """Largest distance between two of ``(N, 2)`` points."""
    if len(points) < 2:
        return 0.0
    d = points[:, None, :] - points[None, :, :]
    return float(np.sqrt((d**2).sum(-1)).max())


def _walk(start: np.ndarray, accel: np.ndarray, momentum: float, scale: float) -> np.ndarray:
    """Positions of a walk whose velocity persists (`momentum`) and gets `scale` * `accel` added each step.

    start: initial velocity ``(D,)``; accel: ``(T, D)`` standard normal draws. Returns ``(T + 1, D)`` from 0.
    """
    v, pos = start.astype(np.float64), [np.zeros_like(start, dtype=np.float64)]
    for a in accel:
        pos.append(pos[-1] + v)
        v = momentum * v + scale * a
    return np.stack(pos)


def _track(times: np.ndarray, grid: np.ndarray, xy: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Translation ``(N, 2)`` and angle ``(N,)`` of the piecewise-linear walk at `times` in [0, 1]."""
    t = np.stack([np.interp(times, grid, xy[:, 0]), np.interp(times, grid, xy[:, 1])], axis=1)
    return t, np.interp(times, grid, angle)


def _point_tracks(points: np.ndarray, centre: np.ndarray, t: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    """Where each of ``(P, 2)`` image points samples the sharp image at each pose: ``(P, N, 2)``."""
    a = np.deg2rad(angle_deg)
    rel = points - centre
    cos, sin = np.cos(a)[None, :], np.sin(a)[None, :]
    x = cos * rel[:, :1] - sin * rel[:, 1:] + centre[0] + t[None, :, 0]
    y = sin * rel[:, :1] + cos * rel[:, 1:] + centre[1] + t[None, :, 1]
    return np.stack([x, y], axis=-1)


def draw_trajectory(camera: CameraConfig, height: int, width: int, seed: int, index: int = 0) -> Trajectory:
    """The hand-shake poses of image `index` for an image of `height` x `width` pixels.

    The summary holds ``translation_px`` / ``rotation_max_deg`` (extents drawn for the whole frame
    interval), ``extent_px`` (the largest distance any of 9 probe points - corners, edge middles, centre -
    travels during the exposure: the blur extent), ``extent_at_centre_px``, ``translation_extent_px``,
    ``rotation_deg`` (angle range during the exposure), ``path_length_px`` and ``straightness``
    (translation extent / path length: 1 is a straight line).
    """
    steps = camera.trajectory_steps
    g = generator(seed, index)
    # Always the same draws in the same order, whatever the config: the streams of two configs stay aligned.
    u = torch.rand(6, generator=g, dtype=torch.float64).numpy()
    accel = torch.randn(steps, 3, generator=g, dtype=torch.float64).numpy()

    unit = min(height, width) if camera.translation_units == "short_side" else 1.0
    lo, hi = camera.translation
    trans_mag = (lo + (hi - lo) * u[0]) * unit
    rlo, rhi = camera.rotation
    rot_mag = rlo + (rhi - rlo) * u[1]
    if camera.rotation_centre == "random":
        centre = np.array([u[2] * (width - 1), u[3] * (height - 1)])
    else:
        centre = np.array([(width - 1) / 2, (height - 1) / 2])
    phi = 2 * math.pi * u[4]
    xy = _walk(np.array([math.cos(phi), math.sin(phi)]), accel[:, :2], camera.momentum, camera.acceleration)
    angle = _walk(np.array([1.0 if u[5] < 0.5 else -1.0]), accel[:, 2:], camera.momentum, camera.acceleration)[:, 0]
    diameter, spread = _diameter(xy), float(np.ptp(angle))
    xy = xy * (trans_mag / diameter) if diameter > 0 else xy * 0
    angle = angle * (rot_mag / spread) if spread > 0 else angle * 0

    grid = np.linspace(0.0, 1.0, steps + 1)
    e = camera.exposure
    n = camera.subframes
    times = np.array([e / 2]) if n == 1 else np.linspace(0.0, e, n)
    t, a = _track(times, grid, xy, angle)
    t_mid, a_mid = _track(np.array([e / 2]), grid, xy, angle)
    poses = np.concatenate([t - t_mid, (a - a_mid)[:, None]], axis=1)
    if e == 0:
        poses = np.zeros_like(poses)  # exactly the identity, not interpolation round-off

    # Statistics on the continuous (piecewise-linear) path over [0, e]: its vertices inside, plus the end,
    # so they grow monotonically with the exposure.
    vt = np.concatenate([grid[grid < e], [e]])
    pt, pa = _track(vt, grid, xy, angle)
    probes = np.array([[x, y] for y in (0.0, (height - 1) / 2, height - 1) for x in (0.0, (width - 1) / 2, width - 1)])
    tracks = _point_tracks(probes, centre, pt, pa)
    extents = [_diameter(tr) for tr in tracks]
    length = float(np.sqrt((np.diff(pt, axis=0) ** 2).sum(-1)).sum())
    trans_extent = _diameter(pt)
    summary = {
        "translation_px": round(float(trans_mag), 4),
        "rotation_max_deg": round(float(rot_mag), 4),
        "rotation_centre": [round(float(c), 2) for c in centre],
        "extent_px": round(max(extents), 4),
        "extent_at_centre_px": round(extents[4], 4),
        "translation_extent_px": round(trans_extent, 4),
        "rotation_deg": round(float(np.ptp(pa)), 4),
        "path_length_px": round(length, 4),
        "straightness": round(trans_extent / length, 4) if length > 0 else 1.0,
    }
    return Trajectory(poses=poses, centre=(float(centre[0]), float(centre[1])), summary=summary)


# --------------------------------------------------------------------------- integration


def integrate_poses(image: torch.Tensor, poses: np.ndarray | torch.Tensor, centre: tuple[float, float], *,
                    max_batch: int = 16) -> torch.Tensor:
    """Mean over poses of `image` warped by each pose (see :class:`Trajectory` for the convention).

    image: ``(C, H, W)`` float (linear light, for a physical exposure). poses: ``(N, 3)`` ``(dx, dy,
    angle_deg)``. Bilinear sampling, borders reflected (no black edges). Up to `max_batch` poses are
    warped in one ``grid_sample`` call, bounding memory to ``max_batch`` copies of the image.
    Returns ``(C, H, W)``, same dtype.
    """
    poses = torch.as_tensor(np.asarray(poses), dtype=torch.float64)
    if poses.ndim != 2 or poses.shape[1] != 3 or len(poses) == 0:
        raise ValueError(f"poses must have shape (N, 3) with N >= 1, got {tuple(poses.shape)}")
    if image.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W), got {tuple(image.shape)}")
    if not poses.abs().any():
        return image.clone()  # no motion: every sub-frame is the image itself
    c, h, w = image.shape
    cx, cy = centre
    a = torch.deg2rad(poses[:, 2])
    cos, sin = a.cos(), a.sin()
    # Pixel-space affine q = M p (rotation about the centre, then the shift), moved into grid_sample's
    # normalised coordinates (align_corners=True: -1 and 1 are the first and last pixel centres) as S M S^-1.
    m = torch.zeros(len(poses), 3, 3, dtype=torch.float64)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1], m[:, 2, 2] = cos, -sin, sin, cos, 1
    m[:, 0, 2] = cx - cos * cx + sin * cy + poses[:, 0]
    m[:, 1, 2] = cy - sin * cx - cos * cy + poses[:, 1]
    sx, sy = (2 / (w - 1) if w > 1 else 0.0), (2 / (h - 1) if h > 1 else 0.0)
    s = torch.tensor([[sx, 0, -1], [0, sy, -1], [0, 0, 1]], dtype=torch.float64)
    s_inv = torch.tensor([[1 / sx if sx else 0, 0, 1 / sx if sx else 0], [0, 1 / sy if sy else 0, 1 / sy if sy else 0],
                          [0, 0, 1]], dtype=torch.float64)
    theta = (s @ m @ s_inv)[:, :2].to(image.dtype)
    # Homogeneous normalised pixel coordinates (H*W, 3); one matmul per chunk is ~2x faster than affine_grid.
    xn = torch.linspace(-1, 1, w, dtype=image.dtype) if w > 1 else torch.zeros(1, dtype=image.dtype)
    yn = torch.linspace(-1, 1, h, dtype=image.dtype) if h > 1 else torch.zeros(1, dtype=image.dtype)
    base = torch.stack([xn.expand(h, w), yn[:, None].expand(h, w), torch.ones(h, w, dtype=image.dtype)], -1)
    base = base.view(h * w, 3)
    total = torch.zeros_like(image)
    for chunk in theta.split(max_batch):
        grid = torch.matmul(base, chunk.transpose(1, 2)).view(len(chunk), h, w, 2)
        warped = F.grid_sample(image.expand(len(chunk), c, h, w), grid, mode="bilinear", padding_mode="reflection",
                               align_corners=True)
        total += warped.sum(0)
    return total / len(poses)


def _check_image(sharp: torch.Tensor) -> torch.Tensor:
    if not isinstance(sharp, torch.Tensor) or not sharp.is_floating_point():
        raise TypeError("sharp must be a float tensor in [0, 1]")
    if sharp.ndim != 3 or sharp.shape[0] != 3:
        raise ValueError(f"sharp must have shape (3, H, W), got {tuple(sharp.shape)}")
    return sharp.detach().to("cpu", torch.float32).clamp(0, 1)


def simulate(sharp: torch.Tensor, camera: CameraConfig | str, seed: int, index: int = 0, *,
             max_batch: int = 16) -> tuple[torch.Tensor, dict]:
    """The blurry image `camera` takes of the scene `sharp`, and a JSON-ready record of how.

    sharp: ``(3, H, W)`` float in [0, 1] (display values, e.g. from ``read_image``). Returns ``(blurry,
    record)``: blurry ``(3, H, W)`` float32 on the CPU in [0, 1] (multiples of 1/255 for JPEG cameras);
    record: ``camera``, ``seed``, ``index``, ``size``, ``exposure``, ``subframes``, the trajectory summary
    (:func:`draw_trajectory`), ``poses`` (per sub-frame ``[dx, dy, angle_deg]``, rounded), ``noise``
    (``{"a", "b"}`` or None) and ``jpeg_quality``. The same ``(seed, index)`` gives a bit-identical result.
    """
    camera = get_camera(camera)
    x = _check_image(sharp)
    _, h, w = x.shape
    traj = draw_trajectory(camera, h, w, seed, index)
    linear = integrate_poses(inverse_camera_response(x, camera), traj.poses, traj.centre, max_batch=max_batch)
    blurry = _sensor_and_processing(linear, camera, generator(seed, index, 1))
    noise = camera.noise
    record = {
        "camera": camera.name,
        "seed": int(seed),
        "index": int(index),
        "size": [h, w],
        "exposure": camera.exposure,
        "subframes": camera.subframes,
        **traj.summary,
        "poses": [[round(float(v), 4) for v in p] for p in traj.poses],
        "noise": None if noise is None else noise.to_dict(),
        "jpeg_quality": camera.jpeg_quality,
    }
    return blurry, record


def _sensor_and_processing(linear: torch.Tensor, camera: CameraConfig, noise_gen: torch.Generator) -> torch.Tensor:
    """Integrated linear light -> stored image: gain, noise, clipping, response, JPEG."""
    linear = linear * camera.gain
    if camera.noise is not None:
        # Sensor noise lives in raw (linear) data; add_noise also clips at the full well (1).
        linear = add_noise(linear, camera.noise, generator=noise_gen)
    out = camera_response(linear.clamp(0, 1), camera)
    if camera.jpeg is not None:
        out = apply_jpeg(out, camera.jpeg)
    return out.clamp(0, 1)


def simulate_still(sharp: torch.Tensor, camera: CameraConfig | str, seed: int, index: int = 0, *,
                   clean: bool = False) -> torch.Tensor:
    """The photo `camera` takes of `sharp` when nothing moves: its gain, noise, tone curve and JPEG, no blur.

    This is the paper's sharp set S: sharp images *from the camera itself*, sharing its look. The noise is
    drawn from ``generator(seed, index, 2)``, independent of the blurry image's. ``clean=True`` leaves out
    the noise and the JPEG: the camera's tone (gain, clipping, response) alone, which is what a paired
    dataset's ground truth of this camera looks like and so what its deblurred images are scored against.
    ``(3, H, W)`` in [0, 1].
    """
    camera = get_camera(camera)
    if clean:
        camera = dataclasses.replace(camera, noise_a=0.0, noise_b=0.0, jpeg_quality=None)
    return _sensor_and_processing(inverse_camera_response(_check_image(sharp), camera), camera,
                                  generator(seed, index, 2))


def blur_extent(record: dict) -> float:
    """The blur extent in pixels of a :func:`simulate` record: how far the farthest-moving point travels."""
    return float(record["extent_px"])


def measure_blur(sharp: torch.Tensor, blurry: torch.Tensor) -> dict:
    """How blurry `blurry` is compared to `sharp` (both ``(3, H, W)`` in [0, 1]).

    ``psnr_db``: PSNR of blurry vs sharp (lower = more degraded); ``blur_effect`` and ``blur_effect_sharp``:
    scikit-image's no-reference blur metric (Crete et al. 2007; 0 sharp ... 1 blurry) on their luma.
    """
    from skimage.measure import blur_effect

    from blur2blur.metrics import psnr, rgb_to_y

    def luma(img: torch.Tensor) -> np.ndarray:
        return rgb_to_y(img.detach().double().cpu().clamp(0, 1))[0].numpy()

    return {
        "psnr_db": psnr(blurry.detach().cpu(), sharp.detach().cpu()),
        "blur_effect": float(blur_effect(luma(blurry))),
        "blur_effect_sharp": float(blur_effect(luma(sharp))),
    }


# --------------------------------------------------------------------------- datasets on disk


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    if not overwrite and ((out / "blur").exists() or (out / "sharp").exists()):
        raise FileExistsError(f"{out} already holds blur/ or sharp/; refusing to write over them "
                              "(choose another folder or pass overwrite)")


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, dynamic_ncols=True)


def _write_manifest(out: Path, data: dict) -> None:
    # The manifest appears whole, last: it marks a finished folder.
    atomic_write_text(out / "manifest.json", json.dumps(data, indent=1))


def _warn_stale(out: Path, stems: set[str]) -> None:
    stale = [p for d in ("blur", "sharp") if (out / d).is_dir() for p in sorted((out / d).iterdir())
             if p.is_file() and p.stem not in stems]
    if stale:
        warnings.warn(f"{out}: {len(stale)} file(s) in blur/ or sharp/ are not from this run (e.g. {stale[0]}); "
                      "they are left as they are", stacklevel=3)


def write_camera_pairs(photos: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                       camera: CameraConfig | str, *, seed: int = 0,
                       sharp: Literal["original", "camera", "clean"] = "original",
                       overwrite: bool = False, show_progress: bool = True) -> Path:
    """Simulate `camera` on each photo into ``out_dir/blur/<stem>.png`` + ``out_dir/sharp/<stem>.png``.

    That is the "folders" layout of :func:`blur2blur.data.pairs.find_pairs`. `photos`: image files,
    folders or glob patterns (expanded and sorted as ``images.expand_inputs`` does); photo i (in that order)
    is image index i. `sharp`: ``original`` writes the photo itself as the target (clean ground truth, for
    measuring a deblurrer); ``camera`` writes :func:`simulate_still` (the camera's own sharp shot with its
    noise, tone and JPEG, like the paper's set S); ``clean`` writes that shot without noise and JPEG (the
    camera's tone alone: the ground truth of a paired dataset of this camera, so that scores measure blur
    and not the camera's gain or clipping). Both images are 8-bit PNG; for JPEG cameras the blurry
    image is the decoded JPEG, stored losslessly. ``out_dir/manifest.json`` (written last) holds the camera
    config, the seed, `sharp` and each image's record plus its photo. A folder whose manifest says it
    was finished from the same photos and settings is returned as it is (a rerun is not an error).
    Refuses (FileExistsError) any other folder that already holds blur/ or sharp/ unless `overwrite`,
    which replaces same-named files and leaves others (with a warning). Raises ValueError when two
    photos share a stem or an output would land on an input. Returns `out_dir`.
    """
    from blur2blur.data.images import expand_inputs, read_image, write_image

    camera = get_camera(camera)
    if sharp not in ("original", "camera", "clean"):
        raise ValueError(f"sharp must be 'original', 'camera' or 'clean', got {sharp!r}")
    out = Path(out_dir)
    files = expand_inputs([photos] if isinstance(photos, (str, os.PathLike)) else list(photos))
    if not overwrite and _finished_camera_folder(out, camera, seed, sharp, files):
        return out
    _refuse_existing(out, overwrite)
    by_stem: dict[str, Path] = {}
    for f in files:
        if f.stem in by_stem:
            raise ValueError(f"two photos would both be written as {f.stem}.png: {by_stem[f.stem]} and {f}")
        by_stem[f.stem] = f
    inputs = {f.resolve() for f in files}
    for stem in by_stem:
        for sub in ("blur", "sharp"):
            if (out / sub / f"{stem}.png").resolve() in inputs:
                raise ValueError(f"{out / sub / (stem + '.png')} is one of the input photos; refusing to write over it")
    _warn_stale(out, set(by_stem))

    records = []
    with _progress(len(files), f"simulate {camera.name}", show_progress) as bar:
        for i, path in enumerate(files):
            photo, _ = read_image(path)
            blurry, record = simulate(photo, camera, seed, i)
            target = photo if sharp == "original" else simulate_still(photo, camera, seed, i, clean=sharp == "clean")
            write_image(target, out / "sharp" / f"{path.stem}.png", overwrite=overwrite)
            write_image(blurry, out / "blur" / f"{path.stem}.png", overwrite=overwrite)
            records.append({"stem": path.stem, "photo": str(path), **record})
            bar.update(1)
    out.mkdir(parents=True, exist_ok=True)
    _write_manifest(out, {"format": _MANIFEST_FORMAT, "kind": "camera", "layout": "folders",
                          "camera": camera.to_dict(), "seed": int(seed), "sharp": sharp, "images": records})
    return out


def _finished_camera_folder(out: Path, camera: CameraConfig, seed: int, sharp: str, files: list[Path]) -> bool:
    # The manifest is written last, so one that records these photos and settings marks this very run, done.
    try:
        done = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (done.get("format") == _MANIFEST_FORMAT and done.get("kind") == "camera"
            and done.get("camera") == json.loads(json.dumps(camera.to_dict())) and done.get("seed") == int(seed)
            and done.get("sharp") == sharp
            # The same photos however their paths were spelt (relative, through '..'): compared resolved.
            and [Path(str(r.get("photo"))).resolve() for r in done.get("images", [])] == [f.resolve() for f in files]
            and all((out / d / f"{f.stem}.png").is_file() for f in files for d in ("blur", "sharp")))


def _gamma_mean(frames: list[torch.Tensor], gamma: float) -> torch.Tensor:
    """Mean of display-valued frames in linear light: ``mean(f ** gamma) ** (1 / gamma)``, float64 inside."""
    stack = torch.stack(frames).double().clamp(0, 1)
    return stack.pow(gamma).mean(0).pow(1 / gamma).float()


def video_to_pairs(video_path: str | os.PathLike, out_dir: str | os.PathLike, *, window: int = 7,
                   stride: int | None = None, gamma: float = 2.2, limit: int | None = None,
                   overwrite: bool = False, show_progress: bool = True) -> Path:
    """Blur pairs from a real (high frame rate, sharp-ish) video, the way GoPro's dataset was made.

    Every `stride`-th run of `window` (odd) consecutive frames gives one pair: the blurry image is their
    mean in linear light (inverse gamma, mean, gamma; ``gamma=1`` averages the stored values) and the
    middle frame is the sharp target. `stride` defaults to `window` (no frame in two pairs); `limit` caps
    the number of pairs. Writes ``out_dir/{blur,sharp}/<video stem>_<middle frame:06d>.png`` and
    ``out_dir/manifest.json`` (each pair's frame indices). Refuses a folder holding blur/ or sharp/ unless
    `overwrite`; raises ValueError when the video has fewer frames than `window`. Returns `out_dir`.
    """
    from collections import deque

    from blur2blur.data.images import write_image
    from blur2blur.data.video import read_frames, video_info

    video = Path(video_path)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd number >= 1 (the middle frame is the target), got {window}")
    stride = window if stride is None else stride
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    out = Path(out_dir)
    if not overwrite and _finished_video_folder(out, video, window, stride, gamma, limit):
        return out  # the same command finished here before: a rerun is not an error
    _refuse_existing(out, overwrite)
    if not video.is_file():
        raise FileNotFoundError(f"{video}: no such file")
    frames_total = video_info(video)["frames"]
    expected = max(0, (frames_total - window) // stride + 1) if frames_total else None
    if expected is not None and limit is not None:
        expected = min(expected, limit)

    buf: deque[tuple[int, torch.Tensor]] = deque(maxlen=window)
    pairs, seen = [], 0
    with _progress(expected, f"pairs from {video.name}", show_progress) as bar:
        for idx, frame in read_frames(video):
            seen = idx + 1
            buf.append((idx, frame))
            first = idx - window + 1
            if len(buf) < window or first % stride:
                continue
            mid_idx, mid = buf[window // 2]
            stem = f"{video.stem}_{mid_idx:06d}"
            write_image(mid, out / "sharp" / f"{stem}.png", overwrite=overwrite)
            write_image(_gamma_mean([f for _, f in buf], gamma), out / "blur" / f"{stem}.png", overwrite=overwrite)
            pairs.append({"stem": stem, "frames": [i for i, _ in buf], "sharp_frame": mid_idx})
            bar.update(1)
            if limit is not None and len(pairs) >= limit:
                break
    if not pairs:
        raise ValueError(f"{video}: {seen} frame(s), fewer than one window of {window}")
    _write_manifest(out, {"format": _MANIFEST_FORMAT, "kind": "video", "layout": "folders", "video": str(video),
                          "window": window, "stride": stride, "gamma": gamma, "limit": limit, "pairs": pairs})
    return out


def _finished_video_folder(out: Path, video: Path, window: int, stride: int, gamma: float,
                           limit: int | None) -> bool:
    # As _finished_camera_folder: the manifest, written last, records this very run's settings.
    try:
        done = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (done.get("format") == _MANIFEST_FORMAT and done.get("kind") == "video"
            and done.get("video") == str(video) and done.get("window") == window and done.get("stride") == stride
            and done.get("gamma") == gamma and done.get("limit") == limit
            and all((out / d / f"{p['stem']}.png").is_file() for p in done.get("pairs", []) for d in ("blur", "sharp")))


# --------------------------------------------------------------------------- preset statistics


def measure_presets(photos: Sequence[str | os.PathLike] | None = None, *, seed: int = 0,
                    presets: Sequence[str] | None = None) -> dict[str, dict]:
    """Mean and range of the blur extent and PSNR (blurry vs sharp) of each preset over `photos`.

    Defaults: all presets, the bundled demo photos. Returns ``{preset: {"extent_px": (mean, min, max),
    "psnr_db": (mean, min, max), "images": n}}``.
    """
    from blur2blur.data.images import read_image

    if photos is None:
        from blur2blur.assets import demo_photos

        photos = demo_photos()
    images = [read_image(p)[0] for p in photos]
    stats = {}
    for name in presets or list(PRESETS):
        extents, psnrs = [], []
        for i, img in enumerate(images):
            blurry, record = simulate(img, name, seed, i)
            extents.append(blur_extent(record))
            psnrs.append(measure_blur(img, blurry)["psnr_db"])
        stats[name] = {"extent_px": (float(np.mean(extents)), float(np.min(extents)), float(np.max(extents))),
                       "psnr_db": (float(np.mean(psnrs)), float(np.min(psnrs)), float(np.max(psnrs))),
                       "images": len(images)}
    return stats


if __name__ == "__main__":  # python -m blur2blur.data.camera_sim [N]: the docstring table's numbers
    import sys

    from blur2blur.assets import demo_photos

    n = int(sys.argv[1]) if len(sys.argv) > 1 else None
    for preset, s in measure_presets(demo_photos()[:n]).items():
        e, p = s["extent_px"], s["psnr_db"]
        print(f"{preset:12s} extent {e[0]:5.1f} px ({e[1]:.1f}-{e[2]:.1f}), "
              f"PSNR {p[0]:5.2f} dB ({p[1]:.2f}-{p[2]:.2f}) over {s['images']} photos")
