"""Training the blur-kernel extractor F (KernelWizard) on known-blur (blurry, sharp) pairs.

The recipe of Tran et al. (CVPR 2021, ``options/kernel_encoding/GOPRO/woVAE.yml``): aligned
256x256 crops with the same random flip/rotation on both images; the network encodes the blur
of (sharp, blurry) and re-blurs the sharp crop with it; Charbonnier loss between that and the
true blurry crop, plus a KL term for the VAE variant; Adam (1e-4, betas 0.9/0.99), cosine
annealing with restarts over 600K steps at batch 16.

Differences from the official code, each for a reason:

* losses are means over pixels, not sums: the same learning rate then works at any crop
  size. The KL term is divided by the same pixel count, so its balance with the pixel loss
  (``kl_weight``) is the official one;
* the last layer of the re-blurring trunk starts at zero, so an untrained extractor outputs
  the sharp image itself (the identity baseline) instead of noise;
* held-out pairs (whole scenes) measure the extractor's own metric during training: PSNR of
  the re-blurred image against the true blurry one, next to the identity baseline
  PSNR(sharp, blurry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from blur2blur.config import limits
from blur2blur.data.datasets import PairCrops
from blur2blur.data.pairs import BlurPair
from blur2blur.evaluate import gain_summary, paired_crop_psnrs
from blur2blur.models import create_model
from blur2blur.models.kernel_wizard import KernelWizard
from blur2blur.train.loop import LoopConfig, Runtime, StepContext, Trainer, seed_initialisation
from blur2blur.train.schedules import cosine_restarts


@dataclass
class ExtractorArch:
    """KernelWizard size (official option names; the defaults are the released GoPro model)."""

    nf: int = 64
    front_RBs: int = 10
    back_RBs: int = 20
    kernel_dim: int = 512
    use_vae: bool = False
    n_blocks: int = 4  # ResNet blocks of the kernel extractor (0 allows crops below 129 px)

    def model_kwargs(self) -> dict:
        args = asdict(self)
        n_blocks = args.pop("n_blocks")
        return {**args, "KernelExtractor": {"n_blocks": n_blocks}}


@dataclass
class ExtractorConfig:
    """Everything `blur2blur extractor train` needs; the defaults are the extractor paper's recipe."""

    arch: ExtractorArch = field(default_factory=ExtractorArch)
    crop: int = field(default=256, metadata=limits(minimum=1))
    flip: bool = True
    rotate: bool = True
    lr: float = field(default=1e-4, metadata=limits(above=0))
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = field(default=0.0, metadata=limits(minimum=0))
    periods: list[int] = field(default_factory=lambda: [50_000, 100_000, 150_000, 150_000, 150_000])
    eta_min: float = field(default=1e-8, metadata=limits(minimum=0))
    charbonnier_eps: float = field(default=1e-6, metadata=limits(above=0))  # inside the square root: sqrt(d^2 + eps)
    kl_weight: float = field(default=0.0, metadata=limits(minimum=0))       # the official VAE recipe uses 10
    zero_init_reblur: bool = True
    val_fraction: float = field(default=0.1, metadata=limits(minimum=0, below=1))  # scenes held out (0: none)
    val_max_pairs: int = field(default=32, metadata=limits(minimum=0))
    val_size: int = field(default=256, metadata=limits(minimum=1))          # centre crop of each held-out pair
    sharp_mode: str = "middle"     # RB2V sharp sequences: middle frame or average
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=600_000, batch_size=16, checkpoint_every=5_000, eval_every=5_000, image_every=5_000))


def tiny_config() -> ExtractorConfig:
    """A CPU-sized configuration for tests and the demo (minutes, not days)."""
    # 128-pixel crops give a 1x1 kernel map: enough for the demo's uniform blur, and with no
    # ResNet blocks in the kernel branch (n_blocks=0) the extractor accepts them.
    return ExtractorConfig(
        arch=ExtractorArch(nf=16, front_RBs=2, back_RBs=2, kernel_dim=64, n_blocks=0),
        crop=128, lr=1e-3, periods=[1500], eta_min=1e-6, val_size=256,
        loop=LoopConfig(steps=1500, batch_size=8, num_workers=1, log_every=10, checkpoint_every=250,
                        eval_every=250, image_every=250))


PRESETS = {"paper": ExtractorConfig, "tiny": tiny_config}


# ----------------------------------------------------------------------------- losses


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean of ``sqrt((pred - target)^2 + eps)`` (a smooth L1), scalar."""
    return torch.sqrt((pred - target) ** 2 + eps).mean()


def kernel_kl(mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The official VAE term, summed: ``sum(mean^2 + sigma^2 - log(sigma^2) - 1)`` (no 1/2 factor)."""
    return (mean ** 2 + sigma ** 2 - torch.log(1e-8 + sigma ** 2) - 1).sum()


# ----------------------------------------------------------------------------- metric


