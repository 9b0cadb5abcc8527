"""Unpaired translation baselines of Blur2Blur's Table 2: CycleGAN and DualGAN trained B -> S.

Blur2Blur, Sec. 4.1.2: "For the unpaired training ... approaches, we used the blurry images in
B and the sharp images from S for training the deblurring network." Both methods learn two
generators, G_BS: blurry -> sharp (the deblurrer that is evaluated) and G_SB: sharp -> blurry,
with one discriminator per domain (D_S judges sharp images, D_B blurry ones), tied by the cycle
(reconstruction) loss ``|G_SB(G_BS(b)) - b|_1 + |G_BS(G_SB(s)) - s|_1``.

The published recipes (:data:`PRESETS`: :func:`cyclegan_config`, :func:`dualgan_config`) differ in
everything else:

* **CycleGAN** (Zhu et al., ICCV 2017): least-squares GAN loss (Sec. 4, "Training details"),
  cycle weight lambda = 10 (Eq. 3), identity loss ``|G_BS(s) - s|_1`` weighted 0.5 * lambda
  (Sec. 5.2 "photo generation from paintings"; the reference code's default lambda_identity
  0.5), D's objective halved, D trained on a history of the 50 last generated images
  (Shrivastava et al. 2017), Adam lr 2e-4 betas (0.5, 0.999), batch size 1, constant for 100
  epochs then linearly to zero over 100 more. Per step: G first, then D on the same images.
* **DualGAN** (Yi et al., ICCV 2017): the Wasserstein GAN loss (Sec. 3: ``l_d = D(G(u)) - D(v)``,
  ``l_g = lambda_U |u - G_B(G_A(u))| + lambda_V |v - G_A(G_B(v))| - D_B(G_B(v)) - D_A(G_A(u))``,
  the reconstruction an L1 distance), trained as WGAN (Alg. 1): n_critic discriminator steps,
  each on freshly sampled images and followed by clipping D's weights to [-c, c], then one
  generator step on fresh images. RMSProp ("momentum based methods such as Adam would
  occasionally cause instability"), n_critic "2-4", batch size "1-4", c "in [0.01, 0.1]",
  lambda_U, lambda_V "typically set to a value within [100.0, 1,000.0]" (Sec. 3 and 3.2); the
  learning rate is not in the paper: 5e-5 is WGAN's (Arjovsky et al. 2017, Alg. 1) and the
  released code's, with RMSProp decay 0.9 (duxingren14/DualGAN ``model.py``). No schedule: the
  code keeps the rate constant.

    >>> cfg = cyclegan_config()                                        # the published recipe
    >>> tr = UnpairedTranslationTrainer(cfg, blurry, sharp, setup_runtime(cfg.loop), val_blurry=held_out)
    >>> train(tr, tr.runtime, cfg.loop, "runs/cyclegan")                 # tr.nets["G_BS"] is the deblurrer

Exact resume: every random choice of a step comes from that step's seeds (the data from
``(seed, sample)``, dropout from the loop's per-step reseeding, the history pool's draws from
``generator(seed, step, ...)``), and the history pools are buffers of a module in ``nets``, so
they are checkpointed with the weights.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from blur2blur.config import limits
from blur2blur.data.datasets import UnpairedCrops
from blur2blur.data.images import read_image
from blur2blur.losses import discriminator_loss, generator_adv_loss
from blur2blur.metrics import capped_psnr
from blur2blur.models import create_model, spec_of
from blur2blur.models.cyclegan import gan_init_
from blur2blur.models.registry import IMAGE
from blur2blur.ops import centre_crop
from blur2blur.seeding import generator
from blur2blur.train.loop import LoopConfig, Runtime, StepContext, Trainer, seed_initialisation
from blur2blur.train.schedules import constant_then_linear

Method = Literal["cyclegan", "dualgan"]
AdvLoss = Literal["lsgan", "log", "hinge", "wgan"]


@dataclass
class UnpairedConfig:
    """Settings of a CycleGAN or DualGAN run; the defaults are CycleGAN's published recipe.

    Start from a preset (:data:`PRESETS`: :func:`cyclegan_config`, :func:`dualgan_config`): a config
    holds every value it trains with. Changing ``loop.steps`` leaves ``hold_steps``/``decay_steps`` as
    they are: set them too (:func:`recipe_schedule` gives the method's schedule for any number of
    steps), as with the translator's config.
    """

    method: Method = "cyclegan"
    generator: str = "cyclegan_generator"               # registered IMAGE architecture for both generators
    # The generators' arguments (give them too when changing `generator`): appendix 7.2, 9 blocks at 256px.
    generator_args: dict[str, Any] = field(default_factory=lambda: {"ngf": 64, "n_blocks": 9, "norm": "instance"})
    # b2b_discriminator (= pix2pix/CycleGAN PatchGAN) arguments: the 70x70 PatchGAN.
    discriminator_args: dict[str, Any] = field(default_factory=lambda: {"ndf": 64, "n_layers": 3, "norm": "instance"})
    crop: int = field(default=256, metadata=limits(minimum=1))  # Blur2Blur Sec. 4.1.1: 256x256 crops, every method
    flip: bool = True                                   # both codes: random horizontal flips
    rotate: bool = False
    adv_loss: AdvLoss = "lsgan"                         # least-squares GAN (Sec. 4, "Training details")
    d_loss_scale: float = 0.5                           # "we divide the objective by 2 while optimizing D"
    lambda_cycle: float = field(default=10.0, metadata=limits(minimum=0))  # Eq. 3, lambda = 10
    # A fraction of lambda_cycle: identity weight = 0.5 * lambda_cycle (the reference code's lambda_identity).
    lambda_identity: float = field(default=0.5, metadata=limits(minimum=0))
    # "a history of generated images ... buffer that stores the 50"; 0: D sees the current fakes only.
    pool_size: int = field(default=50, metadata=limits(minimum=0))
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = field(default=2e-4, metadata=limits(above=0))
    betas: tuple[float, float] = (0.5, 0.999)           # Adam
    rmsprop_alpha: float = 0.99                         # RMSProp's smoothing constant (TF: decay); unused with Adam
    n_critic: int = field(default=1, metadata=limits(minimum=1))  # D steps per G step (DualGAN only)
    clip: float = field(default=0.0, metadata=limits(minimum=0))  # clip D's weights to [-clip, clip]; 0: off
    # The rate is constant for hold_steps, then falls linearly to zero over decay_steps: CycleGAN's
    # 100 epochs constant + 100 epochs of linear decay, half of loop.steps each.
    hold_steps: int = field(default=100_000, metadata=limits(minimum=0))
    decay_steps: int = field(default=100_000, metadata=limits(minimum=0))
    val_images: int = field(default=8, metadata=limits(minimum=0))
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=200_000, batch_size=1, checkpoint_every=5_000, eval_every=5_000, image_every=5_000))

    def __post_init__(self):
        _check_method(self.method)
        if self.n_critic < 1:
            raise ValueError(f"n_critic: expected int >= 1, got {self.n_critic}")
        if self.method == "cyclegan" and self.n_critic != 1:
            raise ValueError("CycleGAN updates D once per step, after G (n_critic must be 1)")
        for name in ("clip", "pool_size"):  # the config's limits say the same for configs read from files
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name}: expected {type(value).__name__} >= 0, got {value}")
        self.betas = tuple(self.betas)

    @classmethod
    def upgrade_values(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Plain data of a stored section (``config.yaml`` of a run folder) with the None of older
        versions replaced by what it meant: the method's preset value (see :mod:`blur2blur.config`).

        Configs written before the presets left these fields at None for "the published value": their
        network arguments were merged over the preset's (the generator's only for the preset's
        generator), and a schedule left unset was the method's share of the stored ``loop.steps``.
        Data without a None is returned as it is.
        """
        method = data.get("method", cls.method)
        if all(value is not None for value in data.values()) or method not in PRESETS:
            return data  # a current config, or an unknown method (which the constructor refuses)
        preset = PRESETS[method]()
        out = {name: getattr(preset, name) if value is None and hasattr(preset, name) else value
               for name, value in data.items()}
        if "generator_args" in data:
            own = out.get("generator", preset.generator) == preset.generator
            out["generator_args"] = {**(preset.generator_args if own else {}), **(data["generator_args"] or {})}
        if "discriminator_args" in data:
            out["discriminator_args"] = {**preset.discriminator_args, **(data["discriminator_args"] or {})}
        hold, decay = data.get("hold_steps", preset.hold_steps), data.get("decay_steps", preset.decay_steps)
        if hold is None or decay is None:
            loop = data.get("loop")
            steps = loop.get("steps") if isinstance(loop, Mapping) else getattr(loop, "steps", None)
            steps = preset.loop.steps if steps is None else steps
            if hold is None and decay is None:
                hold, decay = recipe_schedule(method, steps)
            elif hold is None:
                hold = max(0, steps - decay)
            else:
                decay = max(0, steps - hold)
            out["hold_steps"], out["decay_steps"] = hold, decay
        return out


