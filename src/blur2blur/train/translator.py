"""Training the blur translator G (paper Sec. 3.2 and 4.1.1): the camera's blur -> the known blur.

One step: D learns to tell the known-blur crops K from G's outputs (adversarial loss plus the
gradient penalty, Eq. 4 and 7); then G learns to fool D while staying perceptually close to
its input at every output scale (Eq. 3, 5, 6). G starts as the identity (zero last layers),
so before it learns anything its output *is* the camera's image.

Signals that say whether training works (logged every step, evaluated on held-out crops):

* ``d_acc``: the discriminator's accuracy on K vs G(B). Stuck near 0.5, D cannot tell the
  sets apart and G has no target; ``d_warmup`` steps train D alone with G at the identity
  first (a CPU-scale trial failed exactly there without it);
* ``drift_psnr``: PSNR(G(y), y). It falls as G changes images; a fast fall with a silent D
  means the reconstruction term, not the blur, is steering G.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from blur2blur.config import limits
from blur2blur.data.curriculum import Curriculum
from blur2blur.data.datasets import UnpairedCrops
from blur2blur.data.images import read_image
from blur2blur.losses import (PerceptualLoss, blur_profile_loss, direction_keep_loss, discriminator_loss,
                             generator_adv_loss, gradient_penalty)
from blur2blur.metrics import capped_psnr
from blur2blur.models import create_model
from blur2blur.ops import centre_crop
from blur2blur.train.loop import LoopConfig, Runtime, StepContext, Trainer, list_checkpoints, seed_initialisation
from blur2blur.train.schedules import constant_then_linear


# Held-out K-vs-B accuracy below this after the warm-up: the discriminator is (near) chance.
CHANCE_ACCURACY = 0.6
# Held-out PSNR(G(y), y) at or above this (dB): G changes its input by a tenth of a grey level (RMS) or
# less, i.e. it still is the identity it started as (issue 13's rule; runs whose D had no signal logged
# 57-100 dB; G translating a blur moves it to 30-45 dB, BENCHMARKS.md "Does the translator learn?").
IDENTITY_DRIFT_DB = 60.0


@dataclass
class TranslatorConfig:
    """The paper's settings are the defaults; the reference code's variants are options."""

    # b2b_filter_translator: G predicts a blur filter per pixel (models/filter_translator.py; not the paper's)
    arch: Literal["b2b_translator", "b2b_filter_translator", "unet_translator", "nafnet_translator"] = "b2b_translator"
    arch_args: dict[str, Any] = field(default_factory=dict)
    disc_ndf: int = field(default=64, metadata=limits(minimum=1))
    # D's stride-2 layers: 3 is the paper's 70-pixel PatchGAN; 2 and 1 see 34 and 16 pixels. Blur is local, while
    # a wide view also shows what the scene is: with few scenes D may learn those instead (BENCHMARKS.md).
    disc_layers: int = field(default=3, metadata=limits(minimum=1, maximum=5))
    # What D sees: the image (the paper's PatchGAN), or the image and its blur's local autocorrelation
    # (models.discriminator.BlurStatisticsDiscriminator), which tells blurs apart from few images (BENCHMARKS.md)
    disc_features: Literal["image", "autocorrelation"] = "image"
    # How many of G's output scales D judges, finest first: 3 is the paper's (1/4, 1/2 and 1). One shared D
    # on the coarse scales, where a small blur difference is averaged away, learns the fine one slower
    # (BENCHMARKS.md, "What the discriminator needs"); G still gets the content term at every scale.
    disc_scales: int = field(default=3, metadata=limits(minimum=1, maximum=3))
    crop: int = field(default=256, metadata=limits(minimum=1))
    flip: bool = True
    rotate: bool = True
    color_jitter: float = 0.1                                # paper: rotation, flip and colour jitter
    adv_loss: Literal["log", "hinge", "lsgan"] = "log"       # reference code: hinge
    gp_between: Literal["input", "known"] = "input"          # paper: y and G(y); reference: K and G(y)
    lambda_grad: float = field(default=0.005, metadata=limits(minimum=0))  # reference code: 1e-4
    lambda_rec: float = field(default=0.8, metadata=limits(minimum=0))
    # The direction term (losses.direction_keep_loss) on the finest scale: G may remove detail along one
    # direction per tile, as a motion blur does, not in all of them. 0: off (the paper has no such term)
    lambda_direction: float = field(default=0.0, metadata=limits(minimum=0))
    # The blur-profile term (losses.blur_profile_loss) on the finest scale: G's outputs should have, as a set,
    # the known blur's autocorrelation along and across its path. 0: off (the paper has no such term)
    lambda_profile: float = field(default=0.0, metadata=limits(minimum=0))
    # VGG19 / VGG16 taps / multi-scale L1 / the offline low-pass content term (losses.lowpass_content_loss)
    perceptual: Literal["paper", "reference", "pixel", "lowpass"] = "paper"
    # lowpass: the low-pass, in finest-scale pixels; Charbonnier's smooth zone (0.5/255); the high band's rate
    # (the low band's: 1)
    content_sigma: float = field(default=4.0, metadata=limits(minimum=0))
    content_eps: float = field(default=0.002, metadata=limits(above=0))
    content_high_weight: float = field(default=0.2, metadata=limits(minimum=0))
    vgg_weights: str = "imagenet"                            # a path, or "random" (meaningless; tests only)
    lr: float = field(default=2e-4, metadata=limits(above=0))  # pix2pix defaults (the paper's G setting)
    d_lr: float | None = field(default=None, metadata=limits(above=0))  # the discriminator's rate; None: lr (paper)
    betas: tuple[float, float] = (0.5, 0.999)
    hold_steps: int = field(default=500_000, metadata=limits(minimum=0))
    decay_steps: int = field(default=500_000, metadata=limits(minimum=0))
    curriculum: bool = True
    curriculum_fraction: float = field(default=0.5, metadata=limits(above=0, maximum=1))
    curriculum_widen_at: int = field(default=200_000, metadata=limits(minimum=0))
    d_warmup: int = field(default=0, metadata=limits(minimum=0))
    val_images: int = field(default=16, metadata=limits(minimum=0))
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1_000_000, batch_size=16, checkpoint_every=5_000, eval_every=5_000, image_every=5_000))


def require_content_weights(cfg: TranslatorConfig, key: str = "perceptual") -> None:
    """Refuse before anything trains when `cfg`'s reconstruction term needs VGG weights it cannot get.

    The paper's and the reference's terms need ImageNet VGG19 / VGG16 weights: found in the cache,
    or downloaded now (once). Offline without them this raises :class:`blur2blur.hub.OfflineError`
    naming the file, where to put it and the offline option (`key`: how the caller spells the setting,
    e.g. ``translator.perceptual`` in ``fit``). The ``pixel`` and ``lowpass`` terms need nothing.
    """
    from blur2blur import hub

    if cfg.perceptual not in ("paper", "reference") or cfg.vgg_weights == "random":
        return
    offline_option = (f"or train offline with the low-pass content term instead: --set {key}=lowpass "
                      "(what the CPU presets use)")
    if cfg.vgg_weights != "imagenet":
        if not Path(cfg.vgg_weights).is_file():
            weights_key = key[:-len("perceptual")] + "vgg_weights"  # spelt as `key` is: translator.vgg_weights
            raise FileNotFoundError(f"{weights_key}: {cfg.vgg_weights}: no such file (the {cfg.perceptual!r} "
                                    f"content term needs VGG weights); {offline_option}")
        return
    name = "vgg19" if cfg.perceptual == "paper" else "vgg16"
    try:
        hub.fetch(name)
    except hub.DownloadError as e:
        raise hub.OfflineError(f"{key}={cfg.perceptual} needs the ImageNet {name.upper()} weights: {e}. "
                               f"{offline_option[0].upper()}{offline_option[1:]}") from e


def input_scales(y: torch.Tensor, n: int = 3) -> list[torch.Tensor]:
    """[1/4, 1/2, 1] (for n=3) of y, downsampled the way the multi-scale translators do (nearest)."""
    scales = [y]
    for _ in range(n - 1):
        scales.insert(0, F.interpolate(scales[0], scale_factor=0.5))
    return scales


def init_identity(net: torch.nn.Module) -> torch.nn.Module:
    """Zero the output layers so that G starts as the identity at every scale."""
    if hasattr(net, "init_identity"):
        return net.init_identity()
    if hasattr(net, "ending"):  # NAFNet: output = input + ending(...)
        torch.nn.init.zeros_(net.ending.weight)
        torch.nn.init.zeros_(net.ending.bias)
        return net
    raise ValueError(f"do not know how to start {type(net).__name__} as the identity")


def drift_psnr(out: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR(G(y), y) in dB, capped at 100 (the identity would give infinity)."""
    return capped_psnr(out, y)   # y: an image of B, in [0, 1] already


