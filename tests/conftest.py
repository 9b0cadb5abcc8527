"""Shared test helpers: the reference manifests and conformance fixtures live in tests/reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

REFERENCE_DIR = Path(__file__).parent / "reference"
FIXTURE_DIR = REFERENCE_DIR / "fixtures"

torch.set_num_threads(2)


@pytest.fixture
def tiny_model(tmp_path):
    """A tiny NAFNet (seeded) saved as our checkpoint: ``tmp_path/tiny.safetensors``."""
    from blur2blur.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    return save_checkpoint(model, tmp_path / "tiny.safetensors")


def load_fixture(name: str) -> dict:
    """The `<name>.io.pt` conformance fixture (see tests/reference/fixtures/FIXTURES.md)."""
    return torch.load(FIXTURE_DIR / f"{name}.io.pt", weights_only=True)


def load_manifest(name: str) -> dict:
    """The JSON manifest `<name>.json` of an official checkpoint (keys and shapes)."""
    return json.loads((REFERENCE_DIR / f"{name}.json").read_text())


def assert_close_outputs(ours, ref, atol: float = 1e-5) -> None:
    """Compare a tensor or a (nested) list of tensors within `atol`, shapes exactly."""
    if isinstance(ref, (list, tuple)):
        assert isinstance(ours, (list, tuple)), f"expected a list, got {type(ours)}"
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert_close_outputs(o, r, atol)
        return
    assert ours.shape == ref.shape, f"shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    err = (ours.detach().float() - ref).abs().max().item()
    assert err <= atol, f"max abs error {err:.3g} > {atol}"


@pytest.fixture
def fixture_loader():
    return load_fixture
