"""NAFNet, NAFNetLocal and the NAFNet translator against the official code's fixtures and files."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import FIXTURE_DIR, assert_close_outputs, load_fixture, load_manifest

from blur2blur.models import load_weights
from blur2blur.models.nafnet import LayerNorm2d, LocalAvgPool2d, NAFNet, infer_nafnet_config
from blur2blur.models.registry import IMAGE, MULTISCALE, create_model, get_spec

CKPT = FIXTURE_DIR / "nafnet_small.ckpt.pth"
MANIFESTS = ["nafnet_gopro_width32", "nafnet_gopro_width64", "nafnet_reds_width64"]
NAFNET_ARGS = ("img_channel", "width", "middle_blk_num", "enc_blk_nums", "dec_blk_nums")
SMALL = {"width": 4, "middle_blk_num": 1, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}


def _fixture_model(fixture: dict, name: str):
    model = create_model(name, **fixture["config"])
    return load_weights(model, CKPT).eval()


def _cases(fixture_name: str):
    cases = load_fixture(fixture_name)["cases"]
    return [pytest.param(fixture_name, i, id=f"{fixture_name}-{c['name']}") for i, c in enumerate(cases)]


@pytest.mark.parametrize("fixture_name,index", _cases("nafnet_small") + _cases("nafnet_local_small"))
def test_fixture_cases(fixture_name, index):
    fixture = load_fixture(fixture_name)
    case = fixture["cases"][index]
    model = _fixture_model(fixture, "nafnet" if fixture_name == "nafnet_small" else "nafnet_local")
    with torch.no_grad():
        assert case["output"] is not None  # NAFNet pads internally: every size works
        assert_close_outputs(model(case["input"]), case["output"], atol=1e-5)


def test_local_pool_kernel_sizes_match_official_dummy_forward():
    fixture = load_fixture("nafnet_local_small")
    model = create_model("nafnet_local", **fixture["config"])
    sizes = model.pool_kernel_sizes()
    assert list(sizes.items()) == list(fixture["avgpool_kernel_sizes"].items())


def test_local_pool_released_default_windows():
    # train 256: windows 384/192/96/48 per level, 24 in the middle; 256x256 inputs stay global.
    with torch.device("meta"):
        model = create_model("nafnet_local", width=8, enc_blk_nums=[1, 1, 1, 1], dec_blk_nums=[1, 1, 1, 1])
    sizes = model.pool_kernel_sizes()
    assert sizes["encoders.0.0.sca.0"] == [384, 384] and sizes["decoders.3.0.sca.0"] == [384, 384]
    assert sizes["middle_blks.0.sca.0"] == [24, 24]
    # train size not a multiple of 16 and not square: the input pads to 64x48 first.
    model = create_model("nafnet_local", width=4, enc_blk_nums=[1, 1, 1, 1], dec_blk_nums=[1, 1, 1, 1],
                         train_size=(1, 3, 60, 40))
    sizes = model.pool_kernel_sizes()
    assert sizes["encoders.0.0.sca.0"] == [64 * 90 // 60, 48 * 60 // 40]
    assert sizes["middle_blks.0.sca.0"] == [4 * 90 // 60, 3 * 60 // 40]


@pytest.mark.parametrize("manifest_name", MANIFESTS)
def test_manifest_state_dict_layout(manifest_name):
    manifest = load_manifest(manifest_name)
    config = {k: v for k, v in manifest["config"].items() if k != "type"}
    assert manifest["config"]["type"] == "NAFNetLocal"
    with torch.device("meta"):
        local = create_model("nafnet_local", **config)
        plain = create_model("nafnet", **{k: config[k] for k in NAFNET_ARGS})
    expected = [(name, list(shape), dtype) for name, shape, dtype in manifest["state_dict"]]
    for model in (local, plain):
        got = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
        assert got == expected
        assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
        assert len(list(model.buffers())) == manifest["num_buffers"] == 0


@pytest.mark.parametrize("manifest_name", MANIFESTS)
def test_infer_config_on_manifest(manifest_name):
    manifest = load_manifest(manifest_name)
    sd = {name: torch.empty(shape, device="meta") for name, shape, _ in manifest["state_dict"]}
    expected = {k: manifest["config"][k] for k in NAFNET_ARGS}
    for name in ("nafnet", "nafnet_local", "nafnet_translator"):
        assert get_spec(name).infer_config(sd) == expected


@pytest.mark.parametrize("args", [
    SMALL,
    {"img_channel": 1, "width": 2, "middle_blk_num": 0, "enc_blk_nums": [0, 2, 1], "dec_blk_nums": [1, 0, 3]},
    {"img_channel": 3, "width": 16, "middle_blk_num": 1, "enc_blk_nums": [], "dec_blk_nums": []},
])
def test_infer_config_round_trip(args):
    sd = create_model("nafnet", **args).state_dict()
    full = {"img_channel": 3, **args}
    assert infer_nafnet_config(sd) == full


def test_infer_config_rejects_other_layouts():
    restormer = load_manifest("restormer_motion_deblurring")
    sd = {name: torch.empty(shape, device="meta") for name, shape, _ in restormer["state_dict"]}
    assert infer_nafnet_config(sd) is None
    sd = create_model("nafnet", **SMALL).state_dict()
    assert infer_nafnet_config({**sd, "extra.weight": torch.zeros(1)}) is None
    assert infer_nafnet_config({k: v for k, v in sd.items() if k != "intro.weight"}) is None


def test_registry_entries():
    for name in ("nafnet", "nafnet_local"):
        spec = get_spec(name)
        assert spec.output == IMAGE and spec.size_multiple == 1
    assert get_spec("nafnet_translator").output == MULTISCALE


@pytest.mark.parametrize("name", ["nafnet", "nafnet_local"])
@pytest.mark.parametrize("shape", [(1, 3, 13, 29), (3, 3, 20, 17), (2, 3, 8, 8)])
def test_forward_shapes_any_size(name, shape):
    kwargs = {**SMALL, "train_size": (1, 3, 8, 8)} if name == "nafnet_local" else SMALL
    model = create_model(name, **kwargs).eval()
    x = torch.rand(shape)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.is_contiguous() and torch.isfinite(y).all()


def test_batch_items_independent():
    model = create_model("nafnet_local", **SMALL, train_size=(1, 3, 8, 8)).eval()
    load_weights(model, {k: v + 0.05 * torch.randn_like(v) for k, v in model.state_dict().items()})
    x = torch.rand(3, 3, 21, 18)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(3)])
    assert_close_outputs(batched, single, atol=1e-5)


def test_translator_outputs_and_weights():
    fixture = load_fixture("nafnet_small")
    translator = load_weights(create_model("nafnet_translator", **fixture["config"]), CKPT).eval()
    plain = _fixture_model(fixture, "nafnet")
    assert list(translator.state_dict()) == list(plain.state_dict())
    x = torch.rand(2, 3, 64, 48)
    with torch.no_grad():
        outs = translator(x)
        full = plain(x)
    assert isinstance(outs, list)
    assert [tuple(o.shape) for o in outs] == [(2, 3, 16, 12), (2, 3, 32, 24), (2, 3, 64, 48)]
    assert_close_outputs(outs[2], full, atol=1e-6)
    # Same nearest subsampling as MIMO-UNet applies to its input: every other pixel, twice.
    assert torch.equal(outs[1], outs[2][..., ::2, ::2]) and torch.equal(outs[0], outs[1][..., ::2, ::2])
    assert torch.equal(F.interpolate(F.interpolate(x, scale_factor=0.5), scale_factor=0.5), x[..., ::4, ::4])
    assert isinstance(translator, NAFNet)


def test_fast_imp_local_pool():
    x = torch.rand(2, 4, 40, 30)
    pool = LocalAvgPool2d((12, 9), fast_imp=True, max_r=(5, 5))
    y = pool(x)
    # Box means of a subsampled grid: same shape, values are means (inside the data range),
    # exact on constant maps. (It is an approximation of the exact pool, not equal to it.)
    assert y.shape == x.shape
    assert x.amin() <= y.amin() and y.amax() <= x.amax()
    const = torch.full((1, 2, 40, 30), 0.3)
    assert torch.allclose(pool(const), const, atol=1e-6)
    # A window covering the map is the global mean, as in plain NAFNet.
    assert torch.equal(LocalAvgPool2d((40, 30), fast_imp=True)(x), x.mean((2, 3), keepdim=True))


def test_fast_imp_model_runs():
    model = create_model("nafnet_local", **SMALL, train_size=(1, 3, 16, 16), fast_imp=True).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 45, 64))
    assert y.shape == (1, 3, 45, 64) and torch.isfinite(y).all()


def test_exact_local_pool_is_box_mean():
    x = torch.rand(1, 2, 9, 11, dtype=torch.float64)
    y = LocalAvgPool2d((4, 3))(x)
    box = F.avg_pool2d(x, (4, 3), stride=1)  # (6, 9): replicate-padded 1 top / 2 bottom, 1 / 1
    assert torch.allclose(y, F.pad(box, (1, 1, 1, 2), mode="replicate"))


def test_layernorm2d_matches_formula_and_gradient():
    torch.manual_seed(0)
    ln = LayerNorm2d(5).double()
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    ref = ln.weight.view(1, -1, 1, 1) * (x - mu) / (var + 1e-6).sqrt() + ln.bias.view(1, -1, 1, 1)
    assert torch.allclose(ln(x), ref)
    assert torch.autograd.gradcheck(ln, (x,))


def test_training_backward():
    model = create_model("nafnet", **SMALL)
    model(torch.rand(2, 3, 12, 12)).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
