"""Report crops are chosen by detail: the windows with the most gradient energy, never overlapping."""

from __future__ import annotations

import torch

from blur2blur.report.crops import cut, detail_windows, enlarged


def _flat_with_texture(h: int, w: int, patches: list[tuple[int, int, int, float]]) -> torch.Tensor:
    """A flat grey image with noise squares (top, left, side, amplitude)."""
    g = torch.Generator().manual_seed(0)
    img = torch.full((3, h, w), 0.5)
    for top, left, side, amp in patches:
        img[:, top:top + side, left:left + side] += amp * (torch.rand(1, side, side, generator=g) - 0.5)
    return img


def test_the_most_detailed_window_is_chosen_first_and_windows_never_overlap():
    img = _flat_with_texture(300, 400, [(150, 250, 64, 0.8), (20, 30, 64, 0.3)])
    first, second = detail_windows(img, 64, 2)
    assert first == (150, 250, 64) and second == (20, 30, 64)
    windows = detail_windows(img, 100, 4)
    for i, (t1, l1, s) in enumerate(windows):
        for t2, l2, _ in windows[i + 1:]:
            assert abs(t1 - t2) >= s or abs(l1 - l2) >= s
    assert windows[0][0] <= 150 and windows[0][0] + 100 >= 214  # the strong texture lies inside the best one


def test_any_random_texture_square_is_found():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        top, left = (int(v) for v in torch.randint(0, 200, (2,), generator=g))
        img = _flat_with_texture(264, 264, [(top, left, 64, 1.0)])
        assert detail_windows(img, 64)[0] == (top, left, 64)


def test_small_images_give_their_whole_side_and_are_enlarged_to_be_seen():
    img = torch.rand(3, 40, 90)
    (window,) = detail_windows(img, 128)
    assert window[2] == 40
    shown = enlarged(cut(img, window))
    assert shown.shape == (3, 160, 160) and torch.equal(shown[:, ::4, ::4], cut(img, window))
    big = torch.rand(3, 130, 130)
    assert enlarged(big) is big