@torch.no_grad()
def reblur_psnr(extractor: KernelWizard, pairs: Sequence[BlurPair], *, size: int | None = 256,
                device: torch.device | str = "cpu", sharp_mode: str = "middle") -> dict[str, float]:
    """The extractor's own metric on (blurry, sharp) pairs.

    For each pair (centre crop of `size`, None for the whole image): PSNR of
    ``apply(sharp, encode(sharp, blurry))`` against ``blurry``, and the identity baseline
    PSNR(sharp, blurry). Returns the means, the gain and the share of pairs improved.
    """
    def produce(blurry: torch.Tensor, sharp: torch.Tensor):
        b, s = blurry[None].to(device), sharp[None].to(device)
        mean, _ = extractor.encode_padded(s, b)  # the mean kernel: the metric should not be random
        return extractor.apply_kernel_padded(s, mean).clamp(0, 1)[0].cpu(), blurry, sharp

    reblur, identity = paired_crop_psnrs(extractor, pairs, produce, size=size, sharp_mode=sharp_mode)
    n = len(reblur)
    return {"reblur_psnr": sum(reblur) / n, "identity_psnr": sum(identity) / n, **gain_summary(reblur, identity)}


# ----------------------------------------------------------------------------- trainer


def build_extractor(arch: ExtractorArch, zero_init_reblur: bool = True) -> KernelWizard:
    net = create_model("kernel_wizard", **arch.model_kwargs())
    if zero_init_reblur:
        last = net.recon_trunk[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return net


class ReblurNet(nn.Module):
    """encode + apply in one forward, so that DDP sees every parameter used inside ``forward``."""

    def __init__(self, wizard: KernelWizard, sample: bool):
        super().__init__()
        self.wizard, self.sample = wizard, sample

    def forward(self, sharp: torch.Tensor, blurry: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mean, sigma = self.wizard.encode(sharp, blurry)
        kernel = self.wizard.sample_kernel(mean, sigma) if self.sample else mean
        return self.wizard.apply_kernel(sharp, kernel), mean, sigma


class ExtractorTrainer(Trainer):
    """KernelWizard trained to re-blur sharp crops into their blurry partners."""

    def __init__(self, cfg: ExtractorConfig, train_pairs: Sequence[BlurPair], val_pairs: Sequence[BlurPair],
                 runtime: Runtime, extractor: KernelWizard | None = None):
        seed_initialisation(cfg.loop.seed)
        self.cfg, self.runtime, self.val_pairs = cfg, runtime, list(val_pairs)
        net = extractor if extractor is not None else build_extractor(cfg.arch, cfg.zero_init_reblur)
        if cfg.crop < net.min_encode_size or cfg.crop % 128:
            raise ValueError(f"crop {cfg.crop} must be a multiple of 128 and at least {net.min_encode_size} "
                             f"for this extractor (n_blocks={cfg.arch.n_blocks})")
        self.extractor = net
        self.model = runtime.prepare(ReblurNet(net, sample=cfg.arch.use_vae))
        self.nets = {"extractor": net}
        self.optimizers = {"extractor": torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                                         weight_decay=cfg.weight_decay)}
        self.schedules = {"extractor": cosine_restarts(cfg.periods, eta_min_ratio=cfg.eta_min / cfg.lr)}
        self.dataset = PairCrops(train_pairs, cfg.crop, seed=cfg.loop.seed, flip=cfg.flip, rotate=cfg.rotate,
                                 sharp_mode=cfg.sharp_mode)
        self._last: dict[str, torch.Tensor] = {}

    def train_step(self, batch: dict[str, torch.Tensor], step: StepContext) -> dict[str, torch.Tensor]:
        sharp, blurry = batch["sharp"], batch["blurry"]
        with step.autocast():
            fake, mean, sigma = self.model(sharp, blurry)
            pix = charbonnier(fake.float(), blurry, self.cfg.charbonnier_eps)
            loss = pix
            # The same loss for "no blur at all": the extractor is useful once it stays below this.
            identity = charbonnier(sharp, blurry, self.cfg.charbonnier_eps)
            out = {"loss_pix": pix.detach(), "loss_identity": identity.detach()}
            if self.cfg.arch.use_vae and self.cfg.kl_weight:
                kl = self.cfg.kl_weight * kernel_kl(mean.float(), sigma.float()) / blurry.numel()
                loss = loss + kl
                out["loss_kl"] = kl.detach()
        step.optimize(loss, "extractor")
        self._last = {"sharp": sharp[:4].detach(), "blurry": blurry[:4].detach(), "reblurred": fake[:4].detach()}
        return out

    def evaluate(self) -> dict[str, float]:
        if not self.val_pairs:
            return {}
        return reblur_psnr(self.extractor, self.val_pairs[: self.cfg.val_max_pairs], size=self.cfg.val_size,
                           device=self.runtime.device, sharp_mode=self.cfg.sharp_mode)

    def sample_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self._last


__all__ = [
    "PRESETS",
    "ExtractorArch",
    "ExtractorConfig",
    "ExtractorTrainer",
    "build_extractor",
    "charbonnier",
    "kernel_kl",
    "reblur_psnr",
    "tiny_config",
]
