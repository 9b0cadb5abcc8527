"""Where a report zooms in: the most detailed windows of an image, and small crops enlarged to be seen.

A crop of sky or a blank wall shows nothing of blur or of its removal, so report crops are chosen by
detail: the windows with the highest gradient energy (sum of squared finite differences of the
grey image), taken greedily and never overlapping, so several crops show several places.
"""

from __future__ import annotations

import torch

MIN_SHOWN = 128  # the smallest side a crop is shown at, in image pixels (nearest-neighbour upscaled)


def gradient_energy(image: torch.Tensor) -> torch.Tensor:
    """(h, w) map of squared horizontal plus vertical differences of the grey image of a (c, h, w) tensor."""
    grey = image.float().mean(0) if image.dim() == 3 else image.float()
    energy = torch.zeros_like(grey)
    energy[:, :-1] += (grey[:, 1:] - grey[:, :-1]) ** 2
    energy[:-1, :] += (grey[1:, :] - grey[:-1, :]) ** 2
    return energy


def detail_windows(image: torch.Tensor, size: int, count: int = 1) -> list[tuple[int, int, int]]:
    """Up to `count` non-overlapping square windows ``(top, left, side)`` of `image` (c, h, w), most
    detailed first; `side` is `size`, or the image's shorter side when smaller."""
    h, w = image.shape[-2:]
    side = max(1, min(size, h, w))
    energy = gradient_energy(image)
    # Window sums from an integral image: O(h w) whatever the window size.
    integral = torch.nn.functional.pad(energy.double().cumsum(0).cumsum(1), (1, 0, 1, 0))
    sums = (integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side])
    chosen: list[tuple[int, int, int]] = []
    for _ in range(count):
        best = float(sums.max())
        if best == float("-inf"):
            break
        top, left = divmod(int(torch.argmax(sums)), sums.shape[1])
        chosen.append((top, left, side))
        # No later window may overlap this one: every top-left within `side` of it is out.
        sums[max(0, top - side + 1):top + side, max(0, left - side + 1):left + side] = float("-inf")
    return chosen


def cut(image: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """The (c, side, side) window ``(top, left, side)`` of a (c, h, w) image."""
    top, left, side = window
    return image[..., top:top + side, left:left + side]


def enlarged(image: torch.Tensor, min_side: int = MIN_SHOWN) -> torch.Tensor:
    """`image` (c, h, w) repeated pixel by pixel (nearest neighbour) until its shorter side is at least
    `min_side`; unchanged when it already is."""
    factor = -(-min_side // max(1, min(image.shape[-2:])))
    if factor <= 1:
        return image
    return image.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def shrunk(image: torch.Tensor, longest: int) -> torch.Tensor:
    """`image` (c, h, w) scaled down (area average) so that its longer side is at most `longest`; a
    thumbnail of a whole image. Unchanged when it is already that small."""
    h, w = image.shape[-2:]
    scale = longest / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return torch.nn.functional.interpolate(image[None], size=size, mode="area")[0]


__all__ = ["MIN_SHOWN", "cut", "detail_windows", "enlarged", "gradient_energy", "shrunk"]
