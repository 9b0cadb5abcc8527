"""The filter translator: Blur2Blur's G (MIMO-UNet) emitting a blur filter per pixel instead of pixels.

Blur-to-blur translation is, for a fixed scene, a linear operation: the camera's image is
``S * k_cam``, the known blur ``S * k_known``, and one turns into the other by a filter
(``k_known * k_cam^-1``) that varies slowly across the image with the motion. The paper's G
predicts the output pixels (input + residual), which lets it also change what the image shows;
on small data it fools the discriminator with colour shifts, halos and texture instead of
changing the blur (BENCHMARKS.md, "Camera `ghost`"). This network keeps MIMO-UNet's body and its
three output levels, but each level's head predicts a K x K filter per pixel, and the level's
image is its input filtered by them (:func:`blur2blur.ops.filter_per_pixel`):

* the filter's taps sum to one (the head's output minus its mean, plus a unit centre tap), so a
  flat region keeps its value: no colour or brightness shift;
* one filter for all three channels, so colours cannot be mixed or shifted apart;
* the reach is K // 2 pixels at each level (so 2x and 4x that at the coarser levels, in
  full-resolution pixels); taps may be negative, so it can sharpen as well as blur (unless ``nonnegative``);
* the filters vary smoothly across the image (the head's output is box-averaged over ``smooth``
  pixels, as camera blur varies with the motion, slowly): filters that change from pixel to pixel
  would draw texture, the other way to fool D (BENCHMARKS.md);
* with ``nonnegative``, the taps are a weighted average (negative taps clipped to zero, then
  renormalised): every output pixel lies between the darkest and brightest input pixel it sees, so
  G can blur but cannot ring or draw halos, the last route by which the signed filters fooled D; the head
  then passes through tanh, since nothing else bounds it (BENCHMARKS.md, "G's heads grew without bound").

With ``direction_angles`` > 0, G also sees where its input's blur points (:func:`direction_features`,
extra input channels beside the image): the same network without them learned one filter for every
image, whatever its blur's direction, even when trained supervised on the perfect target
(BENCHMARKS.md, "a G that learns one filter for every image"). With ``steer`` as well, each
filter is predicted in the blur's own frame and turned to the direction those features read at
that pixel: G then only learns the filter's profile along and across the blur (BENCHMARKS.md, "a G
told where its input's blur points"; ``direction_reading="whole"`` reads one direction per image from
every offset of the autocorrelation, which a strobed blur needs). With ``stretch`` as well, that profile
is also stretched along the blur by how far the input's blur reaches (:func:`blur_length`): G learns
the profile in units of its input's blur length, so a long blur gets a long filter and a short one a
short filter without G having to learn that; adversarially trained, the unstretched G gave every image about one length
(BENCHMARKS.md, "G gives every shot one blur length").

Zero heads give the unit filter: :meth:`FilterTranslator.init_identity` starts it as the identity
exactly, as the paper's G starts. Not part of the paper; the translator's option
``arch=b2b_filter_translator``.
"""

from __future__ import annotations

import math
from typing import Any

import kornia
import torch
import torch.nn.functional as F

from blur2blur.models.blur_statistics import gaussian_window, laplacian, shifted_products, whole_autocorrelation
from blur2blur.models.mimo_unet import MIMO_UNET_NUM_RES, B2BTranslator, _MIMOUNetBase, head_channels, mimo_body_config
from blur2blur.models.registry import MULTISCALE, register_model
from blur2blur.ops import filter_per_pixel


DIRECTION_RADII = range(2, 8)  # px: the offsets at which the autocorrelation is read (blur extents of ~4-16 px)
LENGTH_RADII = range(2, 17)    # px: the offsets along the blur at which its length is read (blurs up to ~30 px)
LENGTH_THRESHOLD = 0.02        # the correlation read as the blur's: below it, what an unblurred image has at 2+ px
LENGTH_REFERENCE = 8.0         # px: the read length at which a stretched filter is the profile as G predicts it
STRETCH_RANGE = (0.25, 2.0)    # the stretch's bounds: a filter reaches K // 2 taps, so more would cut it off


