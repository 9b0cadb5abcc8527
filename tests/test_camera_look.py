"""Camera look: noise and JPEG estimation recover known settings, and re-applying them is faithful."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from blur2blur.data import camera_look
from blur2blur.data.camera_look import (
    CameraLook,
    JpegProfile,
    NoiseProfile,
    add_noise,
    apply_camera_look,
    apply_jpeg,
    estimate_camera_look,
    estimate_noise,
    jpeg_profile,
)

GAUSS = NoiseProfile(a=0.0, b=(3 / 255) ** 2)
POISSON_GAUSS = NoiseProfile(a=0.0004, b=1e-5)


def scene(size: int = 160, seed: int = 0) -> torch.Tensor:
    """A (3, size, size) clean image in [0.05, 0.95]: smooth colour gradients, sharp-edged rectangles
    and one patch of fine texture (which the estimator must not mistake for noise)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.1 + 0.75 * (0.7 * xx + 0.3 * yy) + 0.04 * torch.sin(6 * xx) * torch.cos(4 * yy)
    img = torch.stack([base, 0.9 * base + 0.05, 1.05 * base - 0.03]).clamp(0.05, 0.95)
    for _ in range(4):
        t, l_, h, w = (torch.randint(0, size * 3 // 4, (2,), generator=g).tolist()
                       + torch.randint(size // 8, size // 4, (2,), generator=g).tolist())
        img[:, t:t + h, l_:l_ + w] = 0.15 + 0.7 * torch.rand(3, 1, 1, generator=g)
    s = slice(size // 8, size // 3)
    img[:, s, s] = 0.5 + 0.2 * torch.sin(xx[s, s] * 400) * torch.sin(yy[s, s] * 300)
    return img


def with_noise(img: torch.Tensor, p: NoiseProfile, seed: int = 1) -> torch.Tensor:
    """Unclipped Poisson-Gaussian noise (the test scenes stay away from 0 and 1 anyway)."""
    g = torch.Generator().manual_seed(seed)
    return img + torch.randn(img.shape, generator=g) * (p.a * img + p.b).sqrt()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / ((a - b) ** 2).mean().item())


# ---------------------------------------------------------------- noise estimation


@pytest.mark.parametrize("truth", [GAUSS, POISSON_GAUSS], ids=["gaussian", "poisson-gaussian"])
def test_estimate_noise_recovers_known_profiles(truth):
    est = estimate_noise([with_noise(scene(), truth)])
    assert est.std_at(0.5) == pytest.approx(truth.std_at(0.5), rel=0.2)
    # The signal dependence is real, not only the mid-grey level: check both ends of the range.
    for x in (0.2, 0.8):
        assert est.std_at(x) == pytest.approx(truth.std_at(x), rel=0.25), x
    if truth.a > 0:
        assert est.a == pytest.approx(truth.a, rel=0.5)


def test_estimate_noise_pools_images_and_batches():
    imgs = torch.stack([with_noise(scene(96, seed=s), POISSON_GAUSS, seed=s) for s in range(3)])
    from_batch = estimate_noise([imgs])
    from_list = estimate_noise(list(imgs))
    assert from_batch == from_list
    assert from_batch.std_at(0.5) == pytest.approx(POISSON_GAUSS.std_at(0.5), rel=0.2)


def test_busy_texture_is_not_taken_for_noise():
    # Fine texture over two thirds of the frame: a plain robust estimate over all pixels would
    # mostly measure the texture; only the flat-pixel selection keeps it out.
    img = scene()
    yy, xx = torch.meshgrid(torch.arange(160.0), torch.arange(160.0), indexing="ij")
    img[:, :, 50:] = 0.5 + 0.2 * torch.sin(xx[:, 50:] * 1.3) * torch.sin(yy[:, 50:] * 0.9)
    est = estimate_noise([with_noise(img, GAUSS)])
    assert est.std_at(0.5) == pytest.approx(GAUSS.std_at(0.5), rel=0.2)


def test_noise_free_image_gives_negligible_noise():
    assert estimate_noise([scene()]).std_at(0.5) < 0.5 / 255


def test_saturated_areas_are_ignored():
    # Clipped white/black areas are perfectly flat; counting them would pull the estimate down.
    img = scene()
    img[:, :, :60] = 1.0
    img[:, :40, 60:] = 0.0
    est = estimate_noise([with_noise(img, GAUSS).clamp(0, 1)])
    assert est.std_at(0.5) == pytest.approx(GAUSS.std_at(0.5), rel=0.2)


def test_estimate_noise_agrees_with_skimage():
    pytest.importorskip("pywt")  # skimage's estimate_sigma needs PyWavelets
    from skimage.restoration import estimate_sigma

    noisy = with_noise(scene(), GAUSS).clamp(0, 1)
    theirs = estimate_sigma(noisy.permute(1, 2, 0).double().numpy(), channel_axis=-1, average_sigmas=True)
    ours = estimate_noise([noisy]).std_at(0.5)
    assert ours == pytest.approx(theirs, rel=0.2)


def test_estimate_noise_tiny_images_do_not_crash():
    g = torch.Generator().manual_seed(0)
    small = estimate_noise([0.5 + 0.02 * torch.randn(3, 16, 16, generator=g)])
    assert small.a >= 0 and 0 < small.b and math.isfinite(small.b)
    assert small.std_at(0.5) == pytest.approx(0.02, rel=0.5)  # best effort, but in the right ballpark
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert estimate_noise([torch.rand(3, 2, 2, generator=g)]) == NoiseProfile(0.0, 0.0)
    assert any("no usable pixels" in str(w.message) for w in caught)
    assert estimate_noise([torch.full((3, 16, 16), 0.5)]) == NoiseProfile(0.0, 0.0)


@pytest.mark.parametrize("bad", [
    [],
    [torch.rand(16, 16)],
    [torch.rand(1, 16, 16)],
    [torch.rand(2, 4, 16, 16)],
    [torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)],
])
def test_estimate_noise_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="at least one image|shape|float"):
        estimate_noise(bad)


# ---------------------------------------------------------------- JPEG


def _save_jpeg(path, quality: int, subsampling: int, size: int = 48) -> None:
    arr = (scene(size).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", quality=quality, subsampling=subsampling)


@pytest.mark.parametrize("quality", [50, 75, 85, 95])
@pytest.mark.parametrize("subsampling", [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")], ids=lambda s: s[1])
def test_jpeg_profile_recovers_pil_settings(tmp_path, quality, subsampling):
    path = tmp_path / "x.jpg"
    _save_jpeg(path, quality, subsampling[0])
    prof = jpeg_profile(path)
    assert prof is not None and abs(prof.quality - quality) <= 2
    assert prof.subsampling == subsampling[1]


def test_jpeg_profile_is_exact_for_every_ijg_quality(tmp_path):
    # Pillow encodes with libjpeg's tables, so every quality maps back onto itself.
    path = tmp_path / "q.jpg"
    for q in range(1, 101):
        _save_jpeg(path, q, 2, size=8)
        assert jpeg_profile(path).quality == q


def test_jpeg_profile_none_for_other_files(tmp_path):
    png, txt = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(png)
    txt.write_text("not an image")
    assert jpeg_profile(png) is None
    assert jpeg_profile(txt) is None
    with pytest.raises(FileNotFoundError):
        jpeg_profile(tmp_path / "missing.jpg")


def test_apply_jpeg_degrades_a_little_and_keeps_shape():
    img = with_noise(scene(96), GAUSS).clamp(0, 1)
    out = apply_jpeg(img, JpegProfile(75, "4:2:0"))
    assert out.shape == img.shape and out.dtype == img.dtype
    assert 25 < psnr(out, img) < 50
    # Lower quality loses more; the batched path gives the same images as one at a time.
    assert psnr(apply_jpeg(img, JpegProfile(20, "4:2:0")), img) < psnr(out, img)
    batch = apply_jpeg(torch.stack([img, img.flip(-1)]), JpegProfile(75, "4:2:0"))
    assert batch.shape == (2, 3, 96, 96) and torch.equal(batch[0], out)
    assert apply_jpeg(img.double(), JpegProfile(75, "4:4:4")).dtype == torch.float64


# ---------------------------------------------------------------- adding noise


def test_add_noise_matches_target_variance_on_flat_grey():
    grey = torch.full((3, 128, 128), 0.5)
    for target in (GAUSS, POISSON_GAUSS):
        out = add_noise(grey, target, generator=torch.Generator().manual_seed(0))
        assert (out - grey).var().item() == pytest.approx(target.var_at(0.5), rel=0.1)


def test_add_noise_variance_follows_pixel_value():
    img = torch.cat([torch.full((3, 64, 128), 0.2), torch.full((3, 64, 128), 0.8)], dim=1)
    target = NoiseProfile(a=1e-3, b=0.0)
    d = add_noise(img, target, generator=torch.Generator().manual_seed(0)) - img
    assert d[:, :64].var().item() == pytest.approx(target.var_at(0.2), rel=0.1)
    assert d[:, 64:].var().item() == pytest.approx(target.var_at(0.8), rel=0.1)


def test_add_noise_only_tops_up_present_noise():
    grey = torch.full((3, 128, 128), 0.5)
    present = NoiseProfile(a=1e-4, b=0.0)
    out = add_noise(grey, POISSON_GAUSS, generator=torch.Generator().manual_seed(0), present=present)
    expected = POISSON_GAUSS.var_at(0.5) - present.var_at(0.5)
    assert (out - grey).var().item() == pytest.approx(expected, rel=0.1)
    # Already as noisy as the camera (or noisier): nothing is added.
    img = scene(64)
    for enough in (POISSON_GAUSS, NoiseProfile(a=1e-3, b=1e-4)):
        assert torch.equal(add_noise(img, POISSON_GAUSS, present=enough), img)


def test_add_noise_is_deterministic_and_in_range():
    img = torch.stack([scene(64), torch.zeros(3, 64, 64)])
    big = NoiseProfile(a=0.05, b=0.01)
    a = add_noise(img, big, generator=torch.Generator().manual_seed(7))
    b = add_noise(img, big, generator=torch.Generator().manual_seed(7))
    c = add_noise(img, big, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == img.shape and a.min() >= 0 and a.max() <= 1
    with pytest.raises(ValueError, match="shape"):
        add_noise(torch.rand(4, 8, 8), GAUSS)


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0, 1), b=st.floats(0, 1),
    pa=st.floats(0, 0.1), pb=st.floats(0, 0.1), use_present=st.booleans(),
    batched=st.booleans(), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**31),
)
def test_add_noise_property_range_and_shape(a, b, pa, pb, use_present, batched, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 3, h, w) if batched else (3, h, w)
    img = torch.rand(shape, generator=g)
    present = NoiseProfile(pa, pb) if use_present else None
    out = add_noise(img, NoiseProfile(a, b), generator=g, present=present)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_estimated_look_reapplied_matches_the_camera():
    # The use case end to end: measure S's noise, put it on a clean K, K now measures like S.
    camera = estimate_noise([with_noise(scene(seed=0), POISSON_GAUSS, seed=0)])
    k = add_noise(scene(seed=1), camera, generator=torch.Generator().manual_seed(3))
    assert estimate_noise([k]).std_at(0.5) == pytest.approx(POISSON_GAUSS.std_at(0.5), rel=0.2)


def test_apply_camera_look_is_noise_then_jpeg():
    img = scene(64)
    look = CameraLook(noise=POISSON_GAUSS, jpeg=JpegProfile(80, "4:2:0"))
    got = apply_camera_look(img, look, generator=torch.Generator().manual_seed(5))
    want = apply_jpeg(add_noise(img, POISSON_GAUSS, generator=torch.Generator().manual_seed(5)), look.jpeg)
    assert torch.equal(got, want)
    assert torch.equal(apply_camera_look(img, CameraLook(None, None)), img)


# ---------------------------------------------------------------- profiles and files


def test_profiles_round_trip_and_validate():
    look = CameraLook(noise=POISSON_GAUSS, jpeg=JpegProfile(85, "4:2:0"))
    for obj in (look, CameraLook(None, None), CameraLook(GAUSS, None), POISSON_GAUSS, look.jpeg):
        assert type(obj).from_dict(obj.to_dict()) == obj
    assert look.is_noticeable() and CameraLook(None, JpegProfile(95, "4:4:4")).is_noticeable()
    assert CameraLook(GAUSS, None).is_noticeable()
    assert not CameraLook(NoiseProfile(0.0, (0.2 / 255) ** 2), None).is_noticeable()
    assert not CameraLook(None, None).is_noticeable()
    text = look.describe()
    assert "3.7/255" in text and "q≈85 4:2:0" in text
    with pytest.raises(ValueError):
        NoiseProfile(-1e-4, 0.0)
    with pytest.raises(ValueError):
        JpegProfile(101, "4:2:0")
    with pytest.raises(ValueError):
        JpegProfile(90, "4:1:1")


def test_estimate_camera_look_from_files(tmp_path):
    paths = []
    for i in range(2):  # lossless files carry the camera noise untouched
        arr = with_noise(scene(128, seed=i), GAUSS, seed=i).clamp(0, 1).permute(1, 2, 0).numpy()
        p = tmp_path / f"png{i}.png"
        Image.fromarray((arr * 255).round().astype(np.uint8)).save(p, compress_level=1)
        paths.append(p)
    only_png = estimate_camera_look(paths)
    assert only_png.jpeg is None
    assert only_png.noise.std_at(0.5) == pytest.approx(GAUSS.std_at(0.5), rel=0.2)

    for i, (q, sub) in enumerate([(85, 2), (85, 2), (95, 0)]):
        p = tmp_path / f"jpg{i}.jpg"
        _save_jpeg(p, q, sub, size=40)
        paths.append(p)
    look = estimate_camera_look(paths, max_images=2)
    assert look.jpeg == JpegProfile(85, "4:2:0")
    assert look.noise is not None and look.is_noticeable()
    # Deterministic, also with a random subset drawn from a seeded generator.
    assert estimate_camera_look(paths, max_images=2) == look
    r1 = estimate_camera_look(paths, max_images=2, generator=torch.Generator().manual_seed(0))
    r2 = estimate_camera_look(paths, max_images=2, generator=torch.Generator().manual_seed(0))
    assert r1 == r2


def test_estimate_camera_look_crops_big_images(tmp_path, monkeypatch):
    arr = with_noise(scene(600), GAUSS).clamp(0, 1).permute(1, 2, 0).numpy()[:, :560]
    p = tmp_path / "big.png"
    Image.fromarray((arr * 255).round().astype(np.uint8)).save(p, compress_level=1)
    seen = []

    def spy(images):
        seen.extend(tuple(i.shape) for i in images)
        return estimate_noise(images)

    monkeypatch.setattr(camera_look, "estimate_noise", spy)
    look = estimate_camera_look([p])
    assert seen == [(3, 512, 512)]
    assert look.noise.std_at(0.5) == pytest.approx(GAUSS.std_at(0.5), rel=0.2)


def test_estimate_camera_look_rejects_empty():
    with pytest.raises(ValueError, match="at least one"):
        estimate_camera_look([])
