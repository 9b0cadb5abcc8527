"""The bundled demo data: photos with credits, the known camera's pairs, the camera split."""

from __future__ import annotations

import json

import pytest
import torch

from blur2blur import assets
from blur2blur.data.demo import KNOWN_GAMMA, split_demo_photos, write_known_pairs
from blur2blur.data.images import read_image
from blur2blur.data.pairs import find_pairs, load_pair
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel


def test_photos_are_bundled_with_credits():
    photos = assets.demo_photos()
    assert len(photos) == 91
    credits = (assets.PHOTOS / "CREDITS.md").read_text(encoding="utf-8")
    assert "CC BY" in credits and "resized" in credits
    assert all(min(read_image(p)[0].shape[-2:]) >= 256 for p in photos[::15])  # room for 256 crops


def test_known_and_camera_scenes_are_disjoint():
    known, camera = split_demo_photos()
    assert len(known) + len(camera) == 91 and not set(known) & set(camera) and len(camera) == 30


def test_known_pairs_are_reproducible_and_never_overwritten(tmp_path):
    photos = assets.demo_photos()[:2]
    root = write_known_pairs(tmp_path / "p", photos, seed=4)
    pairs = find_pairs(root, "folders")
    for pair in pairs:   # every pair reads, at matching sizes
        load_pair(pair)
    record = json.loads((root / "kernels.json").read_text())[photos[0].stem]
    sharp = read_image(pairs[0].sharp)[0]
    kernel = motion_kernel(record["size"], record["angle"], record["direction"])[None]
    again = blur_with_kernels(sharp[None], kernel, gamma=KNOWN_GAMMA)[0]
    assert record["gamma"] == KNOWN_GAMMA
    torch.testing.assert_close(read_image(pairs[0].blurry)[0], again, rtol=0, atol=1 / 255)
    with pytest.raises(FileExistsError):
        write_known_pairs(root, photos)


def test_known_camera_set_is_the_known_blur_on_each_sharp_image(tmp_path):
    """K made by the known camera itself: each image is that camera's blur (drawn from the seed) on its
    source, reruns keep what exists, other settings are refused, a noisy camera's look is put back."""
    from blur2blur.data.demo import KNOWN_KERNEL_SIZES, write_known_camera_set
    from blur2blur.data.images import write_image
    from blur2blur.data.synthetic import draw_motion_kernels
    from blur2blur.seeding import generator

    sharp = []
    for p in assets.demo_photos()[:2]:
        sharp.append(write_image(read_image(p)[0][:, :64, :80], tmp_path / "S" / f"{p.stem}.png"))
    made = write_known_camera_set(sharp, tmp_path / "K", variants=2, seed=3, camera_noise="off")
    assert [(k.name, s) for k, s in made] == [(f"{s.stem}_k{v}.png", s) for s in sharp for v in range(2)]
    img = read_image(sharp[1])[0]
    for v in range(2):   # each variant its own kernel
        kernels, _ = draw_motion_kernels(1, generator(3, 1, v), KNOWN_KERNEL_SIZES)
        expected = blur_with_kernels(img[None], kernels, gamma=KNOWN_GAMMA)[0]
        torch.testing.assert_close(read_image(made[2 + v][0])[0], expected, rtol=0, atol=1 / 255)

    stamp = made[0][0].stat().st_mtime_ns
    assert write_known_camera_set(sharp, tmp_path / "K", variants=2, seed=3, camera_noise="off") == made
    assert made[0][0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        write_known_camera_set(sharp, tmp_path / "K", variants=2, seed=4, camera_noise="off")

    noisy = (read_image(sharp[0])[0] + 0.03 * torch.randn(3, 64, 80, generator=torch.Generator().manual_seed(0)))
    noisy_path = write_image(noisy.clamp(0, 1), tmp_path / "N" / "noisy.png")
    (k_clean, _), = write_known_camera_set([noisy_path], tmp_path / "K0", camera_noise="off")
    (k_noisy, _), = write_known_camera_set([noisy_path], tmp_path / "K1", camera_noise="match")
    detail = lambda x: float((x[:, 1:] - x[:, :-1]).abs().mean())  # noqa: E731
    assert detail(read_image(k_noisy)[0]) > 1.5 * detail(read_image(k_clean)[0])
