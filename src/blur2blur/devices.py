"""Device choice: the one rule for which device runs a model when the user names none."""

from __future__ import annotations

import torch


def pick_device(requested: str | None = None, *, local_rank: int | None = None, mps: bool = True) -> torch.device:
    """`requested` if given ("cpu", "cuda", "cuda:1", "mps"), else the best available device.

    CUDA first (with `local_rank`, as under torchrun: that process's own GPU, by index), then Apple's mps where
    `mps` allows it, else the CPU. Training passes ``mps=False``: the training loop's AMP and DDP
    are written for CUDA and CPU, and training on mps is untested.
    """
    if requested:
        device = torch.device(requested)
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


__all__ = ["pick_device"]
