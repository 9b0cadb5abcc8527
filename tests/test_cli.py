"""The `blur2blur` command end to end on tiny files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURE_DIR
from PIL import Image
from typer.testing import CliRunner

from blur2blur import assets
from blur2blur.cli import app
from blur2blur.models import load_checkpoint

runner = CliRunner()
SUBCOMMANDS = ["deblur", "models", "inspect", "convert", "version"]


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)).save(d / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d / "b.jpg")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return d


@pytest.mark.parametrize("cmd", [[]] + [[c] for c in SUBCOMMANDS])
def test_help_everywhere(cmd):
    result = runner.invoke(app, cmd + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_deblur_folder_reports_broken_files_and_keeps_going(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["deblur", str(photos), "--out", str(out), "--model", str(tiny_model)])
    assert result.exit_code == 1, result.output  # one file failed
    assert "broken.png" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]
    assert Image.open(out / "a.png").size == (45, 37)
    # inputs untouched
    assert (photos / "broken.png").read_bytes() == b"\x89PNG\r\n\x1a\nnot really"


def test_deblur_skips_existing_outputs_and_resumes(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    runner.invoke(app, ["deblur", str(photos / "a.png"), "--out", str(out), "--model", str(tiny_model)])
    stamp = (out / "a.png").stat().st_mtime_ns
    result = runner.invoke(app, ["deblur", str(photos / "a.png"), str(photos / "b.jpg"), "--out", str(out),
                                 "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "1 already there" in result.output
    assert (out / "a.png").stat().st_mtime_ns == stamp
    assert (out / "b.jpg").exists()


def test_deblur_never_writes_over_an_input(tiny_model, photos):
    before = (photos / "a.png").read_bytes()
    result = runner.invoke(app, ["deblur", str(photos / "a.png"), "--out", str(photos), "--model", str(tiny_model),
                                 "--overwrite"])
    assert result.exit_code == 2
    assert "would overwrite an input" in result.output
    assert (photos / "a.png").read_bytes() == before


def test_deblur_tiled_matches_shape_and_suffix(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["deblur", str(photos / "a.png"), "--out", str(out), "--model", str(tiny_model),
                                 "--tile", "16", "--tile-overlap", "4", "--suffix", "_sharp", "--ext", "tif"])
    assert result.exit_code == 0, result.output
    assert Image.open(out / "a_sharp.tif").size == (45, 37)


def test_deblur_with_an_official_checkpoint(photos, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["deblur", str(photos / "a.png"), "--out", str(out), "--model",
                                 str(FIXTURE_DIR / "restormer_small.ckpt.pth")])
    assert result.exit_code == 0, result.output
    assert "restormer(" in result.output
    assert Image.open(out / "a.png").size == (45, 37)


def test_deblur_bad_inputs(tiny_model, tmp_path):
    result = runner.invoke(app, ["deblur", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o"),
                                 "--model", str(tiny_model)])
    assert result.exit_code == 2 and "missing.png" in result.output
    (tmp_path / "junk.pth").write_bytes(b"junk")
    result = runner.invoke(app, ["deblur", str(tmp_path), "--out", str(tmp_path / "o"),
                                 "--model", str(tmp_path / "junk.pth")])
    assert result.exit_code == 2 and "junk.pth" in result.output
    result = runner.invoke(app, ["deblur", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no INPUTS" in result.output


def test_inspect_and_convert(tmp_path):
    src = FIXTURE_DIR / "blur2blur_discriminator_small.ckpt.pth"
    result = runner.invoke(app, ["inspect", str(src)])
    assert result.exit_code == 0, result.output
    assert "'module.' prefix was stripped" in result.output and "b2b_discriminator(" in result.output
    target = tmp_path / "d.safetensors"
    result = runner.invoke(app, ["convert", str(src), str(target)])
    assert result.exit_code == 0, result.output
    model = load_checkpoint(target)
    assert model.arch_name == "b2b_discriminator" and model.arch_args["ndf"] == 8
    result = runner.invoke(app, ["convert", str(src), str(target)])  # a rerun of a finished command
    assert result.exit_code == 0 and "nothing to do" in result.output
    result = runner.invoke(app, ["inspect", str(target)])
    assert '"arch": "b2b_discriminator"' in result.output


def test_models_lists_every_architecture():
    result = runner.invoke(app, ["models"])
    for name in ["nafnet", "nafnet_local", "restormer", "mimo_unet", "mimo_unet_plus", "b2b_translator",
                 "b2b_discriminator", "kernel_wizard", "unet_translator", "nafnet_translator", "vgg19"]:
        assert name in result.output


def test_example_run_improves_psnr(tmp_path):
    result = runner.invoke(app, ["deblur", "--example", "--out", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "->" in ln and "(" in ln and "dB" not in ln]
    assert len(lines) == len(assets.example_blurry_images()) >= 1
    gains = [float(ln.rsplit("(", 1)[1].rstrip(")")) for ln in lines]
    assert all(g > 0 for g in gains), result.output
