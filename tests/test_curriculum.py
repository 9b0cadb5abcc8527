"""The blur-degree measure orders images by known blur strength; the curriculum's subsets."""

from __future__ import annotations

import pytest
import torch

from blur2blur import assets
from blur2blur.data.curriculum import Curriculum, blur_degree, score_images
from blur2blur.data.images import read_image, write_image
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel


@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0])
def test_blur_degree_orders_known_blur_strength(angle):
    lengths = [3, 7, 11, 15, 21]
    for photo in assets.demo_photos()[::23]:
        sharp = read_image(photo)[0]
        scores = [blur_degree(sharp)] + [
            blur_degree(blur_with_kernels(sharp[None], motion_kernel(n, angle, 0.0)[None], gamma=2.2)[0])
            for n in lengths]
        assert scores == sorted(scores) and scores[-1] > scores[0] + 0.1, (photo.name, scores)


def test_blur_degree_matches_scikit_image_on_gray():
    from skimage.measure import blur_effect

    img = read_image(assets.demo_photos()[0])[0][:, :200, :300]
    gray = (img * torch.tensor([0.2125, 0.7154, 0.0721]).view(3, 1, 1)).sum(0)
    assert blur_degree(img) == pytest.approx(blur_effect(gray.double().numpy()), rel=1e-9)
    with pytest.raises(ValueError, match="too small"):
        blur_degree(torch.rand(3, 10, 10))


def test_scores_are_cached_and_curriculum_widens(tmp_path):
    paths = []
    for i, n in enumerate([21, 3, 11, 7]):
        sharp = read_image(assets.demo_photos()[1])[0][:, :96, :96]
        p = tmp_path / f"b{i}.png"
        write_image(blur_with_kernels(sharp[None], motion_kernel(n, 0.0, 0.0)[None])[0], p)
        paths.append(p)
    cache = tmp_path / "scores.json"
    scores = score_images(paths, cache, progress=False)
    assert cache.exists() and score_images(paths, cache, progress=False) == scores
    cur = Curriculum(scores, start_fraction=0.5, widen_at=10)
    assert cur.images_at(0) == [str(paths[1]), str(paths[3])]  # kernel lengths 3 and 7
    assert len(cur.images_at(10)) == 4
    with pytest.raises(ValueError):
        Curriculum(scores, start_fraction=0)
