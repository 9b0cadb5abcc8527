"""VGG feature extractors: standard key layout, loading standard files, truncation, presets, weights policy."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from blur2blur import hub
from blur2blur.models import create_model
from blur2blur.models.vgg import (
    BLUR2BLUR_PERCEPTUAL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16Features,
    VGG19Features,
    vgg_layer_names,
)

# The standard torchvision VGG19 `features`: conv channel plan, and the index of every conv.
VGG19_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def _standard_shapes(plan) -> dict[str, tuple[int, ...]]:
    shapes, idx, in_c = {}, 0, 3
    for c in plan:
        if c == "M":
            idx += 1
            continue
        shapes[f"features.{idx}.weight"] = (c, in_c, 3, 3)
        shapes[f"features.{idx}.bias"] = (c,)
        in_c, idx = c, idx + 2
    return shapes


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("BLUR2BLUR_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def standard_file(tmp_path_factory):
    """A fake torchvision vgg19 file: every features tensor, plus (small) classifier tensors."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(s, generator=g) * 0.05 for k, s in _standard_shapes(VGG19_PLAN).items()}
    sd.update({"classifier.0.weight": torch.zeros(4, 8), "classifier.0.bias": torch.zeros(4),
               "classifier.6.weight": torch.zeros(2, 4), "classifier.6.bias": torch.zeros(2)})
    path = tmp_path_factory.mktemp("vgg") / "vgg19-fake.pth"
    torch.save(sd, path)
    return path, sd


def test_standard_layout():
    model = create_model("vgg19", layers=["pool5"], weights="random")
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == _standard_shapes(VGG19_PLAN)
    assert list(shapes) == list(_standard_shapes(VGG19_PLAN))  # same order as the standard file
    assert sorted({int(k.split(".")[1]) for k in shapes}) == VGG19_CONVS
    names = vgg_layer_names(19)
    assert len(names) == 37 and [names.index(f"conv{b}_{i}") for b, n in zip(range(1, 6), (2, 2, 4, 4, 4))
                                 for i in range(1, n + 1)] == VGG19_CONVS


def test_load_standard_file_truncated(standard_file):
    path, sd = standard_file
    model = VGG19Features(layers=("relu2_1", "relu1_1"), weights=path)
    assert len(model.features) == 7  # cut after relu2_1 (index 6)
    assert set(model.state_dict()) == {f"features.{i}.{p}" for i in (0, 2, 5) for p in ("weight", "bias")}
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k])
    out = model(torch.rand(2, 3, 16, 24))
    assert list(out) == ["relu2_1", "relu1_1"]  # the order asked for
    assert out["relu1_1"].shape == (2, 64, 16, 24) and out["relu2_1"].shape == (2, 128, 8, 12)
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_imagenet_weights_through_hub(standard_file, isolated_cache, monkeypatch):
    path, sd = standard_file
    entry = hub.get_entry("vgg19")
    monkeypatch.setitem(hub.REGISTRY, "vgg19", hub.WeightFile(
        name="vgg19", url=entry.url, sha256=hub.sha256_file(path), filename=entry.filename))
    isolated_cache.mkdir(parents=True)
    (isolated_cache / entry.filename).symlink_to(path)
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")  # must come from the cache, not the network
    model = create_model("vgg19")  # defaults: perceptual layers, imagenet weights
    assert model.layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert len(model.features) == 30 and torch.equal(model.features[28].weight, sd["features.28.weight"])


def test_offline_error_names_the_file(isolated_cache, monkeypatch):
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    with pytest.raises(hub.OfflineError) as err:
        VGG19Features()
    msg = str(err.value)
    assert str(isolated_cache / "vgg19-dcbb9e9d.pth") in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg


def test_random_needs_opt_in(caplog):
    with caplog.at_level(logging.WARNING, logger="blur2blur.models.vgg"):
        VGG19Features(layers=["relu1_1"], weights="random")
    assert "RANDOM" in caplog.text
    with pytest.raises(ValueError, match="weights must be"):
        VGG19Features(layers=["relu1_1"], weights=0)


def test_normalisation():
    torch.manual_seed(0)
    norm = VGG19Features(layers=["relu1_2", "conv2_1"], weights="random")
    raw = VGG19Features(layers=["relu1_2", "conv2_1"], weights="random", normalize_input=False)
    raw.load_state_dict(norm.state_dict())
    x = torch.rand(1, 3, 12, 12)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    a, b = norm(x), raw((x - mean) / std)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert "mean" not in norm.state_dict()  # buffers are not saved: keys stay standard


def test_layer_errors(standard_file):
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        VGG19Features(layers=["relu6_1"], weights="random")
    with pytest.raises(ValueError, match="unknown layer preset"):
        VGG19Features(layers="nope", weights="random")
    bad = {"features.0.weight": torch.zeros(64, 3, 3, 3), "head.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected keys"):
        VGG19Features(layers=["relu1_1"], weights="random").load_standard_weights(bad)
    # A VGG16 file in a VGG19 deeper than block 3: index 16 is a pool in VGG16, a conv in VGG19.
    vgg16_sd = VGG16Features(layers=["pool5"], weights="random").state_dict()
    with pytest.raises(ValueError, match="features.16.weight"):
        VGG19Features(layers=["relu3_4"], weights="random").load_standard_weights(vgg16_sd)


def _official_blur2blur_vgg16(features: nn.Sequential) -> nn.Module:
    """The official VGGLoss slicing, with in-place ReLUs like torchvision's VGG16."""
    layers = [nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) else m for m in features]
    cuts = [(0, 8), (8, 15), (15, 18), (18, 22), (22, 25)]
    slices = [nn.Sequential(*layers[a:b]) for a, b in cuts]

    class Official(nn.Module):
        def forward(self, x):
            outs = []
            for s in slices:
                x = s(x)
                outs.append(x)
            return outs

    return Official()


def test_blur2blur_preset_matches_official_slicing():
    torch.manual_seed(0)
    model = create_model("vgg16", layers="blur2blur", normalize_input=False, weights="random")
    assert model.layers == BLUR2BLUR_PERCEPTUAL["layers"] and len(model.features) == 25
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ours = model(x)
        ref = _official_blur2blur_vgg16(model.features)(x.clone())
    for o, r in zip(ours.values(), ref):
        torch.testing.assert_close(o, r, rtol=0, atol=1e-6)
    assert (ours["relu4_3"] >= 0).all() and (ours["conv5_1"] < 0).any()  # the last tap is pre-ReLU


def test_infer_config_for_saved_features():
    from blur2blur.models import get_spec

    sd = VGG19Features(layers=["relu3_1"], weights="random").state_dict()
    args = get_spec("vgg19").infer_config(sd)
    assert args == {"layers": ["relu3_1"], "normalize_input": True, "weights": None}
    assert get_spec("vgg19").infer_config({"classifier.0.weight": torch.zeros(1)}) is None