def _check_method(method: str) -> None:
    if method not in PRESETS:
        raise ValueError(f"unknown method {method!r}; choose {' or '.join(PRESETS)}")


def cyclegan_config() -> UnpairedConfig:
    """CycleGAN's published recipe (Zhu et al., ICCV 2017; see the module docstring): the defaults."""
    return UnpairedConfig()


def dualgan_config() -> UnpairedConfig:
    """DualGAN's published recipe (Yi et al., ICCV 2017, and its released code; see the module docstring)."""
    return UnpairedConfig(
        method="dualgan",
        generator="dualgan_generator",
        # pix2pix U-Net for 256px; per-image affine normalisation as DualGAN's code computes it
        # (pix2pix's batch norm at batch size 1 with test-batch statistics is the same thing).
        generator_args={"ngf": 64, "num_downs": 8, "norm": "instance", "use_dropout": True},
        # "Markovian PatchGAN ... 70x70" (Sec. 3.1); DualGAN's D also normalises per image.
        discriminator_args={"ndf": 64, "n_layers": 3, "norm": "instance"},
        adv_loss="wgan",
        d_loss_scale=1.0,
        lambda_cycle=100.0,      # lambda_U = lambda_V, "within [100.0, 1,000.0]": the low end
        lambda_identity=0.0,     # DualGAN has no identity loss
        pool_size=0,             # nor a history pool
        optimizer="rmsprop",
        lr=5e-5,                 # WGAN's rate, DualGAN's code default
        betas=(0.5, 0.999),      # unused with RMSProp
        rmsprop_alpha=0.9,       # the code's RMSPropOptimizer(decay=0.9)
        n_critic=2,              # "2-4": the cheapest
        clip=0.01,               # "c is normally set in [0.01, 0.1]"
        hold_steps=200_000,      # constant rate for all of loop.steps (the code has no schedule)
        decay_steps=0,
    )


