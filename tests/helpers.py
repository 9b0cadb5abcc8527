"""Helpers shared by several test modules: small data sets, a video, a free port, a quiet training loop,
a toy trainer, the CLI in-process and the tiny presets' command-line settings."""

from __future__ import annotations

import socket

import torch
from torch import nn
from torch.utils.data import Dataset
from typer.testing import CliRunner

from blur2blur.data.images import read_image, write_image
from blur2blur.data.pairs import find_pairs
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.data.video import VideoWriter
from blur2blur.seeding import generator
from blur2blur.train.loop import LoopConfig, Runtime, Trainer
from blur2blur.train.schedules import constant_then_linear


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


FOOTAGE_PLAN = [("erase__alpaca.webp", False), ("erase__alpaca.webp", True), ("erase__camels.webp", True),
                ("erase__cheetah.webp", False)]
FOOTAGE_STRETCH = 12  # frames per (photo, blurred?) of FOOTAGE_PLAN
FOOTAGE_LUCKY = 18    # a frame of the first blurry stretch left sharp


def make_footage(path):
    """A 48-frame 256x192 clip panning over bundled photos; returns ``truth``, True where frame i is blurred.

    Per stretch of 12 frames (:data:`FOOTAGE_PLAN`): a sharp and a blurry stretch of one continuous pan (no
    cut between them), then a blurry and a sharp scene after cuts. Blur: a line kernel of 9-15 px at a
    random angle, in linear light; frame :data:`FOOTAGE_LUCKY` of the blurry pan is left sharp."""
    from blur2blur.assets import demo_photos

    photos = {p.name: p for p in demo_photos()}
    g = torch.Generator().manual_seed(0)
    truth = []
    with VideoWriter(path, 12, 256, 192) as vw:
        for name, blurred in FOOTAGE_PLAN:
            photo = read_image(photos[name])[0]
            for _ in range(FOOTAGE_STRETCH):
                i = len(truth)
                frame = photo[:, 48:240, 4 * i % 200:][:, :, :256]  # panning 4 px a frame
                if blurred and i != FOOTAGE_LUCKY:
                    length = 9 + 2 * int(torch.randint(4, (1,), generator=g))
                    kernel = motion_kernel(length, float(torch.rand((), generator=g) * 180), 0.0)
                    frame = blur_with_kernels(frame[None], kernel[None], gamma=2.2)[0]
                vw.write(frame)
                truth.append(blurred and i != FOOTAGE_LUCKY)
    return truth


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a DDP rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoisyLine(Dataset):
    """Sample n: x ~ N(0, 1) in R^4, y = w.x + noise, all from generator(seed, n)."""

    def __len__(self):
        return 64

    def __getitem__(self, n):
        g = generator(7, n)
        x = torch.randn(4, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn((), generator=g)
        return {"x": x, "y": y[None], "index": torch.tensor(n)}


class ToyTrainer(Trainer):
    def __init__(self, runtime: Runtime, nan_at: int | None = None, dropout: float = 0.0, hold: int = 5,
                 decay: int = 10):
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Dropout(dropout), nn.Linear(8, 1))
        self.model = runtime.prepare(self.net)
        self.nets = {"net": self.net}
        self.optimizers = {"net": torch.optim.Adam(self.net.parameters(), lr=0.05)}
        self.schedules = {"net": constant_then_linear(hold, decay)}
        self.dataset = NoisyLine()
        self.nan_at = nan_at
        self.seen: list[int] = []

    def train_step(self, batch, step):
        self.seen += batch["index"].tolist()
        loss = ((self.model(batch["x"]) - batch["y"]) ** 2).mean()
        if self.nan_at is not None and step.step == self.nan_at:
            loss = loss * float("nan")
        step.optimize(loss, "net")
        return {"loss": loss.detach()}

    def evaluate(self):
        x = torch.eye(4)
        return {"w_error": float((self.net(x) - self.net(torch.zeros(1, 4))).flatten().sub(
            torch.tensor([1.0, -2.0, 0.5, 3.0])).abs().mean())}


def toy_loop(**kw) -> LoopConfig:
    """The toy runs' loop: 8 quiet steps, a checkpoint every 4; `kw` overrides any field."""
    return quiet_loop(**{"steps": 8, "checkpoint_every": 4, **kw})


def weights_of(trainer: Trainer) -> dict[str, torch.Tensor]:
    """A copy of a :class:`ToyTrainer`'s weights."""
    return {k: v.clone() for k, v in trainer.net.state_dict().items()}


def cli(*args):
    """`blur2blur ARGS...` in-process (arguments may be paths); the typer test result."""
    from blur2blur.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


# `extractor train --preset tiny`, cut to a CPU-sized extractor.
EXTRACTOR_TINY = ["--preset", "tiny", "--set", "arch.nf=8", "--set", "arch.kernel_dim=16", "--set", "arch.front_RBs=1",
                "--set", "arch.back_RBs=1", "--set", "loop.batch_size=2", "--set", "loop.num_workers=0",
                "--set", "val_size=128", "--set", "loop.tensorboard=false", "--set", "loop.eval_every=0",
                 "--set", "loop.log_every=1"]

# `fit --preset tiny`, every stage cut to 2 steps and CPU-sized networks.
FIT_TINY = ["--preset", "tiny"]
for part in ("extractor", "deblurrer", "translator"):
    FIT_TINY += ["--set", f"{part}.loop.steps=2", "--set", f"{part}.loop.num_workers=0", "--set",
                 f"{part}.loop.batch_size=2", "--set", f"{part}.loop.tensorboard=false"]
FIT_TINY += ["--set", "extractor.arch.nf=8", "--set", "extractor.arch.kernel_dim=16",
             "--set", "extractor.val_size=128", "--set", "deblurrer.crop=64", "--set", "deblurrer.val_size=64",
             "--set", "translator.vgg_weights=random", "--set", "translator.crop=96", "--set", "translator.d_warmup=1",
             "--set", "translator.disc_ndf=8",
             "--set", "translator.arch_args={num_res: 1, base_channel: 8}"]
