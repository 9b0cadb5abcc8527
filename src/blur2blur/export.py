"""Export a deblurring model (e.g. the composed D'(G(x))) to ONNX with dynamic height and width.

The graph takes (N, 3, H, W) in [0, 1] with H and W multiples of the model's size rule (the
file's metadata ``size_multiple`` says which; pad right/bottom with reflection and crop back,
as :func:`blur2blur.inference.restore` does) and returns the full-scale output clamped to
[0, 1]. Padding is left out of the graph because traced padding arithmetic gets specialised to
the example size. :func:`export_onnx` checks the file against PyTorch with onnxruntime on two
sizes before returning.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from blur2blur.inference import _size_rule


class _FullScale(nn.Module):
    """model -> its full-scale output (multi-scale networks) -> clamp to [0, 1]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        if isinstance(y, (list, tuple)):
            y = y[-1]
        return y.clamp(0, 1)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, opset: int = 18, atol: float = 1e-4,
                overwrite: bool = False, source_sha256: str | None = None) -> Path:
    """Write `model` as ONNX to `path` (input "image", output "deblurred"; N, H, W dynamic) and verify it.

    The file's metadata records ``size_multiple``, ``opset`` and, when given, ``source_sha256`` (the
    weight file it came from: a rerun can tell its own result, see :func:`onnx_metadata`). The file
    appears only once verified. Raises ValueError when onnxruntime's output differs from PyTorch's
    by more than `atol`.
    """
    from blur2blur.fileio import atomic_path

    import onnx
    import onnxruntime as ort

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite it")
    multiple = max(_size_rule(model)[0], 1)
    m = multiple if multiple > 1 else 8  # a step for the symbolic sizes even when any size works
    wrapper = _FullScale(model.eval().cpu()).eval()
    example = torch.rand(2, 3, 8 * m, 9 * m)
    dims = {0: torch.export.Dim("batch", min=1, max=1024),
            2: m * torch.export.Dim("h", min=1, max=16384 // m), 3: m * torch.export.Dim("w", min=1, max=16384 // m)}
    with atomic_path(path, suffix=".onnx") as tmp:
        torch.onnx.export(wrapper, (example,), str(tmp), input_names=["image"], output_names=["deblurred"],
                          opset_version=opset, dynamic_shapes={"x": dims}, dynamo=True)
        proto = onnx.load(str(tmp))
        props = {"size_multiple": str(m), "producer": "blur2blur", "opset": str(opset)}
        if source_sha256:
            props["source_sha256"] = source_sha256
        onnx.helper.set_model_props(proto, props)
        onnx.save(proto, str(tmp))  # weights inline: one self-contained file
        # The exporter may have put the weights in a side file named after the temporary; now unused.
        Path(f"{tmp}.data").unlink(missing_ok=True)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        for n, h, w in ((1, 6 * m, 11 * m), (3, 13 * m, 7 * m)):
            x = torch.rand(n, 3, h, w)
            with torch.no_grad():
                ref = wrapper(x).numpy()
            got = session.run(None, {"image": x.numpy()})[0]
            if got.shape != ref.shape:
                raise ValueError(f"{path}: ONNX output shape {got.shape} differs from PyTorch's {ref.shape}")
            err = float(abs(got - ref).max())
            if err > atol:
                raise ValueError(f"{path}: ONNX output differs from PyTorch at {h}x{w} (max error {err:.2e})")
    return path


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata properties of an ONNX file (empty when the file is not ONNX)."""
    import onnx

    try:
        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # any unreadable file: not one of ours
        return {}


__all__ = ["export_onnx", "onnx_metadata"]
