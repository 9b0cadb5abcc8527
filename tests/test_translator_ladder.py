"""benchmarks/translator_ladder.py end to end at toy size: every job runs, resumes, and the table is built."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from blur2blur.data.demo import split_demo_photos

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "translator_ladder.py"


def _ladder():
    spec = importlib.util.spec_from_file_location("translator_ladder", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ladder_runs_every_job_and_reports_each_rung(tmp_path, capsys):
    ladder = _ladder()
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in split_demo_photos()[1][:10]:  # the demo's unknown-camera photos: D' never saw them
        shutil.copy(p, photos / p.name)
    args = ["--photos", str(photos), "--out", str(tmp_path / "run"), "--cameras", "shape", "--rungs", "a", "b",
            "--steps", "4", "--warmup", "2", "--eval-every", "2", "--upper-steps", "2"]
    ladder.main(args)
    result = json.loads((tmp_path / "run" / "ladder.json").read_text())
    cam = result["cameras"]["shape"]
    assert cam["sizes"]["B"] >= 2 and cam["sizes"]["test_crops"] == 4 * 2
    assert set(cam["rungs"]) == {"a", "b"}
    # A perfect G: D' on the same test shots with the known blur, paired with D' direct crop by crop.
    assert 5 < cam["perfect"] < 60 and cam["perfect_gain"] == pytest.approx(cam["perfect"] - cam["direct"], abs=1e-6)
    # The pre-blur control: the best of the fixed Gaussian blurs tried before D', each scored and kept.
    gains = {sigma: json.loads((tmp_path / "run" / "cameras" / "shape" / "eval" / f"preblur-{sigma}.json")
                               .read_text())["summary"]["psnr"] - cam["direct"] for sigma in ladder.PREBLUR_SIGMAS}
    assert cam["preblur"]["sigma"] == max(gains, key=gains.get)
    assert cam["preblur"]["gain"] == pytest.approx(max(gains.values()), abs=1e-6)
    for rung in cam["rungs"].values():
        assert [p["step"] for p in rung["curve"]] == [2, 4]
        first = rung["curve"][0]   # the end of the warm-up: G is still the identity, D'(G(y)) = D'(y)
        assert first["drift_test"] == 100.0 and abs(first["d_psnr"]) < 1e-6
        # ... and its distance to the known-blur shots is the camera's own (the same crops, scored once each).
        assert first["translation_psnr"] == pytest.approx(cam["translation_identity"], abs=1e-6)
        assert first["length_tracking"] is None and first["filter_along_spread"] is None  # no blur to compare
        assert rung["verdict"].startswith(("failed", "no gain", "no better than a fixed pre-blur", "learned"))
    # A perfect G's blur along each test shot's path: one spread per shot (4 crops per shot).
    assert len(cam["perfect_filter"]["along_spreads"]) == cam["sizes"]["test_crops"] // 4
    # The best per-shot filter: D' on each test shot filtered towards its known-blur shot, paired with D' direct.
    best = cam["best_filter"]
    filtered = json.loads((tmp_path / "run" / "cameras" / "shape" / "eval" / "best-filter-9" / "deblurred.json")
                          .read_text())
    assert best["size"] == 9 and 0 <= best["improved"] <= 1
    assert best["gain"] == pytest.approx(filtered["summary"]["psnr"] - cam["direct"], abs=1e-6)
    assert best["translation_psnr"] > cam["translation_identity"]   # fitted towards the known-blur shot
    md = (tmp_path / "run" / "ladder.md").read_text()
    assert "| a |" in md and "| b |" in md and "Learning curve" in md
    # The ceiling: the same G trained supervised on B's shots paired with the known-blur shots of the same paths.
    ladder.main(args + ["--ceiling-steps", "3", "--only", "ceiling:shape"])
    cam_dir = tmp_path / "run" / "cameras" / "shape"
    ceiling = json.loads((cam_dir / "ceiling" / "ceiling.json").read_text())
    composed = json.loads((cam_dir / "ceiling" / "composed.json").read_text())
    direct = json.loads((cam_dir / "eval" / "direct.json").read_text())
    assert ceiling["steps"] == 3 and 0 <= ceiling["improved"] <= 1
    assert ceiling["d_psnr"] == pytest.approx(composed["summary"]["psnr"] - direct["summary"]["psnr"], abs=1e-6)
    assert ceiling["translation_psnr"] != pytest.approx(cam["translation_identity"], abs=1e-4)  # G moved
    assert ceiling["filter_along_spread"] > 0 and "length_tracking" in ceiling
    # A rerun finds every result in place and trains nothing.
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*.safetensors"))
    ladder.main(args)
    ladder.main(args + ["--ceiling-steps", "3", "--only", "ceiling:shape"])
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*.safetensors")) == before


def test_filter_translator_options_reach_the_config():
    ladder = _ladder()
    base = ["--photos", "p", "--out", "o"]
    cfg = ladder.translator_config(ladder.parse_args([*base, "--arch", "b2b_filter_translator", "--kernel-size", "5",
                                                      "--smooth", "3", "--nonnegative", "--batch", "8",
                                                      "--lambda-direction", "2", "--direction-angles", "8",
                                                      "--steer", "--stretch", "--direction-reading", "whole"]))
    assert cfg.arch == "b2b_filter_translator" and cfg.loop.batch_size == 8 and cfg.lambda_direction == 2
    assert {k: cfg.arch_args[k] for k in ("kernel_size", "smooth", "nonnegative", "direction_angles", "steer",
                                          "stretch", "direction_reading")} == \
        {"kernel_size": 5, "smooth": 3, "nonnegative": True, "direction_angles": 8, "steer": True, "stretch": True,
         "direction_reading": "whole"}
    plain = ladder.translator_config(ladder.parse_args(base))
    assert plain.arch == "b2b_translator" and "nonnegative" not in plain.arch_args and plain.lambda_direction == 0


def test_effective_filter_recovers_the_filter_and_its_direction():
    import math

    import torch
    import torch.nn.functional as F

    ladder = _ladder()
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 48, 48, generator=g)
    k = torch.rand(9, 9, generator=g)
    k /= k.sum()
    out = F.conv2d(y[:, None], k[None, None], padding=4)[:, 0]
    torch.testing.assert_close(ladder.effective_filter(y, out), k, atol=1e-5, rtol=0)

    line = torch.zeros(9, 9)
    line[4, :] = 1 / 9  # along x
    shape = ladder.filter_shape(line)
    assert shape["angle"] == pytest.approx(0.0, abs=1e-6) and shape["anisotropy"] > 100
    assert abs(ladder.filter_shape(line.T)["angle"]) == pytest.approx(math.pi / 2, abs=1e-6)
    disc = torch.exp(-(torch.arange(-4.0, 5) ** 2)[:, None] - (torch.arange(-4.0, 5) ** 2)[None] / 1.0)
    assert ladder.filter_shape(disc)["anisotropy"] == pytest.approx(1.0, abs=1e-6)

    # along the path: alignment 1; across it: 0; the identity has no direction
    smeared = F.conv2d(y[:, None], line[None, None], padding=4)[:, 0]
    angles = {"along": 0.0, "across": math.pi / 2}
    along = ladder.filter_along_path([y, y], [smeared, smeared], ["along", "across"], angles)
    assert along["alignment"] == pytest.approx(0.5, abs=1e-3)
    assert ladder.filter_along_path([y], [smeared], ["along"], angles)["alignment"] == pytest.approx(1.0, abs=1e-3)
    nothing = {"alignment": None, "anisotropy": None, "along_spread": None, "along_spreads": None}
    assert ladder.filter_along_path([y], [y], ["along"], angles) == nothing
    diverged = smeared.clone()
    diverged[0, 0, 0] = float("nan")
    assert ladder.filter_along_path([y], [diverged], ["along"], angles) == nothing
    with pytest.raises(ValueError, match="NaN or infinity"):
        ladder.effective_filter(y, diverged)
    assert ladder.path_angle([[-3.0, 3.0, 0.0], [0, 0, 0], [3.0, -3.0, 0.0]]) == pytest.approx(-math.pi / 4)


def test_spread_along_the_path_and_length_tracking():
    import math

    import torch
    import torch.nn.functional as F

    ladder = _ladder()
    line = torch.zeros(9, 9)
    line[4, :] = 1 / 9  # 9 px along x: spread sqrt(mean(u^2)), u = -4..4
    assert ladder.spread_along(line, 0.0) == pytest.approx(math.sqrt(60 / 9), abs=1e-6)
    assert ladder.spread_along(line, math.pi / 2) == pytest.approx(0.0, abs=1e-6)
    assert ladder.spread_along(line, math.pi / 4) == pytest.approx(math.sqrt(60 / 9 / 2), abs=1e-6)

    # shots smeared by 3-, 5- and 9-px lines along their paths: G's spreads follow each shot's length
    y = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(0))
    lines = []
    for length in (3, 5, 9):
        k = torch.zeros(9, 9)
        k[4, 4 - length // 2:5 + length // 2] = 1 / length
        lines.append(k)
    outs = [F.conv2d(y[:, None], k[None, None], padding=4)[:, 0] for k in lines]
    stems = ["a", "b", "c"]
    along = ladder.filter_along_path([y] * 3, outs, stems, dict.fromkeys(stems, 0.0))
    wanted = [math.sqrt(sum(u * u for u in range(-(n // 2), n // 2 + 1)) / n) for n in (3, 5, 9)]
    assert along["along_spreads"] == pytest.approx(wanted, abs=1e-3)
    assert along["along_spread"] == pytest.approx(sum(wanted) / 3, abs=1e-3)
    assert ladder.length_tracking(along["along_spreads"], wanted) == pytest.approx(1.0, abs=1e-6)
    assert ladder.length_tracking(along["along_spreads"], wanted[::-1]) < -0.9   # longest where shortest is wanted
    assert ladder.length_tracking([1.5, 1.5, 1.5], wanted) is None                # one length for every shot
    assert ladder.length_tracking(wanted[:2], wanted[:2]) is None                 # too few shots
    assert ladder.length_tracking(None, wanted) is None and ladder.length_tracking(wanted, None) is None  # no blur


def test_best_nonnegative_filter_finds_a_blur_and_never_a_negative_tap():
    import torch

    from blur2blur.ops import convolve_per_image

    ladder = _ladder()
    g = torch.Generator().manual_seed(1)
    y = torch.rand(3, 40, 40, generator=g)
    k = torch.rand(5, 5, generator=g)
    k /= k.sum()
    blurred = convolve_per_image(y[None], k.flip(-1, -2)[None])[0]  # a correlation with k
    torch.testing.assert_close(ladder.best_nonnegative_filter(y, blurred, 5), k, atol=1e-5, rtol=0)
    # A sharpening (negative side taps) is out of its reach: the best it can do stays non-negative.
    sharpen = torch.zeros(5, 5)
    sharpen[2, 2], sharpen[2, 1], sharpen[2, 3] = 2.0, -0.5, -0.5
    taps = ladder.best_nonnegative_filter(y, convolve_per_image(y[None], sharpen[None])[0], 5)
    assert taps.min() >= 0 and taps[2, 1] == 0 and taps[2, 3] == 0 and taps[2, 2] > 1


def test_a_shoot_with_another_seed_is_refused_not_reused(tmp_path):
    ladder = _ladder()
    photos = split_demo_photos()[1][:2]
    camera = ladder.CAMERAS["ghost"]
    pairs = ladder.shoot(photos, tmp_path / "b", camera, seed=3)
    assert len(pairs) == 2
    stamp = (tmp_path / "b" / "manifest.json").stat().st_mtime_ns
    assert [p.blurry for p in ladder.shoot(photos, tmp_path / "b", camera, seed=3)] == [p.blurry for p in pairs]
    with pytest.raises(SystemExit, match="seed 3, 2 photos .*asks camera .ghost., seed 4"):
        ladder.shoot(photos, tmp_path / "b", camera, seed=4)
    assert (tmp_path / "b" / "manifest.json").stat().st_mtime_ns == stamp   # nothing was shot over


def test_one_out_folder_keeps_one_set_of_shared_settings(tmp_path):
    ladder = _ladder()
    base = ["--photos", str(tmp_path / "photos"), "--out", str(tmp_path / "run")]
    ladder.check_out(ladder.parse_args(base))
    ladder.check_out(ladder.parse_args([*base, "--steps", "9", "--tag=-probe"]))   # a job's own flags may differ
    respelt = ["--photos", str(tmp_path / "x" / ".." / "photos"), "--out", str(tmp_path / "run")]
    ladder.check_out(ladder.parse_args(respelt))                                   # the same photos
    with pytest.raises(SystemExit, match="--deblurrer-steps 0 \\(this run: 500\\)"):
        ladder.check_out(ladder.parse_args([*base, "--deblurrer-steps", "500"]))
    with pytest.raises(SystemExit, match="--seed 0 \\(this run: 1\\)"):
        ladder.check_out(ladder.parse_args([*base, "--seed", "1"]))
