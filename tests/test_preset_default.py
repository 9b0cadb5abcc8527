"""--preset defaults to what fits the machine: the GPU-sized recipe with a GPU, the CPU-sized one without."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from blur2blur.cli import app

runner = CliRunner()

# (command, its GPU-sized default); every training command has the CPU-sized preset "tiny".
COMMANDS = [(["fit", "--blurry", "B", "--sharp", "S", "--out", "run"], "paper"),
            (["extractor", "train", "--out", "f.safetensors"], "paper"),
            (["deblurrer", "train", "--out", "d.safetensors"], "nafnet"),
            (["translator", "train", "--blurry", "B", "--known", "K", "--out", "g.safetensors"], "paper")]


def _config(args):
    result = runner.invoke(app, [*args, "--show-config"])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


@pytest.mark.parametrize("args,gpu_preset", COMMANDS, ids=lambda a: a[0] if isinstance(a, list) else "")
def test_default_preset_fits_the_machine(args, gpu_preset, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine
    tiny, _ = _config([*args, "--preset", "tiny"])
    gpu_sized, warned = _config([*args, "--preset", gpu_preset])
    assert tiny != gpu_sized
    assert f"--preset {gpu_preset} is sized for a GPU" in warned
    shown, note = _config(args)
    assert shown == tiny and f"preset: tiny (no GPU found; --preset {gpu_preset}" in note

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    shown, note = _config(args)
    assert shown == gpu_sized and note == ""
