"""The composed model D'(G(x)): behaviour, size rule, self-describing checkpoint."""

from __future__ import annotations

import torch

from blur2blur.inference import restore
from blur2blur.models import create_model, load_checkpoint, save_checkpoint
from blur2blur.models.composed import ComposedDeblurrer
from blur2blur.train.translator import init_identity


def parts():
    torch.manual_seed(0)
    g = init_identity(create_model("unet_translator", ngf=8))
    d = create_model("nafnet", width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])
    return g, d


def test_identity_translator_leaves_the_deblurrer_alone():
    g, d = parts()
    model = ComposedDeblurrer.from_parts(g, d).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), d.eval()(x))
        torch.testing.assert_close(model.translate(x), x)
    assert model.size_multiple == 32  # lcm(unet 32, nafnet 4)


def test_round_trip_and_any_size(tmp_path):
    g, d = parts()
    with torch.no_grad():   # every weight of G moved: G is no longer the identity, so both halves are checked
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = ComposedDeblurrer.from_parts(g, d).eval()
    path = save_checkpoint(model, tmp_path / "c.safetensors", info={"what": "test"})
    again = load_checkpoint(path)
    assert again.arch_name == "blur2blur" and again.checkpoint_info["what"] == "test"
    x = torch.rand(1, 3, 50, 70)
    with torch.no_grad():
        translated = restore(model.translator, x)
        assert (translated - x).abs().max() > 1e-3   # the translator half can fail this test
        torch.testing.assert_close(restore(again.translator, x), translated)
        a, b = restore(model, x), restore(again, x)
    assert a.shape == x.shape
    torch.testing.assert_close(a, b)
