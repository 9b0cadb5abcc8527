"""Training the known-domain deblurrer D' on known-blur pairs, for users without official weights.

Each architecture is trained the way its own paper does:

* NAFNet: PSNR loss, AdamW (1e-3, betas 0.9/0.9, no weight decay), cosine annealing to 1e-7
  over 200K steps, batch 32 of 256x256 crops (GoPro recipe of the NAFNet repository);
* Restormer: L1 loss, AdamW (3e-4, betas 0.9/0.999, weight decay 1e-4), cosine annealing to
  1e-6 over 300K steps, batch 8 of 256x256 crops (fixed-size variant of its progressive recipe);
* MIMO-UNet: L1 + 0.1 FFT loss at the three output scales, Adam 1e-4, batch 4 of 256 crops.

Held-out pairs are scored with PSNR before (the blurry input) and after deblurring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from blur2blur.config import limits
from blur2blur.data.datasets import PairCrops
from blur2blur.data.pairs import BlurPair
from blur2blur.inference import restore
from blur2blur.losses import multiscale_content_loss, psnr_loss
from blur2blur.evaluate import gain_summary, paired_crop_psnrs
from blur2blur.models import create_model
from blur2blur.models.registry import MULTISCALE, spec_of
from blur2blur.train.loop import LoopConfig, Runtime, StepContext, Trainer, seed_initialisation
from blur2blur.train.schedules import cosine_restarts
from blur2blur.train.translator import input_scales

NAFNET_GOPRO = {"width": 32, "enc_blk_nums": [1, 1, 1, 28], "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}


@dataclass
class DeblurrerConfig:
    arch: Literal["nafnet", "restormer", "mimo_unet", "mimo_unet_plus"] = "nafnet"
    arch_args: dict[str, Any] = field(default_factory=lambda: dict(NAFNET_GOPRO))
    loss: Literal["psnr", "l1", "multiscale"] = "psnr"
    crop: int = field(default=256, metadata=limits(minimum=1))
    lr: float = field(default=1e-3, metadata=limits(above=0))
    betas: tuple[float, float] = (0.9, 0.9)
    weight_decay: float = field(default=0.0, metadata=limits(minimum=0))
    optimizer: Literal["adam", "adamw"] = "adamw"
    eta_min: float = field(default=1e-7, metadata=limits(minimum=0))
    val_max_pairs: int = field(default=32, metadata=limits(minimum=0))
    val_size: int = field(default=256, metadata=limits(minimum=1))
    sharp_mode: str = "middle"
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=200_000, batch_size=32, checkpoint_every=5_000, eval_every=5_000, image_every=5_000))


def nafnet_config() -> DeblurrerConfig:
    return DeblurrerConfig()


def restormer_config() -> DeblurrerConfig:
    return DeblurrerConfig(arch="restormer", arch_args={}, loss="l1", lr=3e-4, betas=(0.9, 0.999),
                           weight_decay=1e-4, eta_min=1e-6,
                           loop=LoopConfig(steps=300_000, batch_size=8, checkpoint_every=5_000, eval_every=5_000,
                                           image_every=5_000))


def mimo_config() -> DeblurrerConfig:
    return DeblurrerConfig(arch="mimo_unet", arch_args={}, loss="multiscale", lr=1e-4, betas=(0.9, 0.999),
                           optimizer="adam", eta_min=1e-6,
                           loop=LoopConfig(steps=300_000, batch_size=4, checkpoint_every=5_000, eval_every=5_000,
                                           image_every=5_000))


def tiny_config() -> DeblurrerConfig:
    """A small NAFNet for CPU tests and the demo (the size of the bundled sample deblurrer)."""
    return DeblurrerConfig(arch_args={"width": 16, "enc_blk_nums": [1, 1, 1, 2], "middle_blk_num": 1,
                                      "dec_blk_nums": [1, 1, 1, 1]}, crop=128,
                           loop=LoopConfig(steps=3000, batch_size=8, num_workers=1, log_every=10,
                                           checkpoint_every=500, eval_every=500, image_every=500))


PRESETS = {"nafnet": nafnet_config, "restormer": restormer_config, "mimo_unet": mimo_config, "tiny": tiny_config}


@torch.no_grad()
def deblur_psnr(model: torch.nn.Module, pairs: Sequence[BlurPair], *, size: int | None = 256,
                device: torch.device | str = "cpu", sharp_mode: str = "middle") -> dict[str, float]:
    """Mean PSNR of the blurry inputs and of the deblurred outputs against the sharp images (centre
    crops of `size`), the gain, the share of pairs improved."""
    after, before = paired_crop_psnrs(
        model, pairs, lambda blurry, sharp: (restore(model, blurry[None].to(device))[0].cpu(), sharp, blurry),
        size=size, sharp_mode=sharp_mode)
    n = len(before)
    return {"psnr_blurry": sum(before) / n, "psnr_deblurred": sum(after) / n, **gain_summary(after, before)}


class DeblurrerTrainer(Trainer):
    """A deblurring network trained on aligned crops of known-blur pairs."""

    def __init__(self, cfg: DeblurrerConfig, train_pairs: Sequence[BlurPair], val_pairs: Sequence[BlurPair],
                 runtime: Runtime, model: torch.nn.Module | None = None):
        seed_initialisation(cfg.loop.seed)
        self.cfg, self.runtime, self.val_pairs = cfg, runtime, list(val_pairs)
        net = model if model is not None else create_model(cfg.arch, **cfg.arch_args)
        self.multiscale = spec_of(net).output == MULTISCALE
        if cfg.loss == "multiscale" and not self.multiscale:
            raise ValueError(f"loss 'multiscale' needs a multi-scale network; {cfg.arch} has one output")
        self.model, self.net = runtime.prepare(net), net
        self.nets = {"deblurrer": net}
        opt = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizers = {"deblurrer": opt(net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                            weight_decay=cfg.weight_decay)}
        self.schedules = {"deblurrer": cosine_restarts([cfg.loop.steps], eta_min_ratio=cfg.eta_min / cfg.lr)}
        self.dataset = PairCrops(train_pairs, cfg.crop, seed=cfg.loop.seed, sharp_mode=cfg.sharp_mode)
        self._last: dict[str, torch.Tensor] = {}

    def train_step(self, batch: dict[str, torch.Tensor], step: StepContext) -> dict[str, torch.Tensor]:
        blurry, sharp = batch["blurry"], batch["sharp"]
        with step.autocast():
            out = self.model(blurry)
            if self.cfg.loss == "multiscale":
                loss = multiscale_content_loss([o.float() for o in out], input_scales(sharp, len(out)))
            else:
                final = (out[-1] if self.multiscale else out).float()
                loss = psnr_loss(final, sharp) if self.cfg.loss == "psnr" else torch.nn.functional.l1_loss(final,
                                                                                                       sharp)
        step.optimize(loss, "deblurrer")
        final = (out[-1] if self.multiscale else out).detach()
        self._last = {"blurry": blurry[:4].detach(), "deblurred": final[:4].clamp(0, 1), "sharp": sharp[:4]}
        return {"loss": loss.detach()}

    def evaluate(self) -> dict[str, float]:
        if not self.val_pairs:
            return {}
        return deblur_psnr(self.net, self.val_pairs[:self.cfg.val_max_pairs], size=self.cfg.val_size,
                           device=self.runtime.device, sharp_mode=self.cfg.sharp_mode)

    def sample_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self._last


__all__ = ["PRESETS", "DeblurrerConfig", "DeblurrerTrainer", "deblur_psnr"]
