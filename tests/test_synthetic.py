"""Synthetic motion blur: kernels sum to one, blur is seeded, reproducible and brightness-preserving."""

from __future__ import annotations

import pytest
import torch

from blur2blur.data.synthetic import blur_with_kernels, draw_motion_kernels, motion_kernel


def test_kernel_is_a_normalised_line():
    k = motion_kernel(9, angle=0.0, direction=0.0)
    assert k.shape == (9, 9)
    assert abs(k.sum().item() - 1) < 1e-6
    assert torch.count_nonzero(k[4]) == 9 and k.sum(1)[4] > 0.99  # horizontal line through the centre
    with pytest.raises(ValueError, match="odd"):
        motion_kernel(8, 0.0, 0.0)


def test_draws_are_seeded():
    a, pa = draw_motion_kernels(4, torch.Generator().manual_seed(3))
    b, pb = draw_motion_kernels(4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and pa == pb
    assert a.shape == (4, 21, 21) and all(7 <= p["size"] <= 21 for p in pa)


def test_blur_keeps_range_and_flat_images():
    g = torch.Generator().manual_seed(0)
    kernels, _ = draw_motion_kernels(2, g)
    flat = torch.full((2, 3, 32, 40), 0.3)
    torch.testing.assert_close(blur_with_kernels(flat, kernels, gamma=2.2), flat, atol=1e-5, rtol=0)
    x = torch.rand(2, 3, 32, 40, generator=g)
    y = blur_with_kernels(x, kernels)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert y.std() < x.std()  # blur removes detail


def test_one_kernel_per_image():
    with pytest.raises(ValueError, match="one kernel per image"):
        blur_with_kernels(torch.rand(2, 3, 16, 16), torch.ones(1, 3, 3) / 9)
