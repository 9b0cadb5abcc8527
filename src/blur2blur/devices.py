"""Device and precision choice: the one rule for which device runs a model when the user names none, the
one check that a named device exists here, and the one rule for the arithmetic precision inference runs in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def check_device(requested: str) -> torch.device:
    """The device `requested` names ("cpu", "cuda", "cuda:1", "mps").

    Raises ValueError (naming the device) for a name torch does not know or a device this
    machine or torch build does not have.
    """
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ValueError(f"unknown device {requested!r}; use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()  # 0 on a CPU build or a machine without a usable GPU
        if count == 0:
            raise ValueError(f"device {requested!r}: CUDA is not available (this torch build or machine "
                             "has no usable GPU); use --device cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {requested!r}: this machine has {count} GPU(s)")
    elif device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise ValueError(f"device {requested!r}: MPS is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"device {requested!r} is not supported; use cpu, cuda, cuda:N or mps")
    return device


def pick_device(requested: str | None = None, *, local_rank: int | None = None, mps: bool = True) -> torch.device:
    """`requested` if given ("cpu", "cuda", "cuda:1", "mps"), else the best available device.

    CUDA first (with `local_rank`, as under torchrun: that process's own GPU, by index), then Apple's mps where
    `mps` allows it, else the CPU. Training passes ``mps=False``: the training loop's AMP and DDP
    are written for CUDA and CPU, and training on mps is untested.

    A `requested` device goes through :func:`check_device`: ValueError, naming it, for an unknown
    name or a device this machine does not have.
    """
    if requested:
        device = check_device(requested)
        if device.type == "cuda" and device.index is None and local_rank is not None:
            # "--device cuda" in training: this process's GPU, as with no device given. torch.cuda.set_device
            # and DDP's device_ids need an index; a bare "cuda" raised ValueError before training.
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        return device
    if torch.cuda.is_available():
        if local_rank is None:
            return torch.device("cuda")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if mps and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# ----------------------------------------------------------------------------- precision

# What `--precision` accepts. Half precision means autocast, not casting the model and input: under
# autocast convolutions and matmuls run in bf16/fp16 while layer norms, softmax and the residual sums
# stay in fp32, so the input image, which NAFNet and MIMO-UNet add back to their output, keeps its
# 24-bit significand. Measured on CPU (bf16, the sample deblurrer on the three bundled examples), the
# outputs differ from fp32 by 62-64 dB PSNR under autocast and by 55-59 dB when the model and input are cast
# (the cast loses most in the input skip); autocast also needs no bf16 copy of the weights (BENCHMARKS.md).
PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# The rule for the CUDA default: half precision only for an architecture whose outputs stay within this
# many dB PSNR of fp32 (issue 17).
HALF_PRECISION_MAX_DB = 0.05

# Architectures that meet the rule, measured with bf16 autocast on CPU (torch 2.13, one thread) by
# `python benchmarks/precision.py` (table in BENCHMARKS.md, "Half precision"); the GPU's bf16 kernels are
# not measured yet. Worst PSNR loss over the bundled examples (the sample deblurrer: measured against the
# sharp originals) and each architecture's reference fixtures (synthetic weights, no sharp image: the loss
# their bf16 error would cause for an output 35 dB from its sharp image, better than any released model):
#   nafnet          0.0021 dB examples, 0.0100 dB fixtures
#   nafnet_local    0.0102 dB fixtures
#   mimo_unet       0.0026 dB fixtures
#   mimo_unet_plus  0.0072 dB fixtures
#   b2b_translator  0.0028 dB fixtures (Blur2Blur's G, a MIMO-UNet)
#   restormer       0.0739 dB fixtures (dual-pixel, bias-free): over the bound, stays fp32. The attention
#                   in fp32 would bring it to 0.041 dB (measured); not done: thin margin, model code change.
# "blur2blur" is the composed D'(G(x)) wrapper, no layers of its own: it qualifies when both parts do
# (pick_precision checks every registered network inside a model). Not measured, so fp32: the other
# translators (nafnet_translator, unet_translator, cyclegan/dualgan generators), kernel_wizard.
HALF_PRECISION_SAFE: frozenset[str] = frozenset({"nafnet", "nafnet_local", "mimo_unet", "mimo_unet_plus",
                                                  "b2b_translator", "blur2blur"})


def architectures_in(model: nn.Module) -> set[str]:
    """The registered architecture names of `model` and of every registered network inside it
    (a composed D'(G(x)): ``{"blur2blur", "b2b_translator", "nafnet"}``)."""
    return {name for m in model.modules() if (name := getattr(m, "arch_name", None))}


def pick_precision(requested: str | None, device: torch.device, model: nn.Module | None = None) -> str:
    """The precision inference runs in: "fp32", "bf16" or "fp16".

    `requested` if given (ValueError for another name, or bf16 on a GPU without bf16). Otherwise bf16
    on a CUDA device that has it when every architecture in `model` is in :data:`HALF_PRECISION_SAFE`
    (half the memory traffic, within :data:`HALF_PRECISION_MAX_DB` of fp32), else fp32. On the CPU and
    mps fp32 stays the default (issue 17: half precision is a GPU default; nothing was measured on mps);
    bf16 and fp16 run there when asked for (CPU autocast has both). fp16 is never a default: its range
    (65504) can overflow where bf16, with fp32's range, cannot.
    """
    device = torch.device(device)
    if requested is not None:
        if requested not in PRECISIONS:
            raise ValueError(f"unknown precision {requested!r}; use {', '.join(PRECISIONS)}")
        if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"device {device}: this GPU has no bf16; use --precision fp16 or fp32")
        return requested
    if device.type != "cuda" or model is None or not torch.cuda.is_bf16_supported():
        return "fp32"
    archs = architectures_in(model)
    return "bf16" if archs and archs <= HALF_PRECISION_SAFE else "fp32"


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """Run the block's forward passes on `device` in `precision` (autocast for bf16/fp16; see :data:`PRECISIONS`).

    Tensors made inside may be bf16/fp16: callers convert results with ``.float()``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision == "fp32":
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=PRECISIONS[precision]):
        yield


__all__ = ["HALF_PRECISION_MAX_DB", "HALF_PRECISION_SAFE", "PRECISIONS", "architectures_in", "check_device",
           "pick_device", "pick_precision", "precision_context"]
