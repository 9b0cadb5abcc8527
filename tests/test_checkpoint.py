"""Checkpoint I/O: our self-describing format, official containers, and clear errors on bad files."""

from __future__ import annotations

import argparse
import json
import struct

import pytest
import torch
from conftest import FIXTURE_DIR

from blur2blur.models import (
    CheckpointError,
    create_model,
    identify_weights,
    load_any,
    load_checkpoint,
    load_weights,
    read_state_dict,
    save_checkpoint,
)

TINY_NAFNET = dict(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])


def tiny_nafnet(seed: int = 0):
    torch.manual_seed(seed)
    model = create_model("nafnet", **TINY_NAFNET)
    with torch.no_grad():  # make every parameter matter (beta/gamma start at zero)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def test_round_trip_restores_architecture_weights_and_info(tmp_path):
    model = tiny_nafnet()
    path = save_checkpoint(model, tmp_path / "m.safetensors", info={"step": 12, "psnr": 30.5})
    loaded = load_checkpoint(path)
    assert loaded.arch_name == "nafnet" and loaded.arch_args == TINY_NAFNET
    assert loaded.checkpoint_info == {"step": 12, "psnr": 30.5}
    assert not loaded.training
    x = torch.rand(2, 3, 21, 34)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    # the header is plain JSON in the safetensors metadata
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(path.read_bytes()[8:8 + n])
    assert json.loads(header["__metadata__"]["blur2blur"])["arch"] == "nafnet"


def test_save_refuses_to_overwrite(tmp_path):
    model = tiny_nafnet()
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        save_checkpoint(tiny_nafnet(seed=1), path)
    assert path.read_bytes() == before
    save_checkpoint(tiny_nafnet(seed=1), path, overwrite=True)
    assert path.read_bytes() != before
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_save_needs_a_registry_model(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        save_checkpoint(torch.nn.Conv2d(3, 3, 3), tmp_path / "c.safetensors")


@pytest.mark.parametrize("wrapper,prefix", [("params", ""), ("model", ""), ("state_dict", ""), (None, ""),
                                            (None, "module."), ("params", "module.")])
def test_official_containers_are_detected(tmp_path, wrapper, prefix):
    model = tiny_nafnet()
    sd = {prefix + k: v for k, v in model.state_dict().items()}
    obj = {wrapper: sd, "epoch": 3} if wrapper else sd
    torch.save(obj, tmp_path / "w.pth")
    fresh = create_model("nafnet", **TINY_NAFNET)
    load_weights(fresh, tmp_path / "w.pth")
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
    _, info = read_state_dict(tmp_path / "w.pth")
    assert info["prefix_stripped"] == bool(prefix)


def test_mismatch_names_keys_and_the_configuration_the_file_looks_like():
    wide = create_model("nafnet", img_channel=3, width=16, middle_blk_num=1, enc_blk_nums=[1, 1, 1, 2],
                        dec_blk_nums=[1, 1, 1, 1])
    with pytest.raises(CheckpointError) as err:
        load_weights(wide, FIXTURE_DIR / "nafnet_small.ckpt.pth")
    msg = str(err.value)
    assert "nafnet_small.ckpt.pth" in msg
    assert "shape differs" in msg and "intro.weight" in msg
    assert "looks like nafnet_local(" in msg and "width=8" in msg


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    model = tiny_nafnet()
    sd = model.state_dict()
    sd.pop("ending.bias")
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=r"(?s)missing in the file \(1\): ending.bias.*not in the model \(1\): "
                                              r"extra.weight.*matches no architecture"):
        load_weights(create_model("nafnet", **TINY_NAFNET), tmp_path / "w.pth")


def test_truncated_file_gives_a_clear_error(tmp_path):
    data = (FIXTURE_DIR / "nafnet_small.ckpt.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*truncated"):
        read_state_dict(tmp_path / "cut.pth")


