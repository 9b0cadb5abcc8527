"""Baseline degradation pipelines: seeded, shape/range-safe, each step doing what its source says."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blur2blur.assets import demo_photos
from blur2blur.data.camera_look import JpegProfile, apply_jpeg
from blur2blur.data.degradations import (
    DEGRADATIONS,
    BSRGANConfig,
    RSBlurConfig,
    SyntheticMotionConfig,
    bsrgan_degrade,
    degrade,
    degrade_dataset,
    linear_to_srgb,
    random_trajectory,
    rsblur_degrade,
    shifted_copies_kernel,
    srgb_to_linear,
    synthetic_motion,
)
from blur2blur.data.images import read_image
from blur2blur.data.pairs import find_pairs
from blur2blur.data.synthetic import blur_with_kernels, draw_motion_kernels
from blur2blur.seeding import generator

NAMES = sorted(DEGRADATIONS)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 96x96 crop of a bundled demo photo."""
    img, _ = read_image(demo_photos()[0])
    return img[:, 40:136, 100:196].contiguous()


def test_registry_and_dispatch(photo):
    assert set(DEGRADATIONS) == {"synthetic", "bsrgan", "rsblur"}
    for name, (fn, cfg) in DEGRADATIONS.items():
        torch.testing.assert_close(degrade(name, photo, generator(1)), fn(photo, generator(1), cfg), rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade("nope", photo, generator(0))
    with pytest.raises(TypeError, match="BSRGANConfig"):
        degrade("bsrgan", photo, generator(0), RSBlurConfig())
    with pytest.raises(ValueError, match="low > high"):
        BSRGANConfig(jpeg_quality=(90, 30))
    with pytest.raises(ValueError, match="probability"):
        RSBlurConfig(jpeg_prob=1.5)


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(NAMES), h=st.integers(1, 20), w=st.integers(1, 20), batch=st.sampled_from([0, 2]),
       double=st.booleans(), seed=st.integers(0, 2**31))