def judged_scales(scales: Sequence[torch.Tensor], n: int = 3) -> list[torch.Tensor]:
    """The finest `n` of a translator's scales [1/4, 1/2, 1]: the ones D judges (TranslatorConfig.disc_scales)."""
    return list(scales[-n:])


def _accuracy(real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> float:
    hits = [(r > 0).float().mean() for r in real] + [(f < 0).float().mean() for f in fake]
    return float(torch.stack(hits).mean())


@torch.no_grad()
def discriminator_accuracy(discriminator: torch.nn.Module, real: Sequence[str | Path], fake: Sequence[str | Path],
                           crop: int, scales: int = 3) -> float:
    """Share of patch decisions D gets right on centre crops of image pairs (real[i], fake[i]), in [0, 1],
    on the finest `scales` scales (the ones it was trained to judge).

    real: images D should call known blur (K); fake: images it should not. Each pair is cropped to the
    same square side (at most `crop`, a multiple of 4), so both images of a pair show the same region
    when they are shots of one scene.
    """
    if not real or len(real) != len(fake):
        raise ValueError(f"need as many real as fake images (and at least one), got {len(real)} and {len(fake)}")
    dev = next(discriminator.parameters()).device
    accs = []
    for rp, fp in zip(real, fake, strict=True):
        r, f = _centre_pair(rp, fp, crop, dev)
        accs.append(_accuracy(discriminator(judged_scales(input_scales(r), scales)),
                              discriminator(judged_scales(input_scales(f), scales))))
    return sum(accs) / len(accs)


def _centre_pair(a: str | Path, b: str | Path, crop: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre crops (1, 3, s, s) of two images with the same side s <= crop, a multiple of 4 (the
    translator's and the discriminator's scales)."""
    x, y = read_image(a)[0], read_image(b)[0]
    side = min(crop, *x.shape[-2:], *y.shape[-2:]) // 4 * 4
    return centre_crop(x, side)[None].to(device), centre_crop(y, side)[None].to(device)


DISCRIMINATORS = {"image": "b2b_discriminator", "autocorrelation": "b2b_blur_discriminator"}  # by disc_features


def discriminator_spec(cfg: TranslatorConfig) -> tuple[str, dict[str, Any]]:
    """The registry name and arguments of the translator's discriminator D as `cfg` sets it."""
    return DISCRIMINATORS[cfg.disc_features], {"ndf": cfg.disc_ndf, "n_layers": cfg.disc_layers}


def create_discriminator(cfg: TranslatorConfig) -> torch.nn.Module:
    """The translator's discriminator D as `cfg` sets it (a PatchGAN, ``b2b_discriminator``, or one that also sees
    blur statistics, ``b2b_blur_discriminator``), freshly initialised."""
    name, args = discriminator_spec(cfg)
    return create_model(name, **args)


def load_discriminator(run_dir: str | Path, cfg: TranslatorConfig) -> torch.nn.Module:
    """The discriminator of a translator run (``translator-run``, trained with `cfg`) at its last training-state
    checkpoint."""
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"{run_dir}: no training-state checkpoint (checkpoints/step_*.pt)")
    state = torch.load(found[-1][1], map_location="cpu", weights_only=True)
    d = create_discriminator(cfg)
    d.load_state_dict(state["nets"]["discriminator"])
    return d.eval()


def translators_at_checkpoints(run_dir: str | Path, arch: str, arch_args: dict[str, Any]):
    """Yield ``(step, G)`` for every training-state checkpoint a translator run kept, oldest first: G built
    as ``create_model(arch, **arch_args)`` with the checkpoint's translator weights, in eval mode (one at a
    time, so a long run's checkpoints never sit in memory together). The learning curves score these."""
    for step, path in list_checkpoints(run_dir):
        g = create_model(arch, **arch_args)
        g.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["nets"]["translator"])
        yield step, g.eval()


