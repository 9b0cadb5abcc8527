"""The local autocorrelation of the Laplacian: what a blur leaves in an image, read per pixel."""

from __future__ import annotations

import pytest
import torch

from blur2blur.data.synthetic import blur_with_kernels
from blur2blur.models.blur_statistics import (aligned_blur_profile, laplacian, local_autocorrelation,
                                             whole_autocorrelation)

ANGLES, RADIUS = 8, 8


def _smeared(kernel_row: list[float], vertical: bool = False, size: int = 160) -> torch.Tensor:
    """White noise (the whitest scene) blurred by a 1-D kernel along x (or y): (1, 3, size, size)."""
    torch.manual_seed(0)
    noise = torch.rand(1, 1, size, size).expand(1, 3, size, size).contiguous()
    n = len(kernel_row)
    k = torch.zeros(n, n)
    k[n // 2] = torch.tensor(kernel_row)
    k = k / k.sum()
    return blur_with_kernels(noise, (k.T if vertical else k)[None])


def _profile(stats: torch.Tensor, angle_index: int) -> torch.Tensor:
    """Offsets 1..RADIUS along one direction, averaged over the image's middle (away from the border)."""
    centre = stats[0, :, 24:-24, 24:-24].mean((1, 2))
    return centre.view(ANGLES, RADIUS)[angle_index]


def test_shape():
    x = torch.rand(2, 3, 40, 56)
    assert local_autocorrelation(x, angles=4, radius=3).shape == (2, 12, 40, 56)


def test_a_straight_smear_correlates_along_its_path_only():
    """A 9-px box along x: along x the correlation falls off as the box's own autocorrelation (a triangle:
    measured 0.85 at 1 px to 0.10 at 8); across it (y) it is the unblurred noise's, near 0 beyond 2 px."""
    for vertical, along, across in ((False, 0, 4), (True, 4, 0)):
        stats = local_autocorrelation(_smeared([1.0] * 9, vertical), ANGLES, RADIUS)
        profile = _profile(stats, along)
        assert profile[0] > 0.75 and profile[4] > 0.3 and profile[-1] > 0.05, profile
        assert (profile[1:] < profile[:-1]).all(), profile
        assert _profile(stats, across)[2:].abs().max() < 0.1, _profile(stats, across)


def test_a_strobed_blur_peaks_at_the_spacing_of_its_copies():
    """Three sharp copies 4 px apart: the correlation along the path peaks at 4 px (and 8), not between."""
    stats = local_autocorrelation(_smeared([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]), ANGLES, RADIUS)
    along = _profile(stats, 0)
    assert along[3] > 0.4 and along[7] > 0.15, along
    assert along[3] > 4 * along[1].abs() and along[3] > 4 * along[5].abs(), along


def test_unblurred_noise_correlates_nowhere_beyond_the_laplacian():
    torch.manual_seed(1)
    stats = local_autocorrelation(torch.rand(1, 3, 160, 160), ANGLES, RADIUS)
    middle = stats[0, :, 24:-24, 24:-24].mean((1, 2)).view(ANGLES, RADIUS)
    assert middle[:, 2:].abs().max() < 0.05, middle


def test_flat_images_give_zeros_not_nans():
    stats = local_autocorrelation(torch.full((1, 3, 32, 32), 0.5))
    assert torch.isfinite(stats).all() and stats.abs().max() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        local_autocorrelation(torch.rand(1, 3, 32, 32), angles=0)
    with pytest.raises(ValueError, match="positive"):
        local_autocorrelation(torch.rand(1, 3, 32, 32), radius=0)


def test_the_aligned_profile_is_the_same_whichever_way_the_blur_points():
    """A 9-px box along x and the same box along y: row 0 (along the strongest direction) is the box's
    triangle and row ANGLES // 2 (across) the unblurred noise's, for both."""
    along_x = aligned_blur_profile(_smeared([1.0] * 9), ANGLES, RADIUS)[0]
    along_y = aligned_blur_profile(_smeared([1.0] * 9, vertical=True), ANGLES, RADIUS)[0]
    assert along_x.shape == (ANGLES, RADIUS)
    # the two smears blur the same noise image, transposed: the rows agree up to the noise's own statistics
    assert torch.allclose(along_x[0], along_y[0], atol=0.03), (along_x[0], along_y[0])
    assert torch.allclose(along_x, along_y, atol=0.08), (along_x, along_y)
    assert along_x[0, 0] > 0.75 and (along_x[0, 1:] < along_x[0, :-1]).all(), along_x[0]
    assert along_x[ANGLES // 2, 2:].abs().max() < 0.1, along_x[ANGLES // 2]


def test_the_aligned_profile_tells_a_strobe_from_a_smear_and_carries_a_gradient():
    strobe = aligned_blur_profile(_smeared([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]), ANGLES, RADIUS)[0, 0]
    assert strobe[3] > 0.4 and strobe[3] > 4 * strobe[1].abs(), strobe
    x = _smeared([1.0] * 9).requires_grad_(True)
    aligned_blur_profile(x)[0, 0, 0].backward()
    assert x.grad.abs().sum() > 0


def test_the_aligned_profile_of_a_flat_image_is_zero_and_small_images_are_refused():
    assert aligned_blur_profile(torch.full((2, 3, 32, 32), 0.5)).abs().max() == 0
    with pytest.raises(ValueError, match="smaller than one 16-px tile"):
        aligned_blur_profile(torch.rand(1, 3, 12, 64))


@pytest.mark.parametrize("offset", [(0, 0), (0, 3), (2, -5), (-4, 1), (6, 6)])
def test_the_whole_autocorrelation_is_the_direct_sum(offset):
    """Against the definition, summed directly over the pixels that overlap (no wrap-around)."""
    torch.manual_seed(2)
    x = torch.rand(2, 3, 30, 41)
    lap = laplacian(x)[:, 0]
    lap = lap - lap.mean((1, 2), keepdim=True)
    dy, dx = offset
    h, w = lap.shape[-2:]
    a = lap[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    b = lap[:, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    expected = (a * b).sum((1, 2)) / (lap * lap).sum((1, 2))
    torch.testing.assert_close(whole_autocorrelation(x, radius=6)[:, 6 + dy, 6 + dx], expected, atol=1e-5, rtol=1e-5)


def test_the_whole_autocorrelation_of_a_strobe_peaks_at_its_copies_and_flat_images_give_zeros():
    ac = whole_autocorrelation(_smeared([1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], vertical=True), radius=8)[0]
    assert ac.shape == (17, 17) and ac[8, 8] == pytest.approx(1.0)
    assert ac[12, 8] > 0.5 and ac[16, 8] > 0.2 and ac[4, 8] == pytest.approx(ac[12, 8].item(), abs=1e-5)
    off_the_path = torch.cat([ac[:, :7], ac[:, 10:]], 1)   # 2+ px beside the copies' column: noise only
    assert off_the_path.abs().max() < 0.1, off_the_path.abs().max()
    flat = whole_autocorrelation(torch.full((1, 3, 32, 32), 0.5))
    assert torch.isfinite(flat).all() and flat.abs().max() == 0
    with pytest.raises(ValueError, match="positive"):
        whole_autocorrelation(torch.rand(1, 3, 32, 32), radius=0)