def test_shape_dtype_range(name, h, w, batch, double, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (3, h, w) if batch == 0 else (batch, 3, h, w)
    x = (torch.rand(shape, generator=g, dtype=torch.float64) * 1.2 - 0.1).to(torch.float64 if double else torch.float32)
    y = degrade(name, x, generator(seed))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_seeded_per_index(name, photo):
    a = degrade(name, photo, generator(3, 5))
    torch.testing.assert_close(degrade(name, photo, generator(3, 5)), a, rtol=0, atol=0)
    assert not torch.equal(degrade(name, photo, generator(3, 6)), a)
    # A batch draws its images one after another: its first image is the single image's result.
    batch = degrade(name, torch.stack([photo, photo.flip(-1)]), generator(3, 5))
    torch.testing.assert_close(batch[0], a, rtol=0, atol=0)


@pytest.mark.parametrize("name,bound", [("synthetic", 32.0), ("bsrgan", 31.0), ("rsblur", 32.0)])
def test_degrades_a_real_photo(name, bound, photo):
    scores = [psnr(degrade(name, photo, generator(0, i)), photo) for i in range(4)]
    assert max(scores) < bound + 1 and sum(scores) / len(scores) < bound


def test_synthetic_is_the_synthetic_module_blur(photo):
    kernels, _ = draw_motion_kernels(1, generator(9), (7, 21))
    torch.testing.assert_close(synthetic_motion(photo, generator(9)), blur_with_kernels(photo[None], kernels)[0],
                               rtol=0, atol=1e-6)
    lin = synthetic_motion(photo, generator(9), SyntheticMotionConfig(gamma=2.2))
    torch.testing.assert_close(lin, blur_with_kernels(photo[None], kernels, gamma=2.2)[0], rtol=0, atol=1e-5)


def test_shifted_copies_kernel_averages_shifts():
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    k = shifted_copies_kernel(torch.tensor([[0.0, -2.0], [0.0, 0.0], [0.0, 2.0]]))
    assert k.shape[-1] % 2 == 1 and abs(float(k.sum()) - 1) < 1e-6
    from blur2blur.ops import convolve_per_image as _convolve

    y = _convolve(x, k[None])[0]
    mean = (x[0].roll(2, -1) + x[0] + x[0].roll(-2, -1)) / 3  # away from the borders
    torch.testing.assert_close(y[..., 4:-4], mean[..., 4:-4], rtol=0, atol=1e-6)
    half = shifted_copies_kernel(torch.tensor([[0.0, 0.5]]))  # a half-pixel shift: two taps of 1/2
    assert sorted(half[half > 0].tolist()) == pytest.approx([0.5, 0.5])
    # Wide kernels go through the FFT and give the same result as the direct convolution.
    wide = shifted_copies_kernel(random_trajectory(generator(2), 40.0))
    assert wide.shape[-1] >= 33
    import torch.nn.functional as F

    p = wide.shape[-1] // 2
    x2 = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    direct = F.conv2d(F.pad(x2, (p,) * 4, mode="reflect"), wide.flip(-1, -2)[None, None].repeat(3, 1, 1, 1), groups=3)
    torch.testing.assert_close(_convolve(x2, wide[None]), direct, rtol=0, atol=1e-5)


# ----- BSRGAN ----------------------------------------------------------------------------------


def test_bsrgan_nothing_enabled_is_identity(photo):
    cfg = BSRGANConfig(motion_prob=0, iso_prob=0, aniso_prob=0, resize_prob=0, noise_prob=0, jpeg_prob=0,
                       final_jpeg_prob=0)
    torch.testing.assert_close(bsrgan_degrade(photo, generator(0), cfg), photo, rtol=0, atol=0)


@pytest.mark.parametrize("step", ["jpeg", "final_jpeg"])
def test_bsrgan_only_jpeg_is_apply_jpeg(step, photo):
    out = bsrgan_degrade(photo, generator(4), BSRGANConfig.only(step, jpeg_quality=(60, 60)))
    torch.testing.assert_close(out, apply_jpeg(photo, JpegProfile(60, "4:2:0")), rtol=0, atol=0)


def test_bsrgan_only_resize_keeps_size_and_softens(photo):
    cfg = BSRGANConfig.only("resize", resize_scale=(2.0, 2.0), resize_modes=("bilinear",))
    out = bsrgan_degrade(photo[:, :, :90], generator(1), cfg)  # odd sizes: 96 x 90 -> 48 x 45 -> back
    assert out.shape == (3, 96, 90)
    assert 20 < psnr(out, photo[:, :, :90]) < 40


@pytest.mark.parametrize("step", ["motion", "iso_blur", "aniso_blur"])
def test_bsrgan_blurs_keep_flat_images_and_smooth_detail(step, photo):
    flat = torch.full((3, 32, 32), 0.4)
    torch.testing.assert_close(bsrgan_degrade(flat, generator(0), BSRGANConfig.only(step)), flat, rtol=0, atol=1e-5)
    detail = [float(bsrgan_degrade(photo, generator(i), BSRGANConfig.only(step)).diff(dim=-1).abs().mean())
              for i in range(3)]
    sharp = float(photo.diff(dim=-1).abs().mean())
    assert all(d <= sharp + 1e-6 for d in detail) and min(detail) < 0.9 * sharp  # sigma may draw near 0


def test_bsrgan_noise_kinds_and_level():
    x = torch.full((3, 64, 64), 0.5)
    gray = bsrgan_degrade(x, generator(0), BSRGANConfig.only("noise", noise_level=(10, 10), noise_color_prob=0.0,
                                                             noise_gray_prob=1.0)) - x
    torch.testing.assert_close(gray[0], gray[1], rtol=0, atol=1e-6)
    assert float(gray.std()) == pytest.approx(10 / 255, rel=0.1)
    color = bsrgan_degrade(x, generator(0), BSRGANConfig.only("noise", noise_level=(10, 10), noise_color_prob=1.0,
                                                              noise_gray_prob=0.0)) - x
    assert float(color.std()) == pytest.approx(10 / 255, rel=0.1)
    assert abs(float(torch.corrcoef(color.reshape(3, -1))[0, 1])) < 0.1
    general = bsrgan_degrade(x, generator(0), BSRGANConfig.only("noise", noise_color_prob=0.0, noise_gray_prob=0.0)) - x
    assert 0 < float(general.std()) < 25 / 255 * 1.2


# ----- RSBlur ----------------------------------------------------------------------------------


def test_srgb_curve_round_trip():
    x = torch.linspace(0, 1, 1001)
    torch.testing.assert_close(linear_to_srgb(srgb_to_linear(x)), x, rtol=0, atol=1e-6)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.214, abs=1e-3)