# The published recipes by method name (see the module docstring).
PRESETS: dict[str, Callable[[], UnpairedConfig]] = {"cyclegan": cyclegan_config, "dualgan": dualgan_config}


def recipe_schedule(method: Method, steps: int) -> tuple[int, int]:
    """``(hold_steps, decay_steps)`` of `method`'s published schedule for a run of `steps` steps:
    CycleGAN's half constant, then half decaying (decay rounded); DualGAN's constant rate."""
    _check_method(method)
    preset = PRESETS[method]()
    decay = round(steps * preset.decay_steps / (preset.hold_steps + preset.decay_steps))
    return steps - decay, decay


def tiny_config(method: Method, steps: int = 4) -> UnpairedConfig:
    """A CPU-sized run of `method` for tests and demos: width 8, 2 residual blocks (CycleGAN) or 6
    downsamplings (DualGAN), 64px crops, batch size 2, a 4-image history pool (CycleGAN), the
    method's schedule over `steps`."""
    _check_method(method)
    cfg = PRESETS[method]()
    hold, decay = recipe_schedule(method, steps)
    gen = {"ngf": 8, "n_blocks": 2} if method == "cyclegan" else {"ngf": 8, "num_downs": 6}
    return dataclasses.replace(
        cfg, generator_args={**cfg.generator_args, **gen}, discriminator_args={**cfg.discriminator_args, "ndf": 8},
        crop=64, pool_size=4 if method == "cyclegan" else cfg.pool_size, val_images=2, hold_steps=hold,
        decay_steps=decay,
        loop=LoopConfig(steps=steps, batch_size=2, num_workers=0, log_every=1, checkpoint_every=1000, eval_every=0,
                        image_every=0, tensorboard=False, progress=False))


