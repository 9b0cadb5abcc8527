"""`blur2blur extractor train|eval` and `blur2blur known-set make` end to end on tiny data."""

from __future__ import annotations

import json

import pytest
from helpers import EXTRACTOR_TINY, cli, write_blur_pairs
from typer.testing import CliRunner

from blur2blur import assets
from blur2blur.data.images import read_image, write_image
from blur2blur.models import load_checkpoint

runner = CliRunner()
TINY_SETTINGS = EXTRACTOR_TINY  # `extractor train --preset tiny`, CPU-sized (helpers)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_extractor")
    photos = assets.demo_photos()
    write_blur_pairs(root / "pairs" / "train", photos[:4], size=160)
    write_blur_pairs(root / "pairs" / "test", photos[4:6], size=160)
    for p in photos[6:8]:
        write_image(read_image(p)[0][:, :140, :200], root / "camera" / f"{p.stem}.png")
    return root


@pytest.fixture(scope="module")
def extractor(dataset):
    out = dataset / "extractor.safetensors"
    res = cli("extractor", "train", "--pairs", dataset / "pairs" / "train", "--val-pairs", dataset / "pairs" / "test",
              "--out", out, *TINY_SETTINGS, "--set", "loop.steps=2")
    assert res.exit_code == 0, res.output
    return out


def test_train_writes_a_self_describing_extractor(extractor, dataset):
    net = load_checkpoint(extractor)
    info = net.checkpoint_info
    assert net.arch_name == "kernel_wizard" and net.nf == 8 and info["steps"] == 2
    assert set(info["heldout"]) >= {"reblur_psnr", "identity_psnr", "gain_db"}
    run = dataset / "extractor-run"
    assert (run / "config.yaml").exists() and (run / "log.jsonl").exists()


def test_train_refuses_to_overwrite_and_resumes(extractor, dataset):
    res = cli("extractor", "train", "--pairs", dataset / "pairs" / "train", "--out", extractor, *TINY_SETTINGS)
    assert res.exit_code == 2 and "refusing to overwrite" in res.output
    # Same run folder, more steps: resumes from step 2 (the config differs only in loop.steps).
    out2 = dataset / "extractor4.safetensors"
    res = cli("extractor", "train", "--pairs", dataset / "pairs" / "train", "--val-pairs", dataset / "pairs" / "test",
              "--out", out2, "--run-dir", dataset / "extractor-run", *TINY_SETTINGS, "--set", "loop.steps=4")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out2).checkpoint_info["steps"] == 4
    steps = [json.loads(x)["step"] for x in (dataset / "extractor-run" / "log.jsonl").read_text().splitlines()]
    assert steps.count(3) == 1 and steps.count(1) == 1  # steps 1-2 were not redone
    res = cli("extractor", "train", "--pairs", dataset / "pairs" / "train", "--out", dataset / "x.safetensors",
              "--run-dir", dataset / "extractor-run", *TINY_SETTINGS, "--set", "lr=0.1")
    assert res.exit_code == 2 and "lr" in res.output and "other settings" in res.output


def test_eval_reports_psnr_against_identity(extractor, dataset, tmp_path):
    res = cli("extractor", "eval", "--extractor", extractor, "--pairs", dataset / "pairs" / "test", "--size", "128",
              "--json", tmp_path / "m.json")
    assert res.exit_code == 0, res.output
    assert "vs identity" in res.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["pairs"] == 2 and m["gain_db"] == pytest.approx(m["reblur_psnr"] - m["identity_psnr"])
    # Rerun: the same numbers are there already (success); other numbers are refused.
    res = cli("extractor", "eval", "--extractor", extractor, "--pairs", dataset / "pairs" / "test", "--size", "128",
              "--json", tmp_path / "m.json")
    assert res.exit_code == 0 and "nothing to do" in res.output, res.output
    res = cli("extractor", "eval", "--extractor", extractor, "--pairs", dataset / "pairs" / "test", "--size", "64",
              "--json", tmp_path / "m.json")
    assert res.exit_code == 2 and "refusing" in res.output


def test_known_set_make_builds_k(extractor, dataset, tmp_path):
    res = cli("known-set", "make", "--extractor", extractor, "--pairs", dataset / "pairs" / "train",
              "--sharp", dataset / "camera", "--out", tmp_path / "K", "--variants", "2", "--camera-noise", "off")
    assert res.exit_code == 0, res.output
    ks = sorted((tmp_path / "K").glob("*.png"))
    assert len(ks) == 4 and read_image(ks[0])[0].shape == (3, 140, 200)
    res = cli("known-set", "make", "--extractor", extractor, "--pairs", dataset / "pairs" / "train",
              "--sharp", dataset / "camera", "--out", tmp_path / "K", "--variants", "2", "--camera-noise", "off")
    assert res.exit_code == 0 and "4 already there" in res.output


@pytest.mark.parametrize("args, message", [
    (["extractor", "train", "--out", "x.safetensors"], "--pairs"),
    (["extractor", "train", "--pairs", "/nonexistent", "--out", "x.safetensors"], "not a folder"),
    (["extractor", "train", "--pairs", ".", "--out", "x.safetensors", "--set", "lrr=1"], "did you mean 'lr'"),
    (["extractor", "train", "--pairs", ".", "--out", "x.safetensors", "--preset", "huge"], "unknown preset"),
    (["known-set", "make", "--extractor", "missing.pth", "--pairs", ".", "--out", "K"], "--sharp"),
])
def test_bad_input_is_named(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli(*args)
    assert res.exit_code == 2 and message in res.output, res.output


def test_show_config_prints_the_paper_recipe():
    res = cli("extractor", "train", "--out", "unused.safetensors", "--preset", "paper", "--show-config")
    assert res.exit_code == 0
    assert "kernel_dim: 512" in res.output and "- 150000" in res.output and "lr: 0.0001" in res.output