def test_rsblur_isp_round_trip_without_blur_noise_or_jpeg(photo):
    cfg = RSBlurConfig(trajectory_length=(0.0, 0.0), sat_scale=(0.0, 0.0), shot_noise=0.0, read_noise=0.0,
                       jpeg_prob=0.0)
    out = rsblur_degrade(photo, generator(2), cfg)
    assert psnr(out, photo) > 45


def test_rsblur_saturated_lights_make_clipped_streaks():
    x = torch.full((3, 64, 64), 0.1)
    x[:, 26:38, 26:38] = 1.0  # a 12x12 saturated light
    base = dict(trajectory_length=(10.0, 10.0), jpeg_prob=0.0)
    plain = rsblur_degrade(x, generator(5), RSBlurConfig(sat_scale=(0.0, 0.0), **base))
    sat = rsblur_degrade(x, generator(5), RSBlurConfig(sat_scale=(1.5, 1.5), **base))
    n_plain, n_sat, n_light = (int((t >= 1).sum()) for t in (plain, sat, x))
    assert float(sat.max()) == 1.0 and float(plain.max()) <= 1.0
    assert n_sat > n_light > n_plain  # the boosted streak spreads past the light; plain blur dims it
    assert float(sat.mean()) > float(plain.mean())  # saturation only brightens


@pytest.mark.parametrize("a,b", [(2e-3, 1e-6), (1e-5, 1e-4)])
def test_rsblur_noise_follows_shot_and_read(a, b):
    cfg = RSBlurConfig(trajectory_length=(0.0, 0.0), ccm="identity", red_gain=(1.0, 1.0), blue_gain=(1.0, 1.0),
                       shot_noise=a, read_noise=math.sqrt(b), noise_jitter=0.0, jpeg_prob=0.0)
    v = 0.6
    x = torch.full((3, 96, 96), v)
    out = rsblur_degrade(x, generator(8), cfg)
    lin = float(srgb_to_linear(torch.tensor(v)))
    slope = 1.055 / 2.4 * lin ** (1 / 2.4 - 1)  # d sRGB / d linear
    expected = slope * math.sqrt(a * lin + b)
    assert float(out.std()) == pytest.approx(expected, rel=0.08)
    assert float(out.mean()) == pytest.approx(v, abs=2e-3)


def test_rsblur_trajectory_is_smooth_and_centred():
    path = random_trajectory(generator(0), 20.0)
    steps = path.diff(dim=0).norm(dim=1)
    assert float(steps.sum()) == pytest.approx(20.0, rel=1e-6)
    assert torch.equal(path[len(path) // 2], torch.zeros(2, dtype=path.dtype))
    assert float(steps.max()) <= 0.51


# ----- whole-folder synthesis and on-the-fly pairs --------------------------------------------


def test_degrade_dataset_layout_manifest_and_refusal(tmp_path):
    photos = demo_photos()[:2]
    out = degrade_dataset(photos, tmp_path / "set", "synthetic", seed=3, variants=2)
    names = sorted(p.name for p in (out / "blur").iterdir())
    assert names == sorted(f"{p.stem}_{v}.png" for p in photos for v in range(2))
    assert names == sorted(p.name for p in (out / "sharp").iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["degradation"] == "synthetic" and manifest["seed"] == 3 and manifest["variants"] == 2
    assert manifest["config"] == {"size_range": [7, 21], "gamma": None}
    assert len(manifest["pairs"]) == 4 and len(find_pairs(out, "folders")) == 4
    # Any pair can be rebuilt from (seed, index, variant).
    item = manifest["pairs"][3]
    sharp, _ = read_image(photos[item["index"]])
    again = synthetic_motion(sharp, generator(3, item["index"], item["variant"]))
    written, _ = read_image(out / item["blur"])
    torch.testing.assert_close(written, (again * 255).round() / 255, rtol=0, atol=1e-6)
    with pytest.raises(FileExistsError, match="blur"):
        degrade_dataset(photos, out, "synthetic")
    degrade_dataset(photos[:1], out, "synthetic", overwrite=True)  # allowed when asked
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade_dataset(photos, tmp_path / "other", "nope")
