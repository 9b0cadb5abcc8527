"""KernelWizard: official fixtures (encode, adaptKernel, VAE), the released GoPro layout, sizes."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURE_DIR, assert_close_outputs, load_fixture, load_manifest

from blur2blur.models import create_model, get_spec, load_weights
from blur2blur.models.kernel_wizard import (
    KernelWizard,
    infer_kernel_wizard_config,
    kernel_map_size,
)
from blur2blur.ops import pad_to_multiple

FIXTURES = ["kernelwizard_small", "kernelwizard_small_adapt", "kernelwizard_vae_small"]


def _cases():
    for name in FIXTURES:
        for case in load_fixture(name)["cases"]:
            yield pytest.param(name, case["name"], id=f"{name}-{case['name']}")


_models: dict[str, KernelWizard] = {}


def _model(fixture: str) -> tuple[KernelWizard, dict]:
    fx = load_fixture(fixture)
    if fixture not in _models:
        model = create_model("kernel_wizard", **fx["config"])
        load_weights(model, FIXTURE_DIR / fx["checkpoint"])
        _models[fixture] = model.eval()
    return _models[fixture], fx


def _small() -> KernelWizard:
    return _model("kernelwizard_small")[0]


@pytest.mark.parametrize("fixture,case_name", list(_cases()))
def test_fixture_case(fixture, case_name):
    model, fx = _model(fixture)
    case = next(c for c in fx["cases"] if c["name"] == case_name)
    inp = case["input"]

    def call():
        if "kernel" in inp:
            return model.apply_kernel(inp["sharp"], inp["kernel"])
        return list(model(inp["sharp"], inp["blur"]))

    with torch.no_grad():
        if case["output"] is None:  # the official model rejects this size; ours says why
            with pytest.raises(ValueError, match="multiples of 128|>= 129"):
                call()
        else:
            assert_close_outputs(call(), case["output"], atol=1e-5)


def test_gopro_manifest_layout():
    man = load_manifest("kernelwizard_gopro")
    with torch.device("meta"):
        model = create_model("kernel_wizard", **man["config"])  # includes 'type' and 'pretrained'
    sd = model.state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == [(k, s) for k, s, _ in man["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == man["num_parameters"]
    assert len(sd) == man["num_state_dict_entries"]
    assert len(list(model.buffers())) == man["num_buffers"]


def _meta_state_dict(config: dict) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return create_model("kernel_wizard", **config).state_dict()


def test_infer_config_gopro_and_vae():
    man = load_manifest("kernelwizard_gopro")
    want = {k: v for k, v in man["config"].items() if k not in ("type", "pretrained")}
    meta_sd = {k: torch.empty(s, device="meta") for k, s, _ in man["state_dict"]}
    assert infer_kernel_wizard_config(meta_sd) == want
    assert get_spec("kernel_wizard").infer_config is infer_kernel_wizard_config

    vae = {**want, "use_vae": True}
    got = infer_kernel_wizard_config(_meta_state_dict(vae))
    assert got["use_vae"] is True and got["kernel_dim"] == 512

    for fixture in ("kernelwizard_small", "kernelwizard_vae_small"):
        fx = load_fixture(fixture)
        sd = torch.load(FIXTURE_DIR / fx["checkpoint"], weights_only=True)
        assert infer_kernel_wizard_config(sd) == fx["config"]


@pytest.mark.parametrize("ext", [
    {"norm": "instance"}, {"norm": "batch"}, {"padding_type": "zero"}, {"use_dropout": True},
    {"padding_type": "zero", "use_dropout": True}, {"use_sharp": False},
])
def test_infer_config_variants(ext):
    cfg = load_fixture("kernelwizard_small")["config"]
    cfg = {**cfg, "KernelExtractor": {**cfg["KernelExtractor"], **ext}, "Adapter": {"norm": ext.get("norm", "none"),
                                                                                   "use_dropout": False}}
    assert infer_kernel_wizard_config(_meta_state_dict(cfg)) == cfg


def test_infer_config_rejects_other_weights():
    assert infer_kernel_wizard_config({"intro.weight": torch.zeros(1)}) is None


def test_sizes_and_helpers():
    model = _small()
    assert kernel_map_size(136, 136) == (2, 2) and kernel_map_size(131, 133) == (2, 2)
    assert model.kernel_map_size(256, 384) == (2, 3) and model.kernel_map_size(129, 1000) == (2, 8)
    assert model.min_encode_size == 129
    assert model.padded_size(60, 300) == (256, 384)
    x = torch.rand(1, 3, 100, 20)
    padded = pad_to_multiple(x, 128)  # 20 wide: reflect cannot pad 108, replicate is used
    assert padded.shape[-2:] == (128, 128)
    assert torch.equal(padded[..., :100, :20], x)


def test_apply_kernel_size_errors():
    model = _small()
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"multiples of 128; got 128x200"):
            model.apply_kernel(torch.rand(1, 3, 128, 200), torch.zeros(1, 32, 1, 2))
        with pytest.raises(ValueError, match=r"kernel must be .*\(1, 32, 1, 2\)"):
            model.apply_kernel(torch.rand(1, 3, 128, 256), torch.zeros(1, 32, 1, 1))
        with pytest.raises(ValueError, match="kernel must be"):
            model.apply_kernel(torch.rand(1, 3, 128, 128), torch.zeros(1, 16, 1, 1))
        with pytest.raises(ValueError, match="smaller than"):
            model.apply_kernel_padded(torch.rand(1, 3, 130, 100), torch.zeros(1, 32, 1, 1))
        with pytest.raises(ValueError, match="same shape"):
            model.encode(torch.rand(1, 3, 136, 136), torch.rand(1, 3, 136, 140))


def test_apply_kernel_padded():
    model = _small()
    fx = load_fixture("kernelwizard_small_adapt")
    case = next(c for c in fx["cases"] if c["name"] == "adaptKernel_128x256")
    with torch.no_grad():
        # On an exact multiple the padded helper is the plain call.
        same = model.apply_kernel_padded(case["input"]["sharp"], case["input"]["kernel"])
        assert_close_outputs(same, case["output"])
        out = model.apply_kernel_padded(torch.rand(2, 3, 100, 140), torch.randn(1, 32, 1, 2))
    assert out.shape == (2, 3, 100, 140) and torch.isfinite(out).all()


def test_encode_padded_and_chain():
    from blur2blur.known_set import reblur

    model = _small()
    g = torch.Generator().manual_seed(0)
    sharp, known_s = torch.rand(1, 3, 60, 90, generator=g), torch.rand(1, 3, 60, 90, generator=g)
    known_b = known_s.roll(1, dims=-1)
    with torch.no_grad():
        mean, sigma = model.encode_padded(known_s, known_b)
        assert mean.shape == (1, 32, 2, 2) and not sigma.any()  # 256x256 canvas; woVAE sigma is zero
        out = reblur(model, sharp, known_s, known_b)   # the method's chain: F's kernel of the pair on sharp
    assert out.shape == sharp.shape


def test_sample_kernel():
    mean, sigma = torch.randn(2, 8, 2, 3), torch.rand(2, 8, 2, 3)
    assert torch.equal(KernelWizard.sample_kernel(mean, torch.zeros_like(mean)), mean)
    a = KernelWizard.sample_kernel(mean, sigma, torch.Generator().manual_seed(3))
    b = KernelWizard.sample_kernel(mean, sigma, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, mean)


def test_constructor_checks():
    with pytest.raises(ValueError, match="unknown KernelWizard option"):
        KernelWizard(nf=4, kernel_dim=32, KernelExtractor={"nblocks": 2})
    with pytest.raises(ValueError, match="at most 32\\*nf"):
        KernelWizard(nf=4, kernel_dim=128, use_vae=True)
