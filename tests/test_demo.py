"""The bundled demo data: photos with credits, the known camera's pairs, the camera split."""

from __future__ import annotations

import json

import pytest
import torch

from blur2blur import assets
from blur2blur.data.demo import KNOWN_GAMMA, split_demo_photos, write_known_pairs
from blur2blur.data.images import read_image
from blur2blur.data.pairs import find_pairs, validate_pairs
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
    validate_pairs(pairs)
    record = json.loads((root / "kernels.json").read_text())[photos[0].stem]
    sharp = read_image(pairs[0].sharp)[0]
    kernel = motion_kernel(record["size"], record["angle"], record["direction"])[None]
    again = blur_with_kernels(sharp[None], kernel, gamma=KNOWN_GAMMA)[0]
    assert record["gamma"] == KNOWN_GAMMA
    torch.testing.assert_close(read_image(pairs[0].blurry)[0], again, rtol=0, atol=1 / 255)
    with pytest.raises(FileExistsError):
        write_known_pairs(root, photos)