class TranslatorTrainer(Trainer):
    """G and D trained alternately on crops of B (the camera's blurry images) and K (known blur)."""

    def __init__(self, cfg: TranslatorConfig, blurry: Sequence[str], known: Sequence[str], runtime: Runtime, *,
                 val_blurry: Sequence[str] = (), val_known: Sequence[str] = (),
                 blur_scores: dict[str, float] | None = None, translator: torch.nn.Module | None = None):
        seed_initialisation(cfg.loop.seed)
        self.cfg, self.runtime = cfg, runtime
        g = translator if translator is not None else init_identity(create_model(cfg.arch, **cfg.arch_args))
        d = create_discriminator(cfg)
        if cfg.crop % 4 or cfg.crop // 4 < d.min_size:
            raise ValueError(f"crop {cfg.crop} must be a multiple of 4 with crop/4 >= {d.min_size}: the "
                             "discriminator also sees the 1/4 scale")
        self.translator, self.discriminator = g, d
        self.G, self.D = runtime.prepare(g), runtime.prepare(d)
        self.perceptual = PerceptualLoss(cfg.perceptual, weights=cfg.vgg_weights, sigma=cfg.content_sigma,
                                         eps=cfg.content_eps, high_weight=cfg.content_high_weight).to(runtime.device)
        self.nets = {"translator": g, "discriminator": d}
        self.optimizers = {
            "translator": torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=tuple(cfg.betas)),
            "discriminator": torch.optim.Adam(d.parameters(), lr=cfg.d_lr or cfg.lr, betas=tuple(cfg.betas)),
        }
        sched = constant_then_linear(cfg.hold_steps, cfg.decay_steps)
        self.schedules = {"translator": sched, "discriminator": sched}
        curriculum = None
        if cfg.curriculum and blur_scores:
            curriculum = Curriculum(blur_scores, cfg.curriculum_fraction, cfg.curriculum_widen_at)
        # Sample n belongs to step n // (global batch): the curriculum follows the step.
        self.dataset = UnpairedCrops(blurry, known, cfg.crop, seed=cfg.loop.seed, batch_size=cfg.loop.batch_size,
                                     curriculum=curriculum, flip=cfg.flip, rotate=cfg.rotate,
                                     jitter=cfg.color_jitter)
        self.val_blurry, self.val_known = list(val_blurry), list(val_known)
        self._last: dict[str, torch.Tensor] = {}
        self._step = -1

    def train_step(self, batch: dict[str, torch.Tensor], step: StepContext) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        y, k = batch["blurry"], batch["known"]
        ys, ks = input_scales(y), input_scales(k)

        def judged(scales):
            return judged_scales(scales, cfg.disc_scales)

        self._step = step.step
        warmup = step.step < cfg.d_warmup
        with step.autocast():
            if warmup:
                with torch.no_grad():
                    outs = self.G(y)
            else:
                outs = self.G(y)
            fakes = [o.detach() for o in outs]
            d_real, d_fake = self.D(judged(ks)), self.D(judged(fakes))
            loss_d = discriminator_loss(d_real, d_fake, cfg.adv_loss)
        out = {"loss_d": loss_d.detach(), "d_acc": torch.tensor(_accuracy(d_real, d_fake)),
               "drift_psnr": torch.tensor(drift_psnr(outs[-1].detach(), y))}
        if cfg.lambda_grad:
            # Double backward through a DDP wrapper is unsupported; the raw module's parameter
            # gradients are still all-reduced by DDP's hooks in the one backward below. Skipped at
            # weight 0: the double backward costs about as much as D's own step.
            gp = gradient_penalty(self.discriminator, judged(ys if cfg.gp_between == "input" else ks), judged(fakes))
            loss_d = loss_d + cfg.lambda_grad * gp
            out["gp"] = gp.detach()
        step.optimize(loss_d, "discriminator")
        if not warmup:
            self.discriminator.requires_grad_(False)
            with step.autocast():
                # D is frozen here: the raw module, so DDP expects no gradients for it.
                adv = generator_adv_loss(self.discriminator(judged(outs)), cfg.adv_loss)
                rec = self.perceptual([o.float() for o in outs], ys)
                loss_g = adv + cfg.lambda_rec * rec
                if cfg.lambda_direction:
                    direction = direction_keep_loss(outs[-1].float(), y)
                    loss_g = loss_g + cfg.lambda_direction * direction
                    out["loss_direction"] = direction.detach()
                if cfg.lambda_profile:
                    profile = blur_profile_loss(outs[-1].float(), k.float())
                    loss_g = loss_g + cfg.lambda_profile * profile
                    out["loss_profile"] = profile.detach()
            self.discriminator.requires_grad_(True)
            step.optimize(loss_g, "translator")
            out.update(loss_g_adv=adv.detach(), loss_rec=rec.detach())
        self._last = {"B": y[:4].detach(), "G(B)": outs[-1][:4].detach().clamp(0, 1), "K": k[:4].detach()}
        return out

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out: D's accuracy on K vs G(B) and on K vs B, and the drift PSNR(G(y), y)."""
        if not self.val_blurry or not self.val_known:
            return {}
        dev = self.runtime.device
        acc_g, acc_b, drift = [], [], []
        for bp, kp in zip(self.val_blurry[:self.cfg.val_images], self.val_known[:self.cfg.val_images]):
            y, k = _centre_pair(bp, kp, self.cfg.crop, dev)
            outs = self.translator(y)
            n = self.cfg.disc_scales
            d_real = self.discriminator(judged_scales(input_scales(k), n))
            acc_g.append(_accuracy(d_real, self.discriminator(judged_scales([o.clamp(0, 1) for o in outs], n))))
            acc_b.append(_accuracy(d_real, self.discriminator(judged_scales(input_scales(y), n))))
            drift.append(drift_psnr(outs[-1][0].cpu(), y[0].cpu()))
        n = len(acc_g)
        values = {"d_acc_heldout": sum(acc_g) / n, "d_acc_b_vs_k": sum(acc_b) / n, "drift_psnr": sum(drift) / n}
        if self._step + 1 >= self.cfg.d_warmup and values["d_acc_b_vs_k"] < CHANCE_ACCURACY:
            warnings.warn(
                f"step {self._step + 1}: the discriminator tells K from B only {100 * values['d_acc_b_vs_k']:.0f}% "
                "of the time on held-out crops (chance is 50%): the translator has no adversarial target. Train "
                "D first with the translator at identity (setting d_warmup; translator.d_warmup in `fit`), give "
                "it larger crops, lower the gradient penalty (translator.lambda_grad: the paper's 0.005 can pin a "
                "small D at chance; the reference code uses 1e-4, but with few scenes D may then learn the scenes "
                "instead of the blur), or check that K and B differ in blur only (--camera-noise)", stacklevel=2)
        return values

    def sample_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self._last


__all__ = ["CHANCE_ACCURACY", "IDENTITY_DRIFT_DB", "TranslatorConfig", "TranslatorTrainer", "create_discriminator",
           "discriminator_accuracy", "discriminator_spec",
           "drift_psnr", "init_identity", "input_scales", "judged_scales", "load_discriminator",
           "require_content_weights", "translators_at_checkpoints"]
