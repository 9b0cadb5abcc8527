"""`split` keeps scenes disjoint; `evaluate` scores the same samples for every model, with a stable JSON schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from blur2blur.cli import app
from blur2blur.data.images import write_image
from blur2blur.data.pairs import BlurPair, find_pairs
from blur2blur.data.split import split_scenes, write_split
from blur2blur.evaluate import (
    EvalConfig,
    evaluate,
    evaluation_samples,
    paired_difference,
    summarise,
    write_evaluation,
)


def _pairs(root: Path, scenes: int = 5, frames: int = 3, size: int = 32) -> Path:
    """A REDS-like tree: train_blur/<scene>/<frame>.png and train_sharp/<scene>/<frame>.png."""
    g = torch.Generator().manual_seed(0)
    for s in range(scenes):
        for f in range(frames):
            sharp = torch.rand(3, size, size, generator=g)
            write_image(sharp, root / "train_sharp" / f"{s:03d}" / f"{f:08d}.png")
            write_image((sharp * 0.8 + 0.1), root / "train_blur" / f"{s:03d}" / f"{f:08d}.png")
    return root


def test_split_scenes_are_disjoint_and_whole(tmp_path):
    pairs = find_pairs(_pairs(tmp_path / "reds"), "reds")
    b, s = split_scenes(pairs, 0.6, seed=3)
    b_scenes, s_scenes = {p.scene for p in b}, {p.scene for p in s}
    assert not b_scenes & s_scenes
    assert len(b_scenes) == 3 and len(s_scenes) == 2          # 0.6 of 5 scenes
    assert len(b) + len(s) == len(pairs)                      # nothing lost, every frame of a scene together
    assert split_scenes(pairs, 0.6, seed=3) == (b, s)          # seeded


def test_split_needs_two_scenes_and_a_proper_ratio():
    one = [BlurPair(Path("a.png"), Path("b.png"), "only")]
    with pytest.raises(ValueError, match="2 scenes"):
        split_scenes(one)
    with pytest.raises(ValueError, match="ratio"):
        split_scenes(one * 2, 1.0)


def test_write_split_links_files_and_refuses_to_overwrite(tmp_path):
    root = _pairs(tmp_path / "reds")
    pairs = find_pairs(root, "reds")
    out = write_split(pairs, tmp_path / "split", 0.6, source=str(root))
    manifest = json.loads((out / "split.json").read_text())
    b_files, s_files = sorted((out / "B").iterdir()), sorted((out / "S").iterdir())
    assert len(b_files) == 9 and len(s_files) == 6
    # B holds blurry frames, S sharp frames, of different scenes; names stay unique across scenes.
    assert all("train_blur" in str(f.resolve()) for f in b_files)
    assert all("train_sharp" in str(f.resolve()) for f in s_files)
    assert not set(manifest["B"]["scenes"]) & set(manifest["S"]["scenes"])
    with pytest.raises(FileExistsError, match="split"):
        write_split(pairs, tmp_path / "split", 0.6)


def test_split_cli(tmp_path):
    root = _pairs(tmp_path / "reds")
    res = CliRunner().invoke(app, ["split", "--pairs", str(root), "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "B: 9 blurry images of 3 scenes" in res.output
    res = CliRunner().invoke(app, ["split", "--pairs", str(root), "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "refusing" in res.output


def _folder_pairs(root: Path, n: int = 3, size: int = 40) -> list[BlurPair]:
    g = torch.Generator().manual_seed(1)
    for i in range(n):
        sharp = torch.rand(3, size, size + 8, generator=g)
        write_image(sharp, root / "sharp" / f"{i}.png")
        write_image((sharp + 0.05).clamp(0, 1), root / "blur" / f"{i}.png")
    return find_pairs(root, "folders")


class _Brighten(torch.nn.Module):
    """A "deblurrer" that subtracts a constant: a known change in PSNR."""

    def __init__(self, delta: float):
        super().__init__()
        self.delta = torch.nn.Parameter(torch.tensor(delta))

    def forward(self, x):
        return x - self.delta


def test_crops_are_seeded_and_identical_for_every_model(tmp_path):
    pairs = _folder_pairs(tmp_path / "p")
    cfg = EvalConfig(crop=16, crops_per_image=3, seed=5)
    a = [(s.name, s.blurry) for s in evaluation_samples(pairs, cfg)]
    b = [(s.name, s.blurry) for s in evaluation_samples(pairs, cfg)]
    assert [n for n, _ in a] == [n for n, _ in b] and len(a) == 9
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert all(x.shape == (3, 16, 16) for _, x in a)
    assert not torch.equal(a[0][1], a[1][1])  # different positions within an image


def test_evaluate_schema_and_values(tmp_path):
    pairs = _folder_pairs(tmp_path / "p")
    base = evaluate(None, pairs, EvalConfig(), progress=False)
    assert base["format"] == "blur2blur-evaluation/1"
    assert set(base["summary"]) == {"samples", "psnr", "ssim", "psnr_input", "ssim_input", "gain_over_input",
                                    "improved_over_input"}
    row = base["images"][0]
    assert set(row) == {"name", "psnr", "ssim", "psnr_input", "ssim_input"}
    blurry, sharp = (p.read_bytes() for p in (pairs[0].blurry, pairs[0].sharp))
    assert blurry and sharp
    # The input row's PSNR equals scikit-image's on the same files.
    from blur2blur.data.pairs import load_pair

    b, s = load_pair(pairs[0])
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(s.numpy(), b.numpy(), data_range=1.0), abs=1e-6)
    # Undoing the +0.05 (up to clipping) raises PSNR on every image; the paired difference says so.
    fixed = evaluate(_Brighten(0.05), pairs, EvalConfig(), progress=False)
    d = paired_difference(fixed, base)
    assert d["improved"] == 1.0 and d["psnr"] > 5
    assert fixed["summary"]["improved_over_input"] == 1.0
    assert math.isclose(fixed["summary"]["gain_over_input"], d["psnr"], rel_tol=1e-9)
    out = write_evaluation(fixed, tmp_path / "ev")
    assert json.loads(out.read_text())["summary"] == fixed["summary"]
    assert "| **mean (3)** |" in (tmp_path / "ev" / "metrics.md").read_text()
    with pytest.raises(FileExistsError):
        write_evaluation(fixed, tmp_path / "ev")


def test_differences_within_a_hundredth_of_a_db_are_ties():
    def result(psnrs):
        return {"images": [{"name": str(i), "psnr": p, "ssim": 0.5} for i, p in enumerate(psnrs)]}

    base = result([20.0, 20.0, 20.0, 20.0])
    d = paired_difference(result([20.005, 20.02, 19.99, 20.0]), base)
    assert d["improved"] == 0.25 and d["psnr"] == pytest.approx(0.015 / 4)
    rows = [{"psnr": 20.004, "psnr_input": 20.0, "ssim": 0.5, "ssim_input": 0.5},
            {"psnr": 21.0, "psnr_input": 20.0, "ssim": 0.5, "ssim_input": 0.5}]
    assert summarise(rows)["improved_over_input"] == 0.5


def test_paired_difference_refuses_different_samples(tmp_path):
    pairs = _folder_pairs(tmp_path / "p")
    a = evaluate(None, pairs, EvalConfig(), progress=False)
    b = evaluate(None, pairs[:2], EvalConfig(), progress=False)
    with pytest.raises(ValueError, match="different samples"):
        paired_difference(a, b)


def test_evaluate_cli(tmp_path):
    from blur2blur.models import create_model, save_checkpoint

    pairs_root = tmp_path / "p"
    _folder_pairs(pairs_root)
    net = create_model("nafnet", width=8, enc_blk_nums=[1], middle_blk_num=1, dec_blk_nums=[1])
    save_checkpoint(net, tmp_path / "d.safetensors")
    res = CliRunner().invoke(app, ["evaluate", "--pairs", str(pairs_root), "--model", str(tmp_path / "d.safetensors"),
                                   "--out", str(tmp_path / "ev"), "--crop", "16", "--crops-per-image", "2",
                                   "--save-outputs"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert result["summary"]["samples"] == 6 and len(list((tmp_path / "ev" / "outputs").glob("*.png"))) == 6
    # The same command again: done already, success, nothing rewritten; another evaluation into it: refused.
    before = (tmp_path / "ev" / "metrics.json").stat().st_mtime_ns
    res = CliRunner().invoke(app, ["evaluate", "--pairs", str(pairs_root), "--model", str(tmp_path / "d.safetensors"),
                                   "--out", str(tmp_path / "ev"), "--crop", "16", "--crops-per-image", "2",
                                   "--save-outputs"])
    assert res.exit_code == 0 and "nothing to do" in res.output, res.output
    assert (tmp_path / "ev" / "metrics.json").stat().st_mtime_ns == before
    res = CliRunner().invoke(app, ["evaluate", "--pairs", str(pairs_root), "--input-only", "--out",
                                   str(tmp_path / "ev")])
    assert res.exit_code == 2 and "refusing" in res.output and "model_sha256" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--pairs", str(pairs_root), "--out", str(tmp_path / "ev2")])
    assert res.exit_code == 2 and "exactly one" in res.output
