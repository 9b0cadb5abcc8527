"""The multi-scale U-Net blur translator (paper Table 4): shapes, identity init, batch independence."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_close_outputs

from blur2blur.models import get_spec, load_weights
from blur2blur.models.registry import MULTISCALE, create_model
from blur2blur.models.unet import UNetTranslator, infer_unet_config


def _small(**kw) -> UNetTranslator:
    torch.manual_seed(0)
    return create_model("unet_translator", **{"ngf": 4, **kw}).eval()


def test_registry_spec():
    spec = get_spec("unet_translator")
    assert (spec.output, spec.size_multiple, spec.pad_mode) == (MULTISCALE, 32, "reflect")
    assert UNetTranslator().size_multiple == 32 and UNetTranslator(ngf=2, num_downs=6).size_multiple == 64


@pytest.mark.parametrize("num_downs", [3, 5, 6])
def test_output_scales(num_downs):
    model = _small(num_downs=num_downs)
    m = 2 ** num_downs
    x = torch.rand(2, 3, m, 2 * m)
    with torch.no_grad():
        outs = model(x)
    assert [tuple(o.shape) for o in outs] == [(2, 3, m // 4, m // 2), (2, 3, m // 2, m), (2, 3, m, 2 * m)]


def test_default_width():
    model = UNetTranslator()
    assert model.downs[0].weight.shape == (64, 3, 4, 4)
    assert model.downs[4][1].weight.shape == (512, 512, 4, 4)  # widths cap at 8 * ngf
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("shape", [(1, 3, 48, 64), (1, 3, 64, 40), (1, 3, 61, 77)])
def test_size_not_multiple_is_a_clear_error(shape):
    with pytest.raises(ValueError, match=rf"multiples of 32.*got {shape[2]}x{shape[3]}"):
        _small()(torch.rand(shape))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_downs"):
        UNetTranslator(num_downs=2)
    with pytest.raises(ValueError, match="output_nc"):
        UNetTranslator(input_nc=3, output_nc=1)
    with pytest.raises(ValueError, match="norm"):
        UNetTranslator(norm="group")
    with pytest.raises(ValueError, match="shape"):
        _small()(torch.rand(3, 32, 32))


def test_init_identity():
    model = _small().init_identity()
    x = torch.rand(2, 3, 32, 64)
    with torch.no_grad():
        assert_close_outputs(model(x), [x[..., ::4, ::4], x[..., ::2, ::2], x], atol=0)
    # Training moves away from the identity: the zeroed heads get gradients.
    model.train()
    sum((o - 0.5).abs().mean() for o in model(x)).backward()
    for conv in (model.to_quarter[1], model.to_half[1], model.ups[0][1]):
        assert conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("train", [False, True])
def test_batch_independence(train):
    # Instance norm: a sample's output must not depend on the rest of its batch, in eval and
    # in train mode alike (no dropout at the default depth).
    model = _small().train(train)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        outs = model(x)
        for i in range(3):
            assert_close_outputs([o[i:i + 1] for o in outs], model(x[i:i + 1]), atol=1e-5)
        assert_close_outputs([o[:2] for o in outs], model(x[:2]), atol=1e-5)


def test_every_parameter_is_used():
    model = _small().train()
    sum(o.mean() for o in model(torch.rand(1, 3, 32, 32))).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == []


@pytest.mark.parametrize("kw", [
    {},
    {"ngf": 6, "num_downs": 4, "norm": "batch"},
    {"ngf": 2, "num_downs": 6, "use_dropout": True},
    {"input_nc": 1, "output_nc": 1, "num_downs": 3, "norm": "none"},
])
def test_infer_config_and_strict_reload(kw):
    model = _small(**kw)
    expected = {"input_nc": 3, "output_nc": 3, "ngf": 4, "num_downs": 5, "norm": "instance", **kw}
    expected.pop("use_dropout", None)
    if expected["norm"] == "none":
        expected["norm"] = "instance"  # same state dict: the guess takes the default
    assert infer_unet_config(model.state_dict()) == expected
    clone = UNetTranslator(**expected)
    load_weights(clone, model.state_dict())
    if kw.get("norm") != "none":  # ('none' was rebuilt as 'instance': other numbers)
        x = torch.rand(1, expected["input_nc"], 64, 64)
        with torch.no_grad():
            assert_close_outputs(clone.eval()(x), model(x), atol=0)
    assert infer_unet_config({"model.0.weight": torch.empty(1)}) is None


def test_dropout_placement():
    drops = lambda m: [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Dropout)]  # noqa: E731
    assert drops(UNetTranslator(ngf=2, use_dropout=True)) == []  # as pix2pix: only inner 8*ngf levels
    assert drops(UNetTranslator(ngf=2, num_downs=7, use_dropout=True)) == ["ups.4.3", "ups.5.3"]