def direction_features(x: torch.Tensor, angles: int = 12, sigma: float = 32.0) -> torch.Tensor:
    """Where the blur of ``x`` points: its whitened autocorrelation along ``angles`` directions.

    A motion blur repeats every detail along its path, so the image correlates with itself along
    that direction; the Laplacian whitens the scene (its own edges correlate little at 2-7 px),
    which leaves mostly the blur's correlation (the classic estimate of a motion blur's direction
    from the derivative image's autocorrelation). For each direction ``pi * a / angles`` the product
    ``lap(p) * lap(p + r * (cos, sin))`` is averaged over radii r in :data:`DIRECTION_RADII` and
    normalised by ``lap(p)^2``: locally (a Gaussian window of `sigma` px) and over the whole image.
    Each group has its mean over the directions removed, so only the anisotropy is left
    (:mod:`blur2blur.models.blur_statistics`).

    x: (B, 3, H, W) in [0, 1] -> (B, 2 * angles, H, W): the local values, then the whole image's
    (constant over H, W), roughly in [-1, 1] (x8; measured 0.05-0.15 before scaling on photographs).
    """
    if angles < 1:
        raise ValueError(f"angles must be positive, got {angles}")
    lap = laplacian(x)
    along = torch.cat([sum(products) / len(products)
                       for products in shifted_products(lap, angles, DIRECTION_RADII)], 1)
    energy = lap * lap
    window = gaussian_window(sigma, *lap.shape[-2:])
    local = kornia.filters.gaussian_blur2d(along, **window) / (kornia.filters.gaussian_blur2d(energy, **window) + 1e-8)
    whole = along.sum((2, 3), keepdim=True) / (energy.sum((2, 3), keepdim=True) + 1e-8)
    local, whole = local - local.mean(1, keepdim=True), whole - whole.mean(1, keepdim=True)
    return 8.0 * torch.cat([local, whole.expand_as(local)], 1)


