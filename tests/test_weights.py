"""The official weight registry and `blur2blur weights`, offline, against files in a temporary cache."""

from __future__ import annotations

import pytest
import torch
from conftest import load_manifest
from typer.testing import CliRunner

from blur2blur import hub
from blur2blur.cli import app
from blur2blur.models import create_model, identify_weights, list_models, save_checkpoint

runner = CliRunner()

# Registry entry -> the reference manifest of the same published file (tests/reference).
MANIFESTS = {
    "nafnet_gopro_width32": "nafnet_gopro_width32",
    "nafnet_gopro_width64": "nafnet_gopro_width64",
    "nafnet_reds_width64": "nafnet_reds_width64",
    "restormer_motion_deblurring": "restormer_motion_deblurring",
    "mimo_unet_gopro": "mimounet",
    "mimo_unet_plus_gopro": "mimounet_plus",
    "kernel_wizard_gopro_wovae": "kernelwizard_gopro",
}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")  # nothing here may touch the network
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache"


def test_every_official_checkpoint_has_an_entry():
    assert list(hub.REGISTRY) == [
        "nafnet_gopro_width32", "nafnet_gopro_width64", "nafnet_reds_width64", "restormer_motion_deblurring",
        "mimo_unet_gopro", "mimo_unet_plus_gopro", "kernel_wizard_gopro_wovae", "kernel_wizard_gopro_wvae",
        "vgg19", "vgg16"]
    for entry in hub.REGISTRY.values():
        assert entry.url.startswith("https://") and entry.filename and entry.description and entry.source
        assert entry.arch in list_models(), entry.name
        if not entry.direct:
            assert entry.sha256 is None  # nothing published on a download page is verified by a digest
    for name, manifest in MANIFESTS.items():
        assert hub.get_entry(name).filename == load_manifest(manifest)["released_checkpoint"]


@pytest.mark.parametrize("name", list(MANIFESTS) + ["kernel_wizard_gopro_wvae"])
def test_entries_name_the_architecture_their_published_tensors_fit(name):
    # The published file's tensors (from its manifest) are recognised as exactly the entry's
    # architecture and arguments: the registry entry builds the network that file loads into.
    entry = hub.get_entry(name)
    if name in MANIFESTS:
        state = {k: torch.empty(shape, device="meta") for k, shape, _ in load_manifest(MANIFESTS[name])["state_dict"]}
    else:  # no manifest for the VAE extractor: its layout is the woVAE one plus the VAE's layers
        with torch.device("meta"):
            state = create_model(entry.arch, **entry.arch_args).state_dict()
    assert (entry.arch, entry.arch_args) in identify_weights(state)


def _tiny_nafnet(path, width: int = 8):
    torch.manual_seed(0)
    net = create_model("nafnet_local", width=width, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    torch.save({"params": net.state_dict()}, path)  # the official container
    return path


def _entry(**kw) -> hub.WeightFile:
    base = dict(name="test_weights", url="https://example.org/page", sha256=None, filename="test.pth",
                description="a test file", source="the tests", direct=False)
    return hub.WeightFile(**{**base, **kw})


def test_missing_file_names_the_exact_path_and_source(cache):
    result = runner.invoke(app, ["weights", "nafnet_gopro_width32"])
    assert result.exit_code == 1
    entry = hub.get_entry("nafnet_gopro_width32")
    assert "[missing]" in result.output
    assert f"path:       {cache / 'NAFNet-GoPro-width32.pth'}" in result.output
    assert entry.url in result.output and "megvii-research/NAFNet" in result.output
    assert "sha256:     none published" in result.output
    # Using the name where a weight file is taken fails with the same path and source.
    result = runner.invoke(app, ["inspect", "nafnet_gopro_width32"])
    assert result.exit_code == 2
    assert str(cache / "NAFNet-GoPro-width32.pth") in result.output and entry.url in result.output


def test_listing_everything_succeeds_with_files_missing(cache):
    result = runner.invoke(app, ["weights"])
    assert result.exit_code == 0, result.output
    for entry in hub.REGISTRY.values():
        assert f"{entry.name}  [missing]" in result.output
        assert str(cache / entry.filename) in result.output


def test_checksum_verified_and_mismatch(cache, monkeypatch):
    payload = b"weights" * 1000
    (cache / "test.pth").write_bytes(payload)
    good = _entry(sha256=hub.sha256_file(cache / "test.pth"), direct=True)
    monkeypatch.setitem(hub.REGISTRY, "test_weights", good)
    result = runner.invoke(app, ["weights", "test_weights"])
    assert result.exit_code == 0 and "[verified]" in result.output, result.output

    (cache / "test.pth").write_bytes(payload + b"!")
    result = runner.invoke(app, ["weights", "test_weights"])
    assert result.exit_code == 1 and "[mismatch]" in result.output
    assert f"expected {good.sha256}" in result.output
    result = runner.invoke(app, ["weights"])  # a wrong file fails the whole listing too
    assert result.exit_code == 1


def test_without_a_checksum_the_tensors_are_checked(cache, monkeypatch):
    _tiny_nafnet(cache / "test.pth", width=8)
    args = {"img_channel": 3, "width": 8, "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}
    monkeypatch.setitem(hub.REGISTRY, "test_weights", _entry(arch="nafnet_local", arch_args=args))
    assert hub.check("test_weights").state == hub.FITS

    # The right architecture at the wrong width is caught: not the file the name promises.
    monkeypatch.setitem(hub.REGISTRY, "test_weights", _entry(arch="nafnet_local", arch_args={**args, "width": 32}))
    result = runner.invoke(app, ["weights", "test_weights"])
    assert result.exit_code == 1 and "[mismatch]" in result.output
    assert "width=8 instead of width=32" in result.output

    (cache / "test.pth").write_bytes(b"not a weight file")
    status = hub.check("test_weights")
    assert status.state == hub.MISMATCH and "cannot be read" in status.detail


def test_a_name_loads_the_cached_file(cache, monkeypatch, tmp_path):
    _tiny_nafnet(cache / "test.pth")
    monkeypatch.setitem(hub.REGISTRY, "test_weights", _entry(arch="nafnet_local"))
    result = runner.invoke(app, ["inspect", "test_weights"])
    assert result.exit_code == 0, result.output
    assert f"file:       {cache / 'test.pth'}" in result.output and "fits:       nafnet_local(" in result.output
    # A real path wins over a name, even when a file of that name exists in the working folder.
    ours = save_checkpoint(create_model("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1),
                           tmp_path / "ours.safetensors")
    assert hub.resolve(ours) == ours
    assert hub.resolve("test_weights") == cache / "test.pth"
