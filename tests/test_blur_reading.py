"""benchmarks/blur_reading.py: the translator's blur readers scored on camera-shot folders with known paths."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from blur2blur.data import camera_sim
from blur2blur.data.demo import split_demo_photos

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script():
    sys.path.insert(0, str(BENCHMARKS))      # it imports translator_ladder beside it
    try:
        spec = importlib.util.spec_from_file_location("blur_reading", BENCHMARKS / "blur_reading.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_reads_a_ghost_folder_and_refuses_a_turning_camera(tmp_path, capsys):
    reading = _script()
    photos = split_demo_photos()[1][:3]
    ghost = reading.ladder.CAMERAS["ghost"]
    camera_sim.write_camera_pairs(photos, tmp_path / "ghost", ghost, seed=3, show_progress=False)
    reading.main([str(tmp_path / "ghost"), "--json", str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())[0]
    assert result["shots"] == 3
    for name in ("local", "whole"):
        assert 0 <= result[name]["misread"] <= 3 and 0 <= result[name]["median_error_deg"] <= 90
        assert 0 < result[name]["length_over_path"] < 3
    assert "| 3 |" in capsys.readouterr().out
    camera_sim.write_camera_pairs(photos[:1], tmp_path / "shape", reading.ladder.CAMERAS["shape"], seed=3,
                                  show_progress=False)
    with pytest.raises(SystemExit, match="turn"):
        reading.main([str(tmp_path / "shape")])
    with pytest.raises(SystemExit, match="no manifest.json"):
        reading.main([str(tmp_path / "nowhere")])


def test_errors_and_means_are_taken_modulo_180_degrees():
    """A line has no sign: 10 and 170 degrees average to 0 (a plain vector mean would give 90), and an error
    is at most 90 degrees."""
    import math

    import torch

    reading = _script()
    field = torch.zeros(1, 2, 1, 2)
    for i, degrees in enumerate((10, 170)):
        field[0, :, 0, i] = torch.tensor([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])
    assert reading.angle_error(reading.mean_direction(field), 0.0) == pytest.approx(0.0, abs=1e-4)
    assert reading.angle_error(torch.tensor([1.0, 0.0]), math.radians(135)) == pytest.approx(45.0, abs=1e-4)
    assert reading.angle_error(torch.tensor([0.0, 1.0]), math.radians(0)) == pytest.approx(90.0, abs=1e-4)
