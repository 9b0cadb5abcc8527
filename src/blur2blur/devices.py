"""Device choice: the one rule for which device runs a model when the user names none, and the one check
that a named device exists here."""

from __future__ import annotations

import torch


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


__all__ = ["check_device", "pick_device"]
