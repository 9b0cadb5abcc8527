"""blur2blur.metrics against hand-computed values, scikit-image, and an independent scipy version of MATLAB's ssim."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blur2blur.data.images import read_image
from blur2blur.metrics import (
    _filter_replicate_3d,
    _gaussian_taps,
    compute_metrics,
    psnr,
    psnr_per_image,
    rgb_to_y,
    ssim,
    ssim_per_image,
)

PHOTOS = Path(__file__).parents[1] / "src" / "blur2blur" / "assets" / "photos"


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A real photo crop, (3, 96, 128) float64 in [0, 1] (cropped to keep the test fast)."""
    img, _ = read_image(PHOTOS / "erase__kitten.webp")
    return img[:, 100:196, 200:328].double()


@pytest.fixture(scope="module")
def degraded(photo) -> dict[str, torch.Tensor]:
    """The photo blurred (Gaussian, sigma 2) and with noise, both still in [0, 1]."""
    gen = torch.Generator().manual_seed(0)
    blurred = torch.from_numpy(ndimage.gaussian_filter(photo.numpy(), sigma=(0, 2, 2), mode="nearest"))
    noisy = (photo + 0.05 * torch.randn(photo.shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return {"blurred": blurred, "noisy": noisy}


def hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


# --- PSNR ---------------------------------------------------------------------------------------------------------


def test_psnr_constant_offset_is_20_db():
    x = torch.full((3, 16, 16), 0.4, dtype=torch.float64)
    assert psnr(x + 0.1, x) == pytest.approx(20.0, abs=1e-9)
    assert psnr(x * 255 + 25.5, x * 255, data_range=255.0) == pytest.approx(20.0, abs=1e-9)
    assert psnr(x, x) == math.inf


@pytest.mark.parametrize("kind", ["blurred", "noisy"])
def test_psnr_matches_skimage(photo, degraded, kind):
    ref = peak_signal_noise_ratio(hwc(photo), hwc(degraded[kind]), data_range=1.0)
    assert psnr(degraded[kind], photo) == pytest.approx(ref, abs=1e-9)


def test_psnr_crop_border_ignores_the_border():
    x = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[..., :3, :] += 0.5  # differences only within 3 pixels of the border
    y[..., :, -2:] -= 0.5
    assert psnr(y, x, crop_border=3) == math.inf
    assert psnr(y, x, crop_border=2) < 20
    with pytest.raises(ValueError, match="crop_border"):
        psnr(y, x, crop_border=10)


def test_rgb_to_y_of_gray_is_the_affine_video_range_map():
    g = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = rgb_to_y(g.expand(2, 3, 8, 8))
    assert y.shape == (2, 1, 8, 8)
    torch.testing.assert_close(y, 16 / 255 + g * 219 / 255)  # 65.481 + 128.553 + 24.966 = 219
    # Per-channel weights as in BasicSR's rgb2ycbcr (pure red, green, blue).
    eye = torch.eye(3).view(3, 3, 1, 1)
    torch.testing.assert_close(rgb_to_y(eye).flatten(), torch.tensor([81.481, 144.553, 40.966]) / 255)


def test_psnr_y_channel_of_gray_images():
    g = torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(3)) * 0.8
    x, y = g.expand(3, 16, 16), (g + 0.05).expand(3, 16, 16)
    # Y differences are 219/255 of the gray differences, so PSNR rises by -20 log10(219/255).
    assert psnr(y, x, y_channel=True) == pytest.approx(psnr(y, x) - 20 * math.log10(219 / 255), abs=1e-9)
    assert psnr(y, x, y_channel=True) == pytest.approx(20 * math.log10(255 / 219 / 0.05), abs=1e-5)


def test_psnr_quantize_matches_basicsr_on_uint8():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(3, 24, 24, generator=gen, dtype=torch.float64)
    y = (x + 0.02 * torch.randn(x.shape, generator=gen, dtype=torch.float64)).clamp(-0.05, 1.05)  # a bit outside
    # BasicSR: tensor2img clamps, scales and rounds to uint8; calculate_psnr works on float64 of those.
    a = np.round(np.clip(x.numpy(), 0, 1) * 255).astype(np.uint8).astype(np.float64)
    b = np.round(np.clip(y.numpy(), 0, 1) * 255).astype(np.uint8).astype(np.float64)
    ref = 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))
    assert psnr(y, x, quantize=True) == pytest.approx(ref, abs=1e-9)
    assert abs(psnr(y, x) - ref) > 1e-3  # unquantized floats are compared as given
    # Differences below half an 8-bit step vanish when quantized.
    z = torch.full((3, 12, 12), 100 / 255)
    assert psnr(z + 0.4 / 255, z, quantize=True) == math.inf
    assert psnr(z + 0.4 / 255, z) < math.inf


