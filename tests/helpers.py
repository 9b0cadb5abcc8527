"""Helpers shared by several test modules: small data sets, a video, a free port, a quiet training loop."""

from __future__ import annotations

import socket

import torch

from blur2blur.data.images import read_image, write_image
from blur2blur.data.pairs import find_pairs
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.data.video import VideoWriter
from blur2blur.train.loop import LoopConfig


def quiet_loop(steps: int, **kw) -> LoopConfig:
    """A CPU training loop for tests: batch 4, no workers, no checkpoints within the run, no evaluation,
    images, TensorBoard or progress bar; `kw` overrides any field."""
    base = dict(steps=steps, batch_size=4, num_workers=0, log_every=1, checkpoint_every=1000, eval_every=0,
                image_every=0, tensorboard=False, progress=False)
    return LoopConfig(**{**base, **kw})


def write_blur_pairs(root, photos, size=192, length=21):
    """(blur/, sharp/) crops of the bundled photos, blurred by one horizontal line kernel."""
    kernel = motion_kernel(length, 0.0, 0.0)[None]
    for p in photos:
        sharp = read_image(p)[0][:, :size, :size]
        write_image(sharp, root / "sharp" / f"{p.stem}.png")
        write_image(blur_with_kernels(sharp[None], kernel)[0], root / "blur" / f"{p.stem}.png")
    return find_pairs(root, "folders")


def make_video(path, n=6, h=48, w=64, fps=12):
    """An `n`-frame video whose frames differ (a bar that grows), at `fps`."""
    with VideoWriter(path, fps, w, h) as vw:
        for i in range(n):
            frame = torch.zeros(3, h, w)
            frame[:, :, : (i + 1) * w // n] = 0.8  # a bar that grows: frames are told apart
            vw.write(frame)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a DDP rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
