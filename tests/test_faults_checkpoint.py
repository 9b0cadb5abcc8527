"""Damaged or lying weight files: refused with the file's name before anything is built or run."""

from __future__ import annotations

import json
import time

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from blur2blur.cli import app
from blur2blur.models import CheckpointError, create_model, load_any, load_checkpoint, save_checkpoint
from blur2blur.models import registry

runner = CliRunner()
TINY = {"width": 8, "enc_blk_nums": [1], "dec_blk_nums": [1], "middle_blk_num": 1}


def tiny_nafnet():
    torch.manual_seed(0)
    return create_model("nafnet", **TINY)


def write_with_header(path, model, header):
    tensors = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"blur2blur": json.dumps(header)})
    return path


# --------------------------------------------------------------------------- 2. non-finite weights


def test_nan_weights_are_refused_on_load_and_by_inspect(tmp_path):
    model = tiny_nafnet()
    with torch.no_grad():
        model.ending.weight[0, 0, 0, 0] = float("nan")
        model.intro.bias[1] = float("inf")
    path = save_checkpoint(model, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match=r"nan\.safetensors: 2 of \d+ tensors hold NaN or infinite values "
                                              r"\((intro\.bias, ending\.weight|ending\.weight, intro\.bias)\)"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_any(path)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1, result.output
    assert "2 tensor(s) hold NaN or infinite values" in result.output
    result = runner.invoke(app, ["deblur", "--example", "--out", str(tmp_path / "o"), "--model", str(path)])
    assert result.exit_code == 2 and "nan.safetensors" in result.output and not (tmp_path / "o").exists()


def test_nan_in_an_official_state_dict_is_refused(tmp_path):
    sd = tiny_nafnet().state_dict()
    sd["ending.bias"][0] = float("nan")
    torch.save({"params": sd}, tmp_path / "official.pth")
    with pytest.raises(CheckpointError, match=r"official\.pth: 1 of \d+ tensors .*\(ending\.bias\)"):
        load_any(tmp_path / "official.pth")


def test_healthy_files_still_load_and_inspect_cleanly(tmp_path):
    path = save_checkpoint(tiny_nafnet(), tmp_path / "ok.safetensors")
    assert load_checkpoint(path).arch_args == TINY
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0 and "problem" not in result.output


# --------------------------------------------------------------------------- 6. the header is checked first


def test_a_header_claiming_a_huge_width_is_refused_without_building_it(tmp_path, monkeypatch):
    path = write_with_header(tmp_path / "liar.safetensors", tiny_nafnet(),
                             {"format_version": 1, "arch": "nafnet", "args": {**TINY, "width": 999}, "info": {}})
    built = []
    monkeypatch.setattr(registry, "create_model", lambda *a, **k: built.append(a) or pytest.fail("built"))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"liar\.safetensors: the header says nafnet\(width=999.*"
                                              r"the tensors do not fit it:\n  shape differs"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 10 and built == []
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1 and "the tensors do not fit it" in result.output


@pytest.mark.parametrize("args, message", [
    ({**TINY, "bogus": 1}, r"cannot build the model \(TypeError: .*bogus"),
    ({**TINY, "width": "wide"}, r"cannot build the model"),
    ("not a mapping", r"'args' is not a mapping"),
])
def test_header_arguments_that_cannot_build_the_model_are_named(tmp_path, args, message):
    path = write_with_header(tmp_path / "bad.safetensors", tiny_nafnet(),
                             {"format_version": 1, "arch": "nafnet", "args": args, "info": {}})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: .*" + message):
        load_checkpoint(path)


def test_a_header_naming_an_unknown_architecture(tmp_path):
    path = write_with_header(tmp_path / "x.safetensors", tiny_nafnet(),
                             {"format_version": 1, "arch": "gpt9", "args": {}, "info": {}})
    with pytest.raises(CheckpointError, match=r"x\.safetensors: the header names architecture 'gpt9'"):
        load_checkpoint(path)
