"""ONNX export of the composed model: dynamic batch/height/width, checked against PyTorch."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def test_export_composed_model_via_cli(tmp_path):
    import onnx
    import onnxruntime as ort

    from blur2blur.cli import app
    from blur2blur.inference import restore
    from blur2blur.models import create_model, load_checkpoint, save_checkpoint
    from blur2blur.models.composed import ComposedDeblurrer

    torch.manual_seed(0)
    g = create_model("b2b_translator", num_res=1, base_channel=8)
    d = create_model("nafnet", width=8, enc_blk_nums=[1], middle_blk_num=1, dec_blk_nums=[1])
    run = tmp_path / "run"
    save_checkpoint(ComposedDeblurrer.from_parts(g, d), run / "blur2blur.safetensors")
    res = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 0, res.output
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["size_multiple"] == "4"
    # A size the example never had, through the documented padding: equal to restore().
    x = torch.rand(1, 3, 40, 52)
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"image": x.numpy()})[0]
    ref = restore(load_checkpoint(run / "blur2blur.safetensors"), x)
    torch.testing.assert_close(torch.from_numpy(got), ref, rtol=0, atol=1e-4)
    # The same export again: done, success, the file untouched; another model into it: refused.
    before = (tmp_path / "m.onnx").stat().st_mtime_ns
    res = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 0 and "nothing to do" in res.output, res.output
    assert (tmp_path / "m.onnx").stat().st_mtime_ns == before
    save_checkpoint(d, tmp_path / "d.safetensors")
    res = CliRunner().invoke(app, ["export", "--model", str(tmp_path / "d.safetensors"),
                                   "--out", str(tmp_path / "m.onnx")])
    assert res.exit_code == 2 and "refusing to overwrite" in res.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.onnx")]  # no temporary left behind
