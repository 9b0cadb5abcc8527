"""MIMO-UNet, MIMO-UNet+ and the Blur2Blur translator G against the reference fixtures and manifests."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURE_DIR, assert_close_outputs, load_fixture, load_manifest

from blur2blur.models import get_spec, load_weights
from blur2blur.models.mimo_unet import (
    B2BTranslator,
    MIMOUNet,
    MIMOUNetPlus,
    infer_mimo_config,
    infer_mimo_plus_config,
)
from blur2blur.models.registry import MULTISCALE, create_model

FIXTURES = [  # (fixture, registered name)
    ("mimounet_small", "mimo_unet"),
    ("mimounet_plus_small", "mimo_unet_plus"),
    ("blur2blur_translator_small", "b2b_translator"),
]
MANIFESTS = [  # (manifest, registered name, expected infer_config of the file)
    ("mimounet", "mimo_unet", {"num_res": 8, "base_channel": 32}),
    ("mimounet_plus", "mimo_unet_plus", {"num_res": 20, "base_channel": 32}),
    ("blur2blur_translator_mimounet", "b2b_translator", {"num_res": 8, "base_channel": 32}),
]


def _manifest_args(config: dict) -> dict:
    # The manifests add 'type' (official class) and 'built_by' (Blur2Blur's define_G call).
    return {k: v for k, v in config.items() if k not in ("type", "built_by")}


def _meta_state_dict(manifest: dict) -> dict[str, torch.Tensor]:
    return {name: torch.empty(shape, device="meta") for name, shape, _ in manifest["state_dict"]}


def _small(cls=MIMOUNet, **kw):
    torch.manual_seed(0)
    return cls(**{"num_res": 1, "base_channel": 8, **kw}).eval()


@pytest.mark.parametrize("fixture,arch", FIXTURES)
def test_reference_fixture(fixture, arch):
    io = load_fixture(fixture)
    model = create_model(arch, **io["config"]).eval()
    load_weights(model, FIXTURE_DIR / io["checkpoint"])  # {'model': sd} or raw sd, strict
    assert len(io["cases"]) == 4
    for case in io["cases"]:
        with torch.no_grad():
            if case["output"] is None:
                # The reference fails deep inside (a FAM size mismatch); ours says why, up front.
                with pytest.raises(ValueError, match=r"multiples of 4.*got \d+x\d+"):
                    model(case["input"])
            else:
                assert_close_outputs(model(case["input"]), case["output"], atol=1e-5)


@pytest.mark.parametrize("manifest_name,arch,expected", MANIFESTS)
def test_manifest_layout(manifest_name, arch, expected):
    manifest = load_manifest(manifest_name)
    with torch.device("meta"):
        model = create_model(arch, **_manifest_args(manifest["config"]))
    sd = model.state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == [(k, s) for k, s, _ in manifest["state_dict"]]
    assert all(dtype == "float32" for _, _, dtype in manifest["state_dict"])
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    assert len(sd) == manifest["num_state_dict_entries"]
    assert sum(1 for _ in model.buffers()) == manifest["num_buffers"] == 0
    # The registry's guesser recovers the configuration from keys and shapes alone.
    assert get_spec(arch).infer_config(_meta_state_dict(manifest)) == expected


def test_infer_config_tells_plus_from_plain():
    plain = _meta_state_dict(load_manifest("mimounet"))
    plus = _meta_state_dict(load_manifest("mimounet_plus"))
    assert infer_mimo_config(plus) == {"num_res": 20, "base_channel": 32}
    assert infer_mimo_plus_config(plus) == {"num_res": 20, "base_channel": 32}
    assert infer_mimo_plus_config(plain) is None  # 8 blocks per level: plain MIMO-UNet
    assert infer_mimo_config({"model.0.weight": torch.empty(8, 3, 4, 4)}) is None
    assert infer_mimo_config({**plain, "extra.weight": torch.empty(1)}) is None


def test_registry_specs():
    for name in ("mimo_unet", "mimo_unet_plus", "b2b_translator"):
        spec = get_spec(name)
        assert (spec.output, spec.size_multiple, spec.pad_mode) == (MULTISCALE, 4, "reflect")
    assert isinstance(create_model("b2b_translator", num_res=0, base_channel=4), MIMOUNet)


def test_defaults_and_dropout():
    import inspect

    assert inspect.signature(MIMOUNet).parameters["num_res"].default == 8
    assert inspect.signature(MIMOUNetPlus).parameters["num_res"].default == 20
    assert inspect.signature(B2BTranslator).parameters["base_channel"].default == 32
    plus = _small(MIMOUNetPlus)
    drops = [m for m in plus.modules() if isinstance(m, torch.nn.Dropout2d)]
    assert [d.p for d in drops] == [0.1, 0.1]
    assert not any(isinstance(m, torch.nn.Dropout2d) for m in _small().modules())
    # Same weights: Plus in eval mode == plain MIMO-UNet.
    plain = _small()
    plain.load_state_dict(plus.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert_close_outputs(plus(x), plain(x), atol=0)


@pytest.mark.parametrize("shape", [(1, 3, 62, 64), (1, 3, 64, 30), (1, 3, 61, 77)])
def test_size_not_multiple_of_4_is_a_clear_error(shape):
    with pytest.raises(ValueError, match=rf"multiples of 4.*got {shape[2]}x{shape[3]}"):
        _small()(torch.rand(shape))


def test_wrong_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        _small()(torch.rand(1, 4, 16, 16))


def test_output_scales_and_batch_independence():
    model = _small(B2BTranslator)
    x = torch.rand(3, 3, 20, 28)  # multiples of 4, not of 8
    with torch.no_grad():
        outs = model(x)
        assert [tuple(o.shape) for o in outs] == [(3, 3, 5, 7), (3, 3, 10, 14), (3, 3, 20, 28)]
        # No normalisation layers: each sample's result ignores the rest of the batch.
        for i in range(3):
            assert_close_outputs([o[i:i + 1] for o in outs], model(x[i:i + 1]), atol=1e-5)
        assert_close_outputs([o[1:] for o in outs], model(x[1:]), atol=1e-5)


def test_init_identity():
    model = _small(B2BTranslator).init_identity()
    x = torch.rand(2, 3, 16, 24)
    expected = [x[..., ::4, ::4], x[..., ::2, ::2], x]
    with torch.no_grad():
        assert_close_outputs(model(x), expected, atol=0)
    # The zeroed heads still learn: their gradients are non-zero.
    loss = sum((o - 0.5).abs().mean() for o in model(x))
    loss.backward()
    assert model.feat_extract[5].main[0].weight.grad.abs().sum() > 0
    assert model.ConvsOut[0].main[0].weight.grad.abs().sum() > 0


def test_train_mode_runs_and_backprops():
    model = _small(MIMOUNetPlus).train()
    outs = model(torch.rand(2, 3, 16, 16))
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())
