"""Training datasets: random aligned crops whose every random choice is a function of the index.

Item ``n`` of a dataset here is decided by ``blur2blur.seeding.generator(seed, n)`` alone (which image,
where to crop, which flip/rotation), so the training loop can resume at any step and get the
same data, with any number of data-loading workers or DDP processes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from blur2blur.data.images import read_image
from blur2blur.data.pairs import BlurPair, load_pair
from blur2blur.seeding import generator, randint


def random_dihedral(g: torch.Generator, *, flip: bool = True, rotate: bool = True) -> tuple[bool, bool, bool]:
    """(horizontal flip, vertical flip, transpose) drawn as in the extractor's recipe (use_flip, use_rot)."""
    hflip = flip and bool(torch.rand((), generator=g) < 0.5)
    vflip = rotate and bool(torch.rand((), generator=g) < 0.5)
    transpose = rotate and bool(torch.rand((), generator=g) < 0.5)
    return hflip, vflip, transpose


def apply_dihedral(x: torch.Tensor, hflip: bool, vflip: bool, transpose: bool) -> torch.Tensor:
    """Apply the same flip/rotation to every image of a pair: (..., H, W) -> (..., H, W) or (..., W, H)."""
    if hflip:
        x = x.flip(-1)
    if vflip:
        x = x.flip(-2)
    if transpose:
        x = x.transpose(-1, -2)
    return x


def color_jitter(x: torch.Tensor, g: torch.Generator, strength: float) -> torch.Tensor:
    """Random brightness, contrast and saturation factors in [1 - strength, 1 + strength], applied to
    (..., 3, H, W) in [0, 1] (the same factors for every image in `x`, e.g. both images of a pair).

    Hand-written rather than kornia's ColorJitter because the factors must come from the
    sample's own generator (exact resume), not from the global RNG.
    """
    if strength <= 0:
        return x
    b, c, s = (1 + (torch.rand(3, generator=g) * 2 - 1) * strength).tolist()
    x = x * b
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    x = (x - mean) * c + mean
    gray = (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(-3, keepdim=True)
    return ((x - gray) * s + gray).clamp(0, 1)


def random_crop_box(height: int, width: int, size: int, g: torch.Generator) -> tuple[int, int]:
    """Top-left (y, x) of a uniformly placed `size` x `size` crop."""
    return randint(g, 0, height - size), randint(g, 0, width - size)


class ImageCache:
    """Decoded images kept in memory (per worker process), least recently used evicted first."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.items: OrderedDict[object, tuple[torch.Tensor, ...]] = OrderedDict()

    def get(self, key: object, load) -> tuple[torch.Tensor, ...]:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = load()
        if self.capacity > 0:
            self.items[key] = value
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
        return value


class PairCrops(Dataset):
    """Aligned random crops of (blurry, sharp) pairs: item n -> ``{"sharp", "blurry"}``, each (3, size, size).

    The same crop box and flip/rotation go to both images. Pairs smaller than `size` raise a
    ValueError naming the file. ``len()`` is the number of pairs (one epoch's worth); the index
    itself can be any non-negative integer.
    """

    def __init__(self, pairs: Sequence[BlurPair], size: int, *, seed: int = 0, flip: bool = True,
                 rotate: bool = True, sharp_mode: str = "middle", cache_images: int = 256):
        if not pairs:
            raise ValueError("no pairs to train on")
        self.pairs, self.size, self.seed = list(pairs), int(size), seed
        self.flip, self.rotate, self.sharp_mode = flip, rotate, sharp_mode
        self.cache = ImageCache(cache_images)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurry, sharp) of pair i, (3, H, W) in [0, 1], from the cache when possible."""
        pair = self.pairs[i]
        return self.cache.get(i, lambda: load_pair(pair, self.sharp_mode))

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        g = generator(self.seed, n)
        i = randint(g, 0, len(self.pairs) - 1)
        blurry, sharp = self.load(i)
        h, w = blurry.shape[-2:]
        if min(h, w) < self.size:
            raise ValueError(f"{self.pairs[i].blurry}: {w}x{h} is smaller than the {self.size}px training crop")
        y, x = random_crop_box(h, w, self.size, g)
        both = torch.stack([sharp, blurry])[..., y:y + self.size, x:x + self.size]
        both = apply_dihedral(both, *random_dihedral(g, flip=self.flip, rotate=self.rotate))
        return {"sharp": both[0].contiguous(), "blurry": both[1].contiguous()}


class ImageCrops(Dataset):
    """Random crops of single images (unpaired sets): item n -> ``{"image": (3, size, size)}``."""

    def __init__(self, paths: Sequence[str | Path], size: int, *, seed: int = 0, flip: bool = True,
                 rotate: bool = False, jitter: float = 0.0, cache_images: int = 256):
        if not paths:
            raise ValueError("no images")
        self.paths, self.size, self.seed = [Path(p) for p in paths], int(size), seed
        self.flip, self.rotate, self.jitter = flip, rotate, jitter
        self.cache = ImageCache(cache_images)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        g = generator(self.seed, n)
        return {"image": self.crop(randint(g, 0, len(self.paths) - 1), g)}

    def crop(self, i: int, g: torch.Generator) -> torch.Tensor:
        """A random crop of image i, drawn from `g`."""
        (img,) = self.cache.get(i, lambda: (read_image(self.paths[i])[0],))
        h, w = img.shape[-2:]
        if min(h, w) < self.size:
            raise ValueError(f"{self.paths[i]}: {w}x{h} is smaller than the {self.size}px training crop")
        y, x = random_crop_box(h, w, self.size, g)
        crop = apply_dihedral(img[:, y:y + self.size, x:x + self.size],
                              *random_dihedral(g, flip=self.flip, rotate=self.rotate))
        return color_jitter(crop, g, self.jitter).contiguous()


__all__ = ["ImageCache", "ImageCrops", "PairCrops", "UnpairedCrops", "apply_dihedral", "color_jitter",
           "random_crop_box", "random_dihedral"]


class UnpairedCrops(Dataset):
    """Crops of the camera's blurry images B and of the known-blur set K, drawn independently.

    Item n -> ``{"blurry": (3, size, size), "known": (3, size, size)}``. With a `curriculum`
    (:class:`blur2blur.data.curriculum.Curriculum` over B's paths), the blurry crop of sample n
    comes from the images allowed at training step ``n // batch_size``.
    """

    def __init__(self, blurry: Sequence[str | Path], known: Sequence[str | Path], size: int, *, seed: int = 0,
                 batch_size: int = 1, curriculum=None, flip: bool = True, rotate: bool = True,
                 jitter: float = 0.0, cache_images: int = 256):
        # B and K get the same kind of jitter, drawn independently: a colour difference between
        # the sets would be a non-blur cue for the discriminator.
        self.b = ImageCrops(blurry, size, seed=seed, flip=flip, rotate=rotate, jitter=jitter,
                            cache_images=cache_images)
        self.k = ImageCrops(known, size, seed=seed + 1, flip=flip, rotate=rotate, jitter=jitter,
                            cache_images=cache_images)
        self.batch_size, self.curriculum = batch_size, curriculum
        self._index = {str(p): i for i, p in enumerate(self.b.paths)}

    def __len__(self) -> int:
        return len(self.b)

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        known = self.k[n]["image"]
        if self.curriculum is None:
            return {"blurry": self.b[n]["image"], "known": known}
        allowed = self.curriculum.images_at(n // self.batch_size)
        g = generator(self.b.seed, n, 1)
        i = self._index[str(allowed[randint(g, 0, len(allowed) - 1)])]
        return {"blurry": self.b.crop(i, g), "known": known}
