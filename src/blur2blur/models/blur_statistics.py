"""What a blur leaves in an image, as maps a network can read: the local autocorrelation of its Laplacian.

A blur of kernel k turns an image's whitened detail (its Laplacian; natural scenes correlate little
with themselves beyond a pixel or two once whitened) into detail whose autocorrelation is about
k's own (``k * k(-.)``): a straight smear correlates along its path up to its length, a strobed
one at the spacing of its copies, a round blur equally in every direction and only over its
radius. Read in a window around each pixel, that is the blur's local shape, largely free of what
the scene shows. The classic estimate of a motion blur from the derivative image's
autocorrelation (e.g. Yitzhaky & Kopeika 1997); written here because no library offers a local
directional autocorrelation.

Used by the translator's direction features
(:func:`blur2blur.models.filter_translator.direction_features`), its whole-image direction reading
(:func:`whole_autocorrelation`, :func:`blur2blur.models.filter_translator.whole_blur_direction`) and by the
discriminator that sees blur statistics (:class:`blur2blur.models.discriminator.BlurStatisticsDiscriminator`).
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

import kornia
import torch
import torch.nn.functional as F


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """The Laplacian of the grey image: (B, C, H, W) in [0, 1] -> (B, 1, H, W) (3x3, reflected border)."""
    return kornia.filters.laplacian(x.mean(1, keepdim=True), 3, border_type="reflect")


def shifted_products(lap: torch.Tensor, angles: int, radii: Iterable[int]) -> Iterator[list[torch.Tensor]]:
    """For each direction ``pi * a / angles`` (a = 0 .. angles-1): the products ``lap(p) * lap(p + r (cos, sin))``
    for r in `radii`, each (B, 1, H, W) (offsets rounded to whole pixels, the border reflected)."""
    radii = list(radii)
    r_max, (h, w) = max(radii), lap.shape[-2:]
    padded = F.pad(lap, (r_max,) * 4, mode="reflect" if r_max < min(h, w) else "replicate")
    for a in range(angles):
        theta = math.pi * a / angles
        products = []
        for r in radii:
            dx, dy = round(r * math.cos(theta)), round(r * math.sin(theta))
            products.append(lap * padded[..., r_max + dy:r_max + dy + h, r_max + dx:r_max + dx + w])
        yield products


def gaussian_window(sigma: float, h: int, w: int) -> dict:
    """kornia ``gaussian_blur2d`` arguments for a Gaussian window of `sigma` px on an h x w image (the
    kernel cut at 3 sigma, and below twice the shorter side, as kornia's reflected border needs)."""
    size = min(2 * round(3 * sigma) + 1, 2 * (min(h, w) // 2) - 1)
    return dict(kernel_size=(size, size), sigma=(sigma, sigma), border_type="reflect")


def local_autocorrelation(x: torch.Tensor, angles: int = 8, radius: int = 8, sigma: float = 8.0,
                          eps: float = 1e-5) -> torch.Tensor:
    """The normalised autocorrelation of `x`'s Laplacian around each pixel, along `angles` directions at
    offsets 1 .. `radius` px.

    x: (B, C, H, W) in [0, 1] -> (B, angles * radius, H, W), direction-major (channel ``a * radius + r - 1``
    is direction ``pi * a / angles`` at offset r), each value ``G(lap * shifted lap) / (G(lap^2) + eps)``
    with G a Gaussian window of `sigma` px: in [-1, 1] up to the window's edges, 1 where the detail
    repeats exactly at that offset, about 0 where it does not correlate. `eps` keeps flat regions
    (Laplacian energy far below it) near 0.
    """
    if angles < 1 or radius < 1:
        raise ValueError(f"angles and radius must be positive, got {angles} and {radius}")
    lap = laplacian(x)
    products = torch.cat([p for per_angle in shifted_products(lap, angles, range(1, radius + 1)) for p in per_angle], 1)
    window = gaussian_window(sigma, *lap.shape[-2:])
    return (kornia.filters.gaussian_blur2d(products, **window)
            / (kornia.filters.gaussian_blur2d(lap * lap, **window) + eps))


def aligned_blur_profile(x: torch.Tensor, angles: int = 8, radius: int = 8, tile: int = 16,
                         eps: float = 1e-5) -> torch.Tensor:
    """The image's blur shape, whatever way it points: the autocorrelation of its Laplacian per tile, each
    tile's directions turned so that its strongest comes first, averaged over the tiles.

    x: (B, C, H, W) in [0, 1], H and W at least `tile` -> (B, angles, radius): row 0 is the profile along
    the strongest direction (a motion blur's path), row ``angles // 2`` the one across it, at offsets
    1 .. `radius` px, each in [-1, 1] (as :func:`local_autocorrelation`, but over `tile` x `tile` tiles
    instead of a Gaussian window, since only the mean is wanted here: forward and backward on 8 crops of
    256 px took 0.7 s on one core, 5.3 s with the window). Tiles weigh by their Laplacian energy, so flat
    ones, whose values are noise, count little. The turning (an argmax) and the weights carry no
    gradient; the values do.
    """
    if min(x.shape[-2:]) < tile:
        raise ValueError(f"images of {tuple(x.shape[-2:])} px are smaller than one {tile}-px tile")
    lap = laplacian(x)
    products = torch.cat([p for per_angle in shifted_products(lap, angles, range(1, radius + 1)) for p in per_angle], 1)
    energy = F.avg_pool2d(lap * lap, tile)                                              # (B, 1, h, w)
    ac = (F.avg_pool2d(products, tile) / (energy + eps)).unflatten(1, (angles, radius))  # (B, A, R, h, w)
    strongest = ac.detach().sum(2, keepdim=True).argmax(1, keepdim=True)
    order = (strongest + torch.arange(angles, device=x.device).view(1, angles, 1, 1, 1)) % angles
    aligned = ac.gather(1, order.expand_as(ac))
    weight = energy.detach()[:, :, None]
    return (aligned * weight).sum((-2, -1)) / (weight.sum((-2, -1)) + 1e-12)


def whole_autocorrelation(x: torch.Tensor, radius: int = 16) -> torch.Tensor:
    """The whole image's normalised autocorrelation of its Laplacian at every offset within `radius` px.

    Every offset, not a few directions: a strobed blur's copies correlate only near their exact offset
    (a peak about a pixel wide), which offsets sampled at 12 angles and rounded to whole pixels miss
    (:func:`shifted_products`: 1.8 px between neighbouring angles at 7 px). Computed by FFT, the Laplacian
    zero-padded so that nothing wraps around; its mean is removed first.

    x: (B, C, H, W) in [0, 1] -> (B, 2 * radius + 1, 2 * radius + 1), entry ``[b, radius + dy, radius + dx]``
    the sum of ``lap(p) * lap(p + (dx, dy))`` over the pixels divided by the sum of ``lap(p)^2`` (1 at the
    centre, in [-1, 1]; 0 for an image without detail).
    """
    if radius < 1:
        raise ValueError(f"radius must be positive, got {radius}")
    lap = laplacian(x)[:, 0]
    lap = lap - lap.mean((1, 2), keepdim=True)
    size = (lap.shape[-2] + radius, lap.shape[-1] + radius)
    spectrum = torch.fft.rfft2(lap, s=size)
    full = torch.fft.irfft2(spectrum * spectrum.conj(), s=size)            # circular, but nothing wraps
    window = torch.roll(full, (radius, radius), (1, 2))[:, :2 * radius + 1, :2 * radius + 1]
    return window / window[:, radius, radius, None, None].clamp(min=1e-12)


__all__ = ["aligned_blur_profile", "gaussian_window", "laplacian", "local_autocorrelation", "shifted_products",
           "whole_autocorrelation"]