def test_truncated_safetensors_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tiny_nafnet(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_checkpoint(tmp_path / "cut.safetensors")


@pytest.mark.parametrize("content", [b"hello, this is text\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b""])
def test_non_checkpoint_files_are_rejected(tmp_path, content):
    path = tmp_path / "notes.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="notes.pth"):
        read_state_dict(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        read_state_dict("/nonexistent/weights.pth")


def test_pickled_objects_are_refused_not_executed(tmp_path):
    torch.save({"params": tiny_nafnet().state_dict(), "opt": argparse.Namespace(lr=1)}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="refuse to execute"):
        read_state_dict(tmp_path / "w.pth")


def test_dict_without_state_dict(tmp_path):
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match="no state dict found"):
        read_state_dict(tmp_path / "w.pth")


def test_load_checkpoint_explains_official_files():
    with pytest.raises(CheckpointError, match="not a blur2blur checkpoint.*load_any"):
        load_checkpoint(FIXTURE_DIR / "nafnet_small.ckpt.pth")


def test_newer_format_version_is_rejected(tmp_path):
    from safetensors.torch import save_file

    model = tiny_nafnet()
    header = {"format_version": 99, "arch": "nafnet", "args": TINY_NAFNET, "info": {}}
    save_file(dict(model.state_dict()), tmp_path / "new.safetensors", metadata={"blur2blur": json.dumps(header)})
    with pytest.raises(CheckpointError, match="newer blur2blur"):
        load_checkpoint(tmp_path / "new.safetensors")


@pytest.mark.parametrize("fixture,family", [
    ("nafnet_small", "nafnet"),
    ("restormer_small", "restormer"),
    ("restormer_biasfree_dualpixel_small", "restormer"),
    ("mimounet_small", "mimo_unet"),
    # MIMO-UNet+ differs from MIMO-UNet only in block count and parameter-free dropout: at
    # this small size the files are indistinguishable, and in eval mode so are the outputs.
    ("mimounet_plus_small", "mimo_unet"),
    ("blur2blur_translator_small", "mimo_unet"),
    ("blur2blur_discriminator_small", "b2b_discriminator"),
    ("kernelwizard_small", "kernel_wizard"),
    ("kernelwizard_vae_small", "kernel_wizard"),
])
def test_official_fixture_files_are_identified(fixture, family):
    sd, _ = read_state_dict(FIXTURE_DIR / f"{fixture}.ckpt.pth")
    names = [name for name, _ in identify_weights(sd)]
    assert family in names, names
    io = torch.load(FIXTURE_DIR / f"{fixture}.io.pt", weights_only=True)
    found = dict(identify_weights(sd))[family]
    for key, value in io["config"].items():  # every argument the shapes can tell is recovered
        if key in found:
            assert found[key] == value or list(found[key]) == list(value), (key, found[key], value)


def test_load_any_builds_official_models_by_path():
    model = load_any(FIXTURE_DIR / "nafnet_small.ckpt.pth")
    assert model.arch_name == "nafnet_local"  # what the released test configs build
    plain = load_any(FIXTURE_DIR / "nafnet_small.ckpt.pth", arch="nafnet")
    assert plain.arch_name == "nafnet" and plain.arch_args["width"] == 8
    local = load_any(FIXTURE_DIR / "nafnet_small.ckpt.pth", train_size=[1, 3, 32, 32])
    assert local.arch_args["train_size"] == [1, 3, 32, 32]
    with pytest.raises(CheckpointError, match="do not look like restormer"):
        load_any(FIXTURE_DIR / "nafnet_small.ckpt.pth", arch="restormer")


def test_bare_mimo_state_dict_loads_as_the_blur2blur_translator():
    assert load_any(FIXTURE_DIR / "blur2blur_translator_small.ckpt.pth").arch_name == "b2b_translator"
    assert load_any(FIXTURE_DIR / "mimounet_small.ckpt.pth").arch_name == "mimo_unet"
