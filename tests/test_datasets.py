"""Training crops: a function of the sample index, aligned across the pair, bad sizes named."""

from __future__ import annotations

import pytest
import torch

from blur2blur.data.datasets import ImageCrops, PairCrops, apply_dihedral
from blur2blur.data.images import write_image
from blur2blur.data.pairs import find_pairs


@pytest.fixture()
def pairs(tmp_path):
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        sharp = torch.rand(3, 40, 56, generator=g)
        write_image(sharp, tmp_path / "sharp" / f"{i}.png")
        write_image(1 - sharp, tmp_path / "blur" / f"{i}.png")  # a pixel-wise partner: alignment is checkable
    return find_pairs(tmp_path, "folders")


def test_pair_crops_are_aligned_and_reproducible(pairs):
    ds = PairCrops(pairs, 32, seed=3)
    for n in range(20):
        item = ds[n]
        assert item["sharp"].shape == (3, 32, 32)
        torch.testing.assert_close(item["blurry"], 1 - item["sharp"], rtol=0, atol=1 / 255)
    again = PairCrops(pairs, 32, seed=3)
    assert all(torch.equal(ds[n]["sharp"], again[n]["sharp"]) for n in (0, 7, 10**9))
    other = PairCrops(pairs, 32, seed=4)
    assert not all(torch.equal(ds[n]["sharp"], other[n]["sharp"]) for n in range(5))


def test_crop_larger_than_image_is_named(pairs):
    with pytest.raises(ValueError, match=r"\.png: 56x40 is smaller than the 48px training crop"):
        PairCrops(pairs, 48)[0]
    with pytest.raises(ValueError, match="smaller than"):
        ImageCrops([pairs[0].sharp], 64)[0]


def test_dihedral_covers_the_eight_symmetries():
    x = torch.arange(6.0).reshape(1, 2, 3)
    outs = {tuple(apply_dihedral(x, h, v, t).flatten().tolist()) for h in (0, 1) for v in (0, 1) for t in (0, 1)}
    assert len(outs) == 8


def test_color_jitter_is_seeded_bounded_and_off_at_zero():
    from blur2blur.data.datasets import color_jitter
    from blur2blur.seeding import generator

    x = torch.rand(2, 3, 8, 8)
    a, b = color_jitter(x, generator(1, 2), 0.2), color_jitter(x, generator(1, 2), 0.2)
    assert torch.equal(a, b) and not torch.equal(a, x) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(color_jitter(x, generator(1, 2), 0.0), x)
    # a pair gets the same factors: a pixel-wise relation between its images survives up to clamping
    grey = torch.full((2, 3, 4, 4), 0.5)
    out = color_jitter(grey, generator(3, 4), 0.3)
    torch.testing.assert_close(out[0], out[1])
