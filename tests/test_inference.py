"""Pad-run-crop and tiled inference: any size in, same size out; tiles blend without seams."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from blur2blur.inference import count_tiles, restore, run_padded
from blur2blur.models import create_model
from blur2blur.models.registry import _REGISTRY, IMAGE, ModelSpec
from blur2blur.ops import pad_to_multiple


class Pointwise(nn.Module):
    """A per-pixel model that needs H, W multiples of 8 and records the sizes it saw."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Conv2d(3, 3, 1)
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0
        self.seen.append(tuple(x.shape[-2:]))
        return torch.sigmoid(self.mix(x))


@pytest.fixture
def pointwise():
    _REGISTRY["_test_pointwise"] = ModelSpec("_test_pointwise", Pointwise, IMAGE, 8, "reflect", None, "test")
    try:
        yield create_model("_test_pointwise").eval()
    finally:
        del _REGISTRY["_test_pointwise"]


@settings(max_examples=20, deadline=None)
@given(h=st.integers(3, 70), w=st.integers(3, 70), tile=st.sampled_from([16, 24, 40]), overlap=st.integers(0, 15))
def test_tiled_equals_whole_for_a_pointwise_model(h, w, tile, overlap):
    _REGISTRY["_test_pointwise"] = ModelSpec("_test_pointwise", Pointwise, IMAGE, 8, "reflect", None, "test")
    try:
        torch.manual_seed(0)
        model = create_model("_test_pointwise").eval()
        x = torch.rand(2, 3, h, w)
        with torch.no_grad():
            whole = restore(model, x)
            model.seen.clear()
            tiled = restore(model, x, tile=tile, tile_overlap=overlap)
        assert tiled.shape == x.shape
        torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)
        # memory is bounded by the tile: no forward saw more than the padded tile
        assert max(max(s) for s in model.seen) <= tile + (-tile) % 8
    finally:
        del _REGISTRY["_test_pointwise"]


def test_tiles_bound_memory(pointwise):
    x = torch.rand(1, 3, 300, 170)
    with torch.no_grad():
        restore(pointwise, x, tile=64, tile_overlap=16)
    assert all(h <= 64 and w <= 64 for h, w in pointwise.seen)
    assert len(pointwise.seen) == count_tiles(300, 170, 64, 16)


def test_tiled_nafnet_is_close_to_whole_image():
    torch.manual_seed(0)
    model = create_model("nafnet", width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1], middle_blk_num=1).eval()
    x = torch.rand(1, 3, 96, 80)
    with torch.no_grad():
        whole = restore(model, x, clamp=False)
        tiled = restore(model, x, tile=48, tile_overlap=24, clamp=False)
    assert (tiled - whole).abs().mean() < 0.02  # receptive field effects at tile borders only


def test_pad_to_multiple_reflects_and_falls_back_on_tiny_images():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    y = pad_to_multiple(x, 8)
    assert y.shape == (1, 1, 8, 8)  # pad 5 > side 3: replicate instead of reflect
    z = pad_to_multiple(torch.rand(1, 3, 10, 13), 4)
    assert z.shape == (1, 3, 12, 16)
    torch.testing.assert_close(z[..., 10, :13], z[..., 8, :13])  # reflect: row 10 mirrors row 8


@pytest.mark.parametrize("name,args", [
    ("restormer", dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1, heads=[1, 1, 1, 1])),
    ("mimo_unet", dict(num_res=1, base_channel=8)),
    ("nafnet", dict(width=8, enc_blk_nums=[1], dec_blk_nums=[1])),
])
@pytest.mark.parametrize("size", [(37, 53), (8, 8), (64, 40)])
def test_every_deblurrer_takes_any_size_and_batch(name, args, size):
    torch.manual_seed(0)
    model = create_model(name, **args).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = run_padded(model, x)
        single = run_padded(model, x[1:])
    assert y.shape == x.shape
    torch.testing.assert_close(y[1:], single, rtol=0, atol=1e-5)


def test_restore_rejects_bad_shapes(pointwise):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        restore(pointwise, torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="tile_overlap"):
        restore(pointwise, torch.rand(1, 3, 64, 64), tile=16, tile_overlap=16)


def test_restore_refuses_non_image_models():
    disc = create_model("b2b_discriminator", ndf=8)
    with pytest.raises(ValueError, match="not an image-to-image"):
        restore(disc, torch.rand(1, 3, 32, 32))