# ----------------------------------------------------------------------------- losses


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * mean |real - reconstructed|`` (CycleGAN Eq. 2, DualGAN's L1 recovery error), in float32.

    Also the identity loss (``reconstructed = G_BS(s)``, ``real = s``). Inputs (N, C, H, W) in [0, 1];
    the mean is over every element, as the reference's ``nn.L1Loss`` and DualGAN's ``reduce_mean``.
    """
    return weight * (real.float() - reconstructed.float()).abs().mean()


def d_adversarial_loss(real: torch.Tensor, fake: torch.Tensor, kind: AdvLoss) -> torch.Tensor:
    """D's loss on logits for real and generated images. wgan: ``mean D(fake) - mean D(real)``
    (DualGAN's l_d, a critic); lsgan/log/hinge: :func:`blur2blur.losses.discriminator_loss`."""
    if kind == "wgan":
        return fake.float().mean() - real.float().mean()
    return discriminator_loss(real.float(), fake.float(), kind)


def g_adversarial_loss(fake: torch.Tensor, kind: AdvLoss) -> torch.Tensor:
    """G's adversarial loss on D's logits for its outputs. wgan: ``-mean D(fake)``; lsgan:
    ``mean (D(fake) - 1)^2`` (CycleGAN); log/hinge: :func:`blur2blur.losses.generator_adv_loss`."""
    if kind == "wgan":
        return -fake.float().mean()
    return generator_adv_loss(fake.float(), kind)


# ----------------------------------------------------------------------------- history pool


class HistoryPool(nn.Module):
    """The image history of Shrivastava et al. 2017 as CycleGAN uses it (``ImagePool``), with its state in buffers.

    :meth:`query` takes a batch of generated images and returns a batch for D: while the pool is
    not full, each image is stored and returned; then each image is, with probability 1/2,
    returned as is, or swapped with a uniformly chosen stored one (which is returned instead).
    The draws come from the generator passed in, and the stored images and their count are
    buffers, so the pool is checkpointed with the networks and resumes exactly.

    Buffers: ``images`` (size, C, H, W) float32, ``count`` () int64.
    """

    def __init__(self, size: int, channels: int, height: int, width: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.size = size
        self.register_buffer("images", torch.zeros(size, channels, height, width))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """(N, C, H, W) generated images -> (N, C, H, W) images for D, in the input's dtype (detached)."""
        if images.shape[1:] != self.images.shape[1:]:
            raise ValueError(f"pool holds {tuple(self.images.shape[1:])} images, got {tuple(images.shape[1:])}")
        out = []
        for img in images.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = img.float()
                self.count += 1
                out.append(img)
            elif float(torch.rand((), generator=g)) > 0.5:
                j = int(torch.randint(self.size, (), generator=g))
                out.append(self.images[j].to(img.dtype).clone())
                self.images[j] = img.float()
            else:
                out.append(img)
        return torch.stack(out)


# ----------------------------------------------------------------------------- data


class UnpairedDraws(Dataset):
    """Item n -> ``{"blurry", "sharp"}``, each (draws, 3, size, size): `draws` independent unpaired crops.

    Draw j of item n is item ``n * draws + j`` of :class:`blur2blur.data.datasets.UnpairedCrops`
    (B and S cropped independently), so DualGAN's n_critic + 1 samplings per step (Alg. 1, lines 4
    and 9) are a pure function of the sample index, as the loop's exact resume requires.
    """

    def __init__(self, crops: UnpairedCrops, draws: int):
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        self.crops, self.draws = crops, draws

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, n: int) -> dict[str, torch.Tensor]:
        items = [self.crops[n * self.draws + j] for j in range(self.draws)]
        return {"blurry": torch.stack([it["blurry"] for it in items]),
                "sharp": torch.stack([it["known"] for it in items])}


# ----------------------------------------------------------------------------- the trainer


class UnpairedTranslationTrainer(Trainer):
    """CycleGAN or DualGAN on crops of B (the camera's blurry images) and S (its sharp images), unpaired.

    ``nets`` (in this order): ``G_BS`` (blurry -> sharp: the deblurrer, first so that
    :func:`blur2blur.fit.train_stage` saves it), ``G_SB``, ``D_S``, ``D_B``, then ``pools`` (the two
    history pools, buffers only) when the method uses one. Optimizers ``generators`` (both G)
    and ``discriminators`` (both D), as in both reference codes.
    """

    def __init__(self, cfg: UnpairedConfig, blurry: Sequence[str], sharp: Sequence[str], runtime: Runtime, *,
                 val_blurry: Sequence[str] = (), val_sharp: Sequence[str] = ()):
        hp = self.cfg = cfg
        self.runtime = runtime
        seed_initialisation(hp.loop.seed)
        self.g_bs = create_model(hp.generator, **hp.generator_args)
        self.g_sb = create_model(hp.generator, **hp.generator_args)
        spec = spec_of(self.g_bs)
        if spec.output != IMAGE:
            raise ValueError(f"{hp.generator} is not a single-output image-to-image network")
        multiple = getattr(self.g_bs, "size_multiple", spec.size_multiple)
        # Both recipes initialise every network from N(0, 0.02) (the generators do it themselves).
        self.d_s = gan_init_(create_model("b2b_discriminator", **hp.discriminator_args))
        self.d_b = gan_init_(create_model("b2b_discriminator", **hp.discriminator_args))
        if hp.crop % multiple or hp.crop < self.d_s.min_size:
            raise ValueError(f"crop {hp.crop} must be a multiple of {multiple} ({hp.generator}'s size rule) and "
                             f">= {self.d_s.min_size} (the discriminator's smallest input)")
        self.G_BS, self.G_SB = runtime.prepare(self.g_bs), runtime.prepare(self.g_sb)
        self.D_S, self.D_B = runtime.prepare(self.d_s), runtime.prepare(self.d_b)
        self.nets = OrderedDict([("G_BS", self.g_bs), ("G_SB", self.g_sb), ("D_S", self.d_s), ("D_B", self.d_b)])
        self.pools: nn.ModuleDict | None = None
        if hp.pool_size:
            self.pools = nn.ModuleDict({k: HistoryPool(hp.pool_size, 3, hp.crop, hp.crop) for k in ("S", "B")})
            self.pools.to(runtime.device)
            self.nets["pools"] = self.pools

        g_params = itertools.chain(self.g_bs.parameters(), self.g_sb.parameters())
        d_params = itertools.chain(self.d_s.parameters(), self.d_b.parameters())
        self.optimizers = {"generators": self._optimizer(g_params), "discriminators": self._optimizer(d_params)}
        sched = constant_then_linear(hp.hold_steps, hp.decay_steps)
        self.schedules = {"generators": sched, "discriminators": sched}
        draws = hp.n_critic + 1 if hp.method == "dualgan" else 1
        self.dataset = UnpairedDraws(UnpairedCrops(blurry, sharp, hp.crop, seed=hp.loop.seed, flip=hp.flip,
                                                   rotate=hp.rotate), draws)
        self.val_blurry, self.val_sharp = list(val_blurry), list(val_sharp)
        self._last: dict[str, torch.Tensor] = {}

    def _optimizer(self, params) -> torch.optim.Optimizer:
        hp = self.cfg
        if hp.optimizer == "adam":
            return torch.optim.Adam(params, lr=hp.lr, betas=tuple(hp.betas))
        if hp.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=hp.lr, alpha=hp.rmsprop_alpha)
        raise ValueError(f"unknown optimizer {hp.optimizer!r}; choose adam or rmsprop")

    # -- one step

    def train_step(self, batch: dict[str, torch.Tensor], step: StepContext) -> dict[str, torch.Tensor]:
        """CycleGAN: G then D on draw 0. DualGAN: n_critic D steps on draws 0..n-1, then G on draw n."""
        b_all, s_all = batch["blurry"], batch["sharp"]  # (N, draws, 3, h, w)
        out: dict[str, torch.Tensor] = {}
        if self.cfg.method == "dualgan":
            for t in range(self.cfg.n_critic):
                b, s = b_all[:, t], s_all[:, t]
                with torch.no_grad(), step.autocast():
                    fake_s, fake_b = self.G_BS(b), self.G_SB(s)
                out.update(self._discriminator_step(b, s, fake_s, fake_b, step))
            b, s = b_all[:, -1], s_all[:, -1]
            g_out, fake_s, fake_b = self._generator_step(b, s, step)
            out.update(g_out)
        else:
            b, s = b_all[:, 0], s_all[:, 0]
            g_out, fake_s, fake_b = self._generator_step(b, s, step)
            out.update(g_out)
            out.update(self._discriminator_step(b, s, fake_s.detach(), fake_b.detach(), step))
        self._last = {"B": b[:4].detach(), "G_BS(B)": fake_s[:4].detach().float().clamp(0, 1),
                      "S": s[:4].detach(), "G_SB(S)": fake_b[:4].detach().float().clamp(0, 1)}
        return out

    def _generator_step(self, b: torch.Tensor, s: torch.Tensor, step: StepContext):
        hp = self.cfg
        for d in (self.d_s, self.d_b):
            d.requires_grad_(False)
        with step.autocast():
            fake_s = self.G_BS(b)
            fake_b = self.G_SB(s)
            rec_b = self.G_SB(fake_s)
            rec_s = self.G_BS(fake_b)
            # D frozen: the raw modules, so DDP expects no gradients for them.
            adv = g_adversarial_loss(self.d_s(fake_s), hp.adv_loss) + g_adversarial_loss(self.d_b(fake_b), hp.adv_loss)
            idt = torch.zeros((), device=b.device)
            if hp.lambda_identity > 0:
                # CycleGAN's identity loss: a generator fed an image of its target domain leaves it alone.
                w = hp.lambda_identity * hp.lambda_cycle
                idt = cycle_loss(s, self.G_BS(s), w) + cycle_loss(b, self.G_SB(b), w)
        for d in (self.d_s, self.d_b):
            d.requires_grad_(True)
        cyc = cycle_loss(b, rec_b, hp.lambda_cycle) + cycle_loss(s, rec_s, hp.lambda_cycle)
        loss = adv.float() + cyc + idt
        step.optimize(loss, "generators")
        scalars = {"loss_g": loss.detach(), "loss_g_adv": adv.detach(), "loss_cycle": cyc.detach()}
        if hp.lambda_identity > 0:
            scalars["loss_identity"] = idt.detach()
        return scalars, fake_s, fake_b

    def _discriminator_step(self, b, s, fake_s, fake_b, step: StepContext) -> dict[str, torch.Tensor]:
        hp = self.cfg
        fake_s, fake_b = self._from_pool("S", fake_s, step), self._from_pool("B", fake_b, step)
        with step.autocast():
            real_s, gen_s = self.D_S(s), self.D_S(fake_s)
            real_b, gen_b = self.D_B(b), self.D_B(fake_b)
        loss_s = d_adversarial_loss(real_s, gen_s, hp.adv_loss)
        loss_b = d_adversarial_loss(real_b, gen_b, hp.adv_loss)
        loss = hp.d_loss_scale * (loss_s + loss_b)
        step.optimize(loss, "discriminators")
        if hp.clip > 0:
            # WGAN's Lipschitz constraint (DualGAN Alg. 1, line 7): every D weight into [-c, c].
            with torch.no_grad():
                for p in itertools.chain(self.d_s.parameters(), self.d_b.parameters()):
                    p.clamp_(-hp.clip, hp.clip)
        out = {"loss_d": loss.detach()}
        if hp.adv_loss == "wgan":
            # The critics' estimate of the Wasserstein distances (should shrink as G improves).
            out["w_dist_s"], out["w_dist_b"] = -loss_s.detach(), -loss_b.detach()
        else:
            t = 0.5 if hp.adv_loss == "lsgan" else 0.0  # LSGAN's targets are 0 and 1; the others' logits split at 0
            hits = [(real_s > t).float().mean(), (gen_s < t).float().mean(),
                    (real_b > t).float().mean(), (gen_b < t).float().mean()]
            out["d_acc"] = torch.stack(hits).mean()
        return out

    def _from_pool(self, name: str, fake: torch.Tensor, step: StepContext) -> torch.Tensor:
        """`fake` (this process's share) through the history pool `name`; unchanged without pools.

        Under DDP every process queries the same pool with the whole global batch (gathered) and
        the same draws (seeded by the step, not the rank), then keeps its own share: the pools
        stay identical on every process, so the one rank 0 checkpoints fits them all.
        """
        if self.pools is None:
            return fake
        g = generator(self.cfg.loop.seed, step.step, 2, 0 if name == "S" else 1)
        rt = self.runtime
        if not rt.distributed:
            return self.pools[name].query(fake, g)
        parts = [torch.empty_like(fake) for _ in range(rt.world_size)]
        dist.all_gather(parts, fake.contiguous())
        mixed = self.pools[name].query(torch.cat(parts), g)
        n = fake.shape[0]
        return mixed[rt.rank * n:(rt.rank + 1) * n]

    # -- monitoring

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out signals without ground truth, on centre crops (at most ``crop`` px) of the first
        ``val_images`` held-out images, PSNR in dB capped at 100:

        * ``cycle_psnr_b``: PSNR(G_SB(G_BS(b)), b), how well the blurry -> sharp -> blurry cycle closes;
        * ``change_psnr_b``: PSNR(G_BS(b), b), how much the deblurrer changes its input (100: not at all);
        * with held-out sharp images, ``cycle_psnr_s``: PSNR(G_BS(G_SB(s)), s).
        """
        dev = self.runtime.device

        def crops(paths: Sequence[str]):
            for p in paths[:self.cfg.val_images]:
                yield centre_crop(read_image(p)[0], self.cfg.crop)[None].to(dev)

        # The loop switches the nets to eval mode; train_and_save may call this directly after a
        # resume at the end, so make sure dropout is off and batch norm uses its running statistics.
        modes = [(m, m.training) for m in (self.g_bs, self.g_sb)]
        for m, _ in modes:
            m.eval()
        try:
            return self._heldout(crops)
        finally:
            for m, training in modes:
                m.train(training)

    @torch.no_grad()
    def _heldout(self, crops) -> dict[str, float]:
        from blur2blur.inference import run_padded

        values: dict[str, float] = {}
        cycle, change = [], []
        for b in crops(self.val_blurry):
            fake_s = run_padded(self.g_bs, b).float().clamp(0, 1)
            cycle.append(capped_psnr(run_padded(self.g_sb, fake_s).float(), b))
            change.append(capped_psnr(fake_s, b))
        if cycle:
            values.update(cycle_psnr_b=sum(cycle) / len(cycle), change_psnr_b=sum(change) / len(change))
        cycle_s = [capped_psnr(run_padded(self.g_bs, run_padded(self.g_sb, s).float().clamp(0, 1)).float(), s)
                   for s in crops(self.val_sharp)]
        if cycle_s:
            values["cycle_psnr_s"] = sum(cycle_s) / len(cycle_s)
        return values

    def sample_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The last step's B, G_BS(B), S, G_SB(S) (up to 4 each, (n, 3, h, w) in [0, 1])."""
        return self._last


__all__ = [
    "PRESETS",
    "HistoryPool",
    "UnpairedConfig",
    "UnpairedDraws",
    "UnpairedTranslationTrainer",
    "cycle_loss",
    "cyclegan_config",
    "d_adversarial_loss",
    "dualgan_config",
    "g_adversarial_loss",
    "recipe_schedule",
    "tiny_config",
]