def test_psnr_batch_is_pooled_and_per_image_is_per_image():
    x = torch.full((2, 3, 12, 12), 0.5, dtype=torch.float64)
    y = x.clone()
    y[0] += 0.1  # 20 dB
    y[1] += 0.01  # 40 dB
    assert psnr_per_image(y, x) == pytest.approx([20.0, 40.0], abs=1e-9)
    assert psnr(y, x) == pytest.approx(10 * math.log10(1 / ((0.01 + 0.0001) / 2)), abs=1e-9)  # pooled MSE
    assert compute_metrics(y, x, metrics=("psnr",)) == {"psnr": pytest.approx(30.0, abs=1e-9)}
    assert psnr_per_image(y[0], x[0]) == pytest.approx([20.0], abs=1e-9)


# --- SSIM "gaussian" ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["blurred", "noisy"])
def test_ssim_gaussian_matches_skimage(photo, degraded, kind):
    # skimage filters at full size and then drops (win_size - 1) // 2 = 5 pixels per side, i.e. "valid".
    ref = structural_similarity(hwc(photo), hwc(degraded[kind]), channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    assert ssim(degraded[kind], photo) == pytest.approx(ref, abs=1e-6)
    assert ssim(photo, degraded[kind]) < 0.99  # a real degradation, not a trivial agreement near 1


def test_ssim_gaussian_quantize_matches_skimage_on_uint8(photo, degraded):
    a = np.round(hwc(photo) * 255).astype(np.uint8)
    b = np.round(hwc(degraded["noisy"]) * 255).astype(np.uint8)
    ref = structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert ssim(photo, degraded["noisy"], quantize=True) == pytest.approx(ref, abs=1e-6)
    assert ssim(photo, degraded["noisy"]) != pytest.approx(ref, abs=1e-6)


def test_ssim_y_channel_and_crop_border_match_skimage(photo, degraded):
    a = rgb_to_y(photo)[0, 4:-4, 4:-4].numpy()
    b = rgb_to_y(degraded["blurred"])[0, 4:-4, 4:-4].numpy()
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    assert ssim(photo, degraded["blurred"], y_channel=True, crop_border=4) == pytest.approx(ref, abs=1e-6)


def test_ssim_batch_is_mean_of_per_image(photo, degraded):
    x = torch.stack([photo, photo])
    y = torch.stack([degraded["blurred"], degraded["noisy"]])
    per = ssim_per_image(y, x)
    assert per == pytest.approx([ssim(degraded["blurred"], photo), ssim(degraded["noisy"], photo)], abs=1e-12)
    assert ssim(y, x) == pytest.approx(sum(per) / 2, abs=1e-12)
    got = compute_metrics(y, x, ssim_variant="matlab_rgb")
    assert got["ssim"] == pytest.approx(sum(ssim_per_image(y, x, variant="matlab_rgb")) / 2, abs=1e-12)
    assert got["psnr"] == pytest.approx(sum(psnr_per_image(y, x)) / 2, abs=1e-12)


images = st.tuples(st.integers(0, 2**32 - 1), st.integers(11, 16), st.integers(11, 16), st.sampled_from([1, 3]))


@settings(max_examples=15, deadline=None)
@given(spec=images, variant=st.sampled_from(["gaussian", "matlab_rgb"]))
def test_ssim_properties(spec, variant):
    seed, h, w, c = spec
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((c, h, w)))
    # Mix of unrelated noise and anti-correlated images, to reach negative SSIM too.
    y = torch.from_numpy(rng.random((c, h, w))) if seed % 2 else 1 - x
    assert ssim(x, x, variant=variant) == pytest.approx(1.0, abs=1e-12)
    s = ssim(x, y, variant=variant)
    assert -1 - 1e-12 <= s <= 1 + 1e-12
    assert ssim(y, x, variant=variant) == pytest.approx(s, abs=1e-12)