def mean_axis(weight: torch.Tensor, doubled: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    """The weighted mean of lines (axes without a sign) given by their doubled angles, over `dim`.

    weight and doubled (radians) broadcast together; their sums over `dim` are taken as a vector
    ``(sum w cos, sum w sin)``, whose half angle t is the mean axis (a plain mean of angles would put 10
    and 170 degrees at 90). Returns the unit vector ``(cos t, sin t)`` stacked at dim 1 of the reduced
    shape; where every weight is zero, the x axis."""
    t = 0.5 * torch.atan2((weight * doubled.sin()).sum(dim), (weight * doubled.cos()).sum(dim))
    return torch.stack([t.cos(), t.sin()], 1)


def blur_direction(features: torch.Tensor) -> torch.Tensor:
    """The blur's direction at each pixel from :func:`direction_features` (B, 2 * A, H, W): the unit vector
    ``(cos t, sin t)`` (B, 2, H, W), t in radians (x right, y down), the angle modulo pi at which the local
    and the whole image's profiles together peak: the mean of the doubled angles weighted by the
    squared positive part of the summed profile (a smear's profile is narrow, with negative side lobes
    that would turn a plain weighted mean by 90 degrees); where nothing is positive, the x axis."""
    a = features.shape[1] // 2
    doubled = 2 * math.pi * torch.arange(a, dtype=features.dtype, device=features.device) / a
    profile = (features[:, :a] + features[:, a:]).clamp(min=0) ** 2
    return mean_axis(profile, doubled[None, :, None, None], 1)


def whole_blur_direction(x: torch.Tensor, radius: int = max(LENGTH_RADII)) -> torch.Tensor:
    """The direction of the blur of ``x`` read from the whole image: (B, 3, H, W) in [0, 1] -> (B, 2, 1, 1),
    the unit vector ``(cos t, sin t)`` (x right, y down; t modulo pi).

    The Laplacian's autocorrelation at every offset 2-`radius` px (:func:`whole_autocorrelation`), its part
    above :data:`LENGTH_THRESHOLD` squared, and the mean of the offsets' doubled angles weighted by it: a
    smear's correlation lies along its path, a strobed blur's at its copies' offsets, both on the line of the
    motion. One direction per image: right for a camera that shakes without turning, a mean where it turns
    (there :func:`blur_direction` reads each pixel's). Measured on the central 256-px crops of the ladder's
    camera ghost (three copies; ``benchmarks/blur_reading.py``, BENCHMARKS.md "the blur's direction read from
    every offset"), two seeds: misread by more than 20 degrees on 3/32 test shots and 11/68 B shots, where
    :func:`blur_direction` misreads 13/32 and 26/68; the known smear on the same paths 3/32 with either.
    Where nothing is above the threshold, the x axis.
    """
    ac = whole_autocorrelation(x, radius)
    dy, dx = torch.meshgrid(torch.arange(-radius, radius + 1.0, dtype=ac.dtype, device=ac.device),
                            torch.arange(-radius, radius + 1.0, dtype=ac.dtype, device=ac.device), indexing="ij")
    distance, doubled = (dx * dx + dy * dy).sqrt(), 2 * torch.atan2(dy, dx)
    weight = (ac - LENGTH_THRESHOLD).clamp(min=0) ** 2 * ((distance >= 2) & (distance <= radius))
    return mean_axis(weight, doubled, (1, 2)).view(-1, 2, 1, 1)


def blur_length(x: torch.Tensor, direction: torch.Tensor, radii: range = LENGTH_RADII) -> torch.Tensor:
    """How far the blur of ``x`` reaches along its path, in px: one value per image.

    The whole image's Laplacian autocorrelation along the blur's direction at each pixel, at the offsets
    `radii` (bilinear, reflected border), normalised by the Laplacian's energy; the value is the centroid
    over the offsets of its part above :data:`LENGTH_THRESHOLD` (without it, the small chance correlations
    of an image without blur put the centroid mid-range). Where nothing is above it, the first offset. A
    straight smear of length L correlates with itself along its path up to L, strobed copies at their
    spacing and its multiples. Measured on 24 development photographs shot by the ladder's cameras (BENCHMARKS.md,
    "filters stretched by the blur length"): 0.42-0.47 L for a smear (r 0.8-0.9 with L), 0.55-0.62 L for three
    copies (r 0.47-0.61), where the direction is misread on half of the shots.

    x: (B, 3, H, W) in [0, 1]; direction: (B, 2, H, W) unit vectors (:func:`blur_direction`) ->
    (B, 1, 1, 1) in [min(radii), max(radii)].
    """
    lap = laplacian(x)
    b, _, h, w = lap.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=lap.dtype, device=lap.device),
                            torch.arange(w, dtype=lap.dtype, device=lap.device), indexing="ij")
    energy = (lap * lap).sum((2, 3))
    correlation = []
    for r in radii:
        grid = torch.stack([(xs + r * direction[:, 0]) * (2 / max(w - 1, 1)) - 1,
                            (ys + r * direction[:, 1]) * (2 / max(h - 1, 1)) - 1], -1)
        shifted = F.grid_sample(lap, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
        correlation.append((lap * shifted).sum((2, 3)) / (energy + 1e-12))
    positive = (torch.cat(correlation, 1) - LENGTH_THRESHOLD).clamp(min=0)              # (B, R)
    offsets = torch.tensor(list(radii), dtype=lap.dtype, device=lap.device)
    length = (positive * offsets).sum(1) / positive.sum(1).clamp(min=1e-12)
    return torch.where(positive.sum(1) > 0, length, offsets[0]).view(b, 1, 1, 1)


def steer_filters(taps: torch.Tensor, direction: torch.Tensor, stretch: torch.Tensor | None = None) -> torch.Tensor:
    """Turn each pixel's K x K filter from the blur's own frame (x axis along the blur) to the image's,
    stretched along the blur by `stretch`.

    taps: (B, K*K, H, W), row by row, rows across the blur, columns along it; direction: (B, 2, H, W)
    unit vectors ``(cos t, sin t)``; stretch: None (1), or positive, broadcastable to (B, 1, H, W).
    Returns (B, K*K, H, W): the tap at image offset (dx, dy) is the filter's value at
    ``((dx cos t + dy sin t) / s, -dx sin t + dy cos t)`` divided by s (so a stretched filter keeps its
    sum), bilinear, zero outside.
    """
    b, taps_n, h, w = taps.shape
    k = int(round(taps_n ** 0.5))
    r = k // 2
    dy, dx = torch.meshgrid(torch.arange(-r, r + 1.0, dtype=taps.dtype, device=taps.device),
                            torch.arange(-r, r + 1.0, dtype=taps.dtype, device=taps.device), indexing="ij")
    cos, sin = (direction.permute(0, 2, 3, 1).reshape(-1, 1, 1, 2)).unbind(-1)   # (N, 1, 1) each
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos                     # (N, K, K)
    if stretch is not None:
        stretch = stretch.expand(b, 1, h, w).reshape(-1, 1, 1)
        along = along / stretch
    grid = torch.stack([along, across], -1) / max(r, 1)
    filters = taps.permute(0, 2, 3, 1).reshape(-1, 1, k, k)
    turned = F.grid_sample(filters, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    if stretch is not None:
        turned = turned / stretch[:, None]
    return turned.reshape(b, h, w, taps_n).permute(0, 3, 1, 2)


def infer_filter_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """``{num_res, base_channel, kernel_size}`` of the filter translator with state dict `sd` (and
    ``direction_angles`` where its stem takes direction features), or None."""
    taps = head_channels(sd)
    if taps is None or taps == 3:
        return None
    k = int(round(taps ** 0.5))
    if k * k != taps or k % 2 == 0:
        return None
    cfg = mimo_body_config(sd, any_stem=True)
    if cfg is None:
        return None
    extra = int(sd["feat_extract.0.main.0.weight"].shape[1]) - 3
    if extra < 0 or extra % 2:
        return None
    return {**cfg, "kernel_size": k, **({"direction_angles": extra // 2} if extra else {})}


@register_model("b2b_filter_translator", output=MULTISCALE, size_multiple=4, pad_mode="reflect",
                infer_config=infer_filter_config)
class FilterTranslator(_MIMOUNetBase):
    """Blur translator G whose MIMO-UNet predicts a K x K filter per pixel (taps summing to 1), applied to its input.

    Args:
        num_res, base_channel: MIMO-UNet's (residual blocks per level, width of the finest level).
        kernel_size: K, odd: each level's filters reach K // 2 of that level's pixels.
        smooth: odd; the filters are averaged over smooth x smooth pixels of their level (1: not at all).
        nonnegative: clip the taps at zero (and renormalise): the filters only average, they cannot sharpen.
        direction_angles: 0, or the number of directions of :func:`direction_features` that the stem
            sees beside the image (2 * direction_angles extra channels).
        steer: the heads predict each filter's off-centre taps in the blur's own frame (x along the
            blur), turned to the direction the input's blur points (:func:`blur_direction`,
            :func:`steer_filters`); the centre tap makes the sum one. Needs ``direction_angles``.
        stretch: the steered profile is also stretched along the blur by ``blur_length / LENGTH_REFERENCE``
            of its input (within :data:`STRETCH_RANGE`). Needs ``steer``.
        direction_reading: where the steering direction comes from: ``"local"``, each pixel's from the
            direction features (:func:`blur_direction`), or ``"whole"``, one per image from the autocorrelation
            at every offset (:func:`whole_blur_direction`: reads strobed blur that the features' 12 angles
            miss, but not a direction that turns across the image). Needs ``steer`` when ``"whole"``.

    ``forward``: (B, 3, H, W) in [0, 1], H and W multiples of 4 -> ``[1/4, 1/2, full]`` images,
    each its level's nearest-subsampled input filtered per pixel (not clamped).
    """

    def __init__(self, num_res: int = MIMO_UNET_NUM_RES, base_channel: int = 32, kernel_size: int = 9,
                 smooth: int = 1, nonnegative: bool = False, direction_angles: int = 0, steer: bool = False,
                 stretch: bool = False, direction_reading: str = "local"):
        for name, value in (("kernel_size", kernel_size), ("smooth", smooth)):
            if value < 1 or value % 2 == 0:
                raise ValueError(f"{name} must be odd and positive, got {value}")
        if direction_angles < 0:
            raise ValueError(f"direction_angles must be 0 (off) or positive, got {direction_angles}")
        if steer and not direction_angles:
            raise ValueError("steer needs direction_angles > 0: the direction comes from those features")
        if stretch and not steer:
            raise ValueError("stretch needs steer: the filter is stretched along the direction it is turned to")
        if direction_reading not in ("local", "whole"):
            raise ValueError(f"direction_reading must be 'local' or 'whole', got {direction_reading!r}")
        if direction_reading == "whole" and not steer:
            raise ValueError("direction_reading='whole' needs steer: it is the direction the filters are turned to")
        super().__init__(num_res, base_channel, skip_dropout=0.0, head_channels=kernel_size * kernel_size,
                         stem_channels=3 + 2 * direction_angles)
        self.kernel_size, self.smooth, self.nonnegative = kernel_size, smooth, bool(nonnegative)
        self.direction_angles, self.steer, self.stretch = direction_angles, bool(steer), bool(stretch)
        self.direction_reading = direction_reading
        self._direction: torch.Tensor | None = None  # (B, 2, H, W) of the current forward, when steering
        self._stretch: torch.Tensor | None = None    # (B, 1, 1, 1) of the current forward, when stretching
        centre = torch.zeros(1, kernel_size * kernel_size, 1, 1)
        centre[0, kernel_size * kernel_size // 2] = 1.0
        self.register_buffer("unit_filter", centre, persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        try:
            return super().forward(x)
        finally:
            self._direction = self._stretch = None  # this forward's reading of its blur: not kept beyond it

    def stem_input(self, x: torch.Tensor) -> torch.Tensor:
        """The image (B, 3, H, W), and with ``direction_angles`` its direction features beside it.
        When steering, also keeps the blur's direction (and with ``stretch`` its length) for this forward's
        heads (``emit``)."""
        if not self.direction_angles:
            return x
        features = direction_features(x, self.direction_angles)
        if self.steer:
            self._direction = (blur_direction(features) if self.direction_reading == "local"
                               else whole_blur_direction(x).expand(-1, -1, *x.shape[-2:]))
        if self.stretch:
            # Read from the input, like the direction: not something G learns, so no gradient.
            with torch.no_grad():
                self._stretch = (blur_length(x, self._direction) / LENGTH_REFERENCE).clamp(*STRETCH_RANGE)
        return torch.cat([x, features], 1)

    def emit(self, head: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The level's input `x` (B, 3, h, w) filtered by the taps ``t - mean(t) + unit`` (head: B, K*K, h, w;
        ``t = tanh(head)`` when ``nonnegative``, else the head itself; with ``steer``: the off-centre taps turned
        to the blur's direction, and with ``stretch`` stretched along it, the centre tap one minus their sum),
        clipped at zero and renormalised when ``nonnegative``."""
        if self.smooth > 1:
            head = F.avg_pool2d(head, self.smooth, stride=1, padding=self.smooth // 2, count_include_pad=False)
        if self.nonnegative:
            # Bounded taps. Here nothing else bounds the head: the clip below passes its gradient straight through,
            # so a clipped tap the loss wants lower keeps being pushed down while the output no longer changes,
            # and through the mean that every tap is taken against, the rest follow. Every non-negative translator
            # on the ladder ended with heads of 1e17-3e30 (200 supervised steps, 700 adversarial ones; the
            # activations grew 3-10x per layer through the body), past half precision's range and, at 2.6e30,
            # within 1e8 of single precision's (BENCHMARKS.md, "G's heads grew without bound"). tanh is the identity
            # near zero, so the start is unchanged. Signed taps are linear in the head and need no bound.
            head = torch.tanh(head)
        unit = self.unit_filter.to(head.dtype)
        if self.steer:
            # The direction at this level: the full-resolution field averaged down, then made unit again.
            direction = F.adaptive_avg_pool2d(self._direction, head.shape[-2:])
            direction = direction / direction.norm(dim=1, keepdim=True).clamp(min=1e-8)
            # Only the off-centre taps turn, and the centre takes what keeps the sum at one. Turning by
            # bilinear sampling changes a filter's sum (oblique taps spread, corners are cut off); removing
            # that change as a mean over all K*K taps added a faint box blur whose size depended on the
            # angle, and one profile learned by Adam then stayed at 33.0 dB where NNLS reaches 33.9-34.0
            # (camera ghost, BENCHMARKS.md); with the remainder in the centre it reaches 33.8.
            off_centre = steer_filters(head * (1 - unit), direction, self._stretch)
            weights = off_centre + unit * (1 - off_centre.sum(dim=1, keepdim=True))
        else:
            weights = head - head.mean(dim=1, keepdim=True) + unit
        if self.nonnegative:
            # Clipping passes its gradient straight through: under a plain clamp a tap that once went
            # negative gets no gradient and stays off for good. The taps summed to one before
            # clipping, so the sum after it is at least one.
            weights = weights + (weights.clamp(min=0) - weights).detach()
            weights = weights / weights.sum(dim=1, keepdim=True)
        return filter_per_pixel(x, weights)

    def init_identity(self) -> FilterTranslator:
        """Zero the heads: every filter is the unit tap, so ``forward(x)`` is ``[x_4, x_2, x]`` exactly.
        Returns self."""
        B2BTranslator.init_identity(self)
        return self
