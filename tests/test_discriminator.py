"""Blur2Blur PatchGAN discriminator D against the reference fixture and manifest."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURE_DIR, assert_close_outputs, load_fixture, load_manifest

from blur2blur.models import get_spec, load_weights
from blur2blur.models.discriminator import PatchDiscriminator, infer_discriminator_config
from blur2blur.models.registry import OTHER, create_model


def _manifest_args(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in ("type", "built_by")}


@pytest.fixture(scope="module")
def reference():
    io = load_fixture("blur2blur_discriminator_small")
    model = create_model("b2b_discriminator", **io["config"]).eval()
    # Keys in the file carry DataParallel's 'module.' prefix; load_weights strips it.
    assert next(iter(torch.load(FIXTURE_DIR / io["checkpoint"], weights_only=True))).startswith("module.")
    load_weights(model, FIXTURE_DIR / io["checkpoint"])
    return model, {case["name"]: case for case in io["cases"]}


def test_reference_list_cases(reference):
    model, cases = reference
    assert set(cases) == {"main_multiscale_list", "odd_list", "tensor_input_batch2", "too_small_16x16"}
    with torch.no_grad():
        for name in ("main_multiscale_list", "odd_list"):
            assert_close_outputs(model(cases[name]["input"]), cases[name]["output"], atol=1e-5)
        with pytest.raises(ValueError, match=r">= 24; got 16x16"):
            model(cases["too_small_16x16"]["input"])


def test_reference_tensor_input_is_batched(reference):
    # The reference iterated over the batch of a 4-D tensor and returned B maps (1, h, w);
    # ours returns one (B, 1, h, w) map holding the same numbers (instance norm is per sample).
    model, cases = reference
    case = cases["tensor_input_batch2"]
    with torch.no_grad():
        out = model(case["input"])
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 6, 6)
    assert_close_outputs(list(out), case["output"], atol=1e-5)
    assert_close_outputs(out, torch.stack(case["output"]), atol=1e-5)


def test_list_equals_single_tensors(reference):
    model, _ = reference
    xs = [torch.rand(2, 3, 24, 40), torch.rand(2, 3, 48, 80)]
    with torch.no_grad():
        outs = model(xs)
        assert isinstance(outs, list) and [tuple(o.shape) for o in outs] == [(2, 1, 1, 3), (2, 1, 4, 8)]
        for x, o in zip(xs, outs, strict=True):
            assert_close_outputs(o, model(x), atol=0)
        assert_close_outputs(model(tuple(xs)), outs, atol=0)
        # An unbatched (C, H, W) element gives an unbatched (1, h, w) map, as in the reference.
        assert_close_outputs(model([xs[0][1]])[0], outs[0][1], atol=1e-5)


def test_manifest_layout():
    manifest = load_manifest("blur2blur_discriminator")
    args = _manifest_args(manifest["config"])
    assert args == {"input_nc": 3, "ndf": 64, "n_layers": 3, "norm": "instance"}
    with torch.device("meta"):
        model = create_model("b2b_discriminator", **args)
    sd = model.state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == [(k, s) for k, s, _ in manifest["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    assert len(sd) == manifest["num_state_dict_entries"] and manifest["num_buffers"] == 0
    meta_sd = {k: torch.empty(s, device="meta") for k, s, _ in manifest["state_dict"]}
    assert get_spec("b2b_discriminator").infer_config(meta_sd) == args
    assert get_spec("b2b_discriminator").output == OTHER


@pytest.mark.parametrize("norm,keys", [
    # The reference's use_bias rule: convs followed by a norm slot keep their bias only with
    # instance norm; the first and last conv always have one. Norm slots take indices 3, 6, 9.
    ("instance", ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.5.weight",
                  "model.5.bias", "model.8.weight", "model.8.bias", "model.11.weight", "model.11.bias"]),
    ("none", ["model.0.weight", "model.0.bias", "model.2.weight", "model.5.weight", "model.8.weight",
              "model.11.weight", "model.11.bias"]),
    ("batch", ["model.0.weight", "model.0.bias", "model.2.weight"]
     + [f"model.{i}.{s}" for i in (3,) for s in ("weight", "bias", "running_mean", "running_var",
                                                   "num_batches_tracked")]
     + ["model.5.weight"] + [f"model.6.{s}" for s in ("weight", "bias", "running_mean", "running_var",
                                                      "num_batches_tracked")]
     + ["model.8.weight"] + [f"model.9.{s}" for s in ("weight", "bias", "running_mean", "running_var",
                                                      "num_batches_tracked")]
     + ["model.11.weight", "model.11.bias"]),
])
def test_norm_variants_layout_and_infer(norm, keys):
    model = PatchDiscriminator(ndf=4, norm=norm)
    assert list(model.state_dict()) == keys
    expected = {"input_nc": 3, "ndf": 4, "n_layers": 3, "norm": norm}
    assert infer_discriminator_config(model.state_dict()) == expected
    x = torch.rand(2, 3, 32, 32)
    assert model.eval()(x).shape == (2, 1, 2, 2)


@pytest.mark.parametrize("n_layers,size,out", [(1, 6, 1), (2, 12, 1), (4, 48, 1), (5, 96, 1)])
def test_other_depths(n_layers, size, out):
    model = PatchDiscriminator(input_nc=1, ndf=2, n_layers=n_layers).eval()
    assert infer_discriminator_config(model.state_dict()) == {"input_nc": 1, "ndf": 2, "n_layers": n_layers,
                                                               "norm": "instance"}
    with torch.no_grad():
        assert model(torch.rand(1, 1, size, size + 2 ** n_layers)).shape == (1, 1, out, out + 1)
        with pytest.raises(ValueError, match=rf">= {size}; got {size - 1}x{size}"):
            model(torch.rand(1, 1, size - 1, size))


def test_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(norm="group")
    with pytest.raises(ValueError, match="n_layers"):
        PatchDiscriminator(n_layers=0)
    with pytest.raises(ValueError, match="shape"):
        PatchDiscriminator(ndf=2)(torch.rand(3, 32))
    assert infer_discriminator_config({"Encoder.0.weight": torch.empty(1)}) is None


def test_gradients_reach_the_input():
    # WGAN-GP differentiates D's output w.r.t. its (interpolated) input.
    model = PatchDiscriminator(ndf=4)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0


def test_blur_statistics_discriminator_shapes_and_layout():
    from blur2blur.models.discriminator import BlurStatisticsDiscriminator, infer_blur_discriminator_config

    d = create_model("b2b_blur_discriminator", ndf=4, n_layers=2, angles=2).eval()
    assert isinstance(d, BlurStatisticsDiscriminator) and d.min_size == 12
    sd = d.state_dict()
    assert all(k.startswith("patch.model.") for k in sd) and sd["patch.model.0.weight"].shape[1] == 3 + 2 * 8
    assert infer_blur_discriminator_config(sd) == {"ndf": 4, "n_layers": 2, "norm": "instance", "angles": 2}
    assert infer_discriminator_config(sd) is None       # neither layout is taken for the other
    assert infer_blur_discriminator_config(PatchDiscriminator(ndf=4).state_dict()) is None
    x = torch.rand(2, 3, 40, 48)
    with torch.no_grad():
        maps = d([x, x[:, :, ::2, ::2]])
        assert [m.shape for m in maps] == [(2, 1, 8, 10), (2, 1, 3, 4)]
        torch.testing.assert_close(d(x[1]), maps[0][1])  # an unbatched image: the same map, unbatched
    with pytest.raises(ValueError, match="3, H, W"):
        d(torch.rand(1, 1, 40, 40))


def test_blur_statistics_discriminator_sees_the_blur_and_passes_gradients():
    """Two images that differ only in their blur's direction (the same noise, smeared along x or y) give D
    inputs that differ in the autocorrelation channels, and the gradient reaches the image through them."""
    from blur2blur.data.synthetic import blur_with_kernels
    from blur2blur.models.blur_statistics import local_autocorrelation

    torch.manual_seed(0)
    noise = torch.rand(1, 1, 64, 64).expand(1, 3, 64, 64).contiguous()
    row = torch.zeros(7, 7)
    row[3] = 1 / 7
    along_x, along_y = blur_with_kernels(noise, row[None]), blur_with_kernels(noise, row.T[None])
    sx, sy = local_autocorrelation(along_x, 8, 8), local_autocorrelation(along_y, 8, 8)
    middle = (..., slice(16, -16), slice(16, -16))
    # offset 3 px: along x (channel 0 * 8 + 2) for the x smear, along y (channel 4 * 8 + 2) for the y smear
    assert sx[:, 2][middle].mean() > 0.4 and sy[:, 2][middle].mean().abs() < 0.1
    assert sy[:, 34][middle].mean() > 0.4 and sx[:, 34][middle].mean().abs() < 0.1
    d = create_model("b2b_blur_discriminator", ndf=4, n_layers=2)
    x = along_x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(x).sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0