# --- SSIM "matlab_rgb" --------------------------------------------------------------------------------------------


def matlab_ssim_scipy(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """MATLAB ssim(A, B) of an H x W (x 3) array, written independently with scipy.ndimage.

    gaussian_filter with mode='nearest' is 'replicate' padding; radius 5 (= truncate 5/1.5) is the support of 11
    in every axis, the channel axis of an RGB volume included; the output keeps the input size.
    """
    def filt(v):
        return ndimage.gaussian_filter(v, sigma=1.5, mode="nearest", radius=5)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a, var_b = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    smap = (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(smap.mean())


@pytest.mark.parametrize("kind", ["blurred", "noisy"])
def test_ssim_matlab_rgb_matches_independent_scipy(photo, degraded, kind):
    ref = matlab_ssim_scipy(hwc(photo), hwc(degraded[kind]))
    got = ssim(degraded[kind], photo, variant="matlab_rgb")
    assert got == pytest.approx(ref, abs=1e-9)
    # A different convention from BasicSR's: mixing the colour channels into the window raises SSIM.
    assert got > ssim(degraded[kind], photo) + 1e-3


def test_ssim_matlab_rgb_y_channel_is_matlab_2d_ssim(photo, degraded):
    a, b = rgb_to_y(photo)[0].numpy(), rgb_to_y(degraded["noisy"])[0].numpy()
    ref = matlab_ssim_scipy(a, b)  # 2-D filter on the H x W luma, as MATLAB's ssim of a grayscale image
    assert ssim(photo, degraded["noisy"], variant="matlab_rgb", y_channel=True) == pytest.approx(ref, abs=1e-9)


def test_matlab_rgb_channel_axis_folds_the_taps_as_documented():
    # Spatially constant channels isolate the channel axis of the 3-D filter: the 11 taps fold onto R, G, B.
    w = _gaussian_taps(torch.float64, torch.device("cpu")).tolist()  # w[0] is tap -5, w[10] tap +5
    fold = torch.tensor([
        [sum(w[0:6]), w[6], sum(w[7:11])],
        [sum(w[0:5]), w[5], sum(w[6:11])],
        [sum(w[0:4]), w[4], sum(w[5:11])],
    ], dtype=torch.float64)
    rgb = torch.tensor([0.9, 0.2, 0.5], dtype=torch.float64)
    out = _filter_replicate_3d(rgb.view(1, 3, 1, 1).expand(1, 3, 12, 12), _gaussian_taps(torch.float64, rgb.device))
    torch.testing.assert_close(out[0, :, 6, 6], fold @ rgb)


# --- errors -------------------------------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    a, b = torch.zeros(3, 16, 16), torch.zeros(3, 16, 17)
    for fn in (psnr, ssim, psnr_per_image, ssim_per_image, compute_metrics):
        with pytest.raises(ValueError, match=r"\(3, 16, 16\) and \(3, 16, 17\)"):
            fn(a, b)


def test_too_small_image_names_the_shape():
    a = torch.zeros(3, 10, 32)
    with pytest.raises(ValueError, match=r"\(1, 3, 10, 32\)"):
        ssim(a, a)
    b = torch.zeros(3, 16, 16)
    with pytest.raises(ValueError, match=r"at least 11"):
        ssim(b, b, variant="matlab_rgb", crop_border=3)
    assert ssim(b, b, crop_border=2) == 1.0  # 12 x 12 left: fine


def test_bad_options_raise():
    a = torch.zeros(3, 16, 16)
    with pytest.raises(ValueError, match="variant"):
        ssim(a, a, variant="matlab")
    with pytest.raises(ValueError, match="lpips"):
        compute_metrics(a, a, metrics=("lpips",))
    with pytest.raises(ValueError, match="RGB"):
        psnr(a[:2], a[:2], y_channel=True)
