"""Restormer against the official code's fixtures and the released motion-deblurring file."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import FIXTURE_DIR, assert_close_outputs, load_fixture, load_manifest

from blur2blur.models import load_weights
from blur2blur.models.registry import IMAGE, create_model, get_spec
from blur2blur.models.restormer import infer_restormer_config

FIXTURES = ["restormer_small", "restormer_biasfree_dualpixel_small"]
SMALL = {"dim": 4, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 2, 2, 4]}


def _fixture_model(fixture_name: str):
    fixture = load_fixture(fixture_name)
    model = create_model("restormer", **fixture["config"])
    return load_weights(model, FIXTURE_DIR / f"{fixture_name}.ckpt.pth").eval()


def _test_script_forward(model, x):
    """Motion_Deblurring/test.py: reflect-pad right/bottom to a multiple of 8, run, crop."""
    h, w = x.shape[-2:]
    H, W = ((h + 8) // 8) * 8, ((w + 8) // 8) * 8
    padh, padw = (H - h if h % 8 else 0), (W - w if w % 8 else 0)
    return model(F.pad(x, (0, padw, 0, padh), "reflect"))[:, :, :h, :w]


def _cases():
    return [pytest.param(f, i, id=f"{f}-{c['name']}")
            for f in FIXTURES for i, c in enumerate(load_fixture(f)["cases"])]


@pytest.mark.parametrize("fixture_name,index", _cases())
def test_fixture_cases(fixture_name, index):
    case = load_fixture(fixture_name)["cases"][index]
    model = _fixture_model(fixture_name)
    x = case["input"]
    with torch.no_grad():
        if case["output"] is None:
            # The official model fails deep inside pixel_unshuffle; ours says why up front.
            with pytest.raises(ValueError, match=r"divisible by 8.*61x77"):
                model(x)
        elif case["name"].endswith("testscript_pad"):
            assert_close_outputs(_test_script_forward(model, x), case["output"], atol=1e-5)
        else:
            assert_close_outputs(model(x), case["output"], atol=1e-5)


def test_manifest_state_dict_layout():
    manifest = load_manifest("restormer_motion_deblurring")
    config = {k: v for k, v in manifest["config"].items() if k != "type"}
    with torch.device("meta"):
        model = create_model("restormer", **config)
    got = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    assert got == manifest["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    assert len(list(model.buffers())) == manifest["num_buffers"] == 0


def test_infer_config_on_manifest_and_fixtures():
    manifest = load_manifest("restormer_motion_deblurring")
    sd = {name: torch.empty(shape, device="meta") for name, shape, _ in manifest["state_dict"]}
    expected = {k: v for k, v in manifest["config"].items() if k != "type"}
    assert get_spec("restormer").infer_config(sd) == expected
    for name in FIXTURES:
        sd = torch.load(FIXTURE_DIR / f"{name}.ckpt.pth", weights_only=True)["params"]
        assert infer_restormer_config(sd) == load_fixture(name)["config"]


@pytest.mark.parametrize("args", [
    SMALL,
    {"inp_channels": 1, "out_channels": 2, "dim": 6, "num_blocks": [1, 0, 2, 1], "num_refinement_blocks": 0,
     "heads": [2, 2, 3, 4], "ffn_expansion_factor": 1.5, "bias": True, "LayerNorm_type": "BiasFree"},
    {"dim": 10, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 2, "heads": [1, 1, 1, 1],
     "ffn_expansion_factor": 3.0},
])
def test_infer_config_round_trip(args):
    sd = create_model("restormer", **args).state_dict()
    inferred = infer_restormer_config(sd)
    assert inferred is not None
    rebuilt = create_model("restormer", **inferred).state_dict()
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in sd.items()}
    for key, value in args.items():
        if key != "ffn_expansion_factor":
            assert inferred[key] == value, key


def test_infer_config_rejects_other_layouts():
    nafnet = load_manifest("nafnet_gopro_width32")
    sd = {name: torch.empty(shape, device="meta") for name, shape, _ in nafnet["state_dict"]}
    assert infer_restormer_config(sd) is None


def test_registry_entry():
    spec = get_spec("restormer")
    assert (spec.output, spec.size_multiple, spec.pad_mode) == (IMAGE, 8, "reflect")


@pytest.mark.parametrize("shape", [(2, 3, 16, 24), (1, 3, 8, 8), (3, 3, 24, 16)])
def test_forward_shapes(shape):
    model = create_model("restormer", **SMALL).eval()
    with torch.no_grad():
        y = model(torch.rand(shape))
    assert y.shape == shape and y.is_contiguous() and torch.isfinite(y).all()


@pytest.mark.parametrize("size", [(17, 24), (16, 20), (7, 7)])
def test_sizes_not_multiple_of_8_are_rejected(size):
    model = create_model("restormer", **SMALL)
    with pytest.raises(ValueError, match=f"divisible by 8.*{size[0]}x{size[1]}"):
        model(torch.rand(1, 3, *size))


def test_batch_and_memory_format_do_not_change_results():
    model = _fixture_model("restormer_small")
    x = torch.rand(2, 3, 24, 32)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(2)])
        channels_last = model(x.contiguous(memory_format=torch.channels_last))
    assert_close_outputs(batched, single, atol=1e-5)
    assert_close_outputs(channels_last, batched, atol=1e-6)


def test_bad_layernorm_type():
    with pytest.raises(ValueError, match="LayerNorm_type"):
        create_model("restormer", **SMALL, LayerNorm_type="withbias")


def test_training_backward():
    model = create_model("restormer", **SMALL, bias=True)
    model(torch.rand(2, 3, 16, 16)).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
