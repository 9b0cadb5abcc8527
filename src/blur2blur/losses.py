"""The translator's losses (paper Eq. 3-7) and the reference code's variants, for comparison.

* adversarial (Eq. 3): ``"log"`` is the paper's log-loss, in its usual non-saturating form for
  G; ``"hinge"`` (the reference code) and ``"lsgan"`` are options. Discriminator outputs are
  logits, as one tensor or a list (one map per scale: the reference's multi-scale PatchGAN),
  averaged over scales;
* gradient penalty (Eq. 4): ``E[(||grad D(y_hat)||_2 - 1)^2]`` with ``y_hat`` a random mix of
  two batches (paper: y and G(y); reference: K and G(y)). With several scales, the same mixing
  ratio is used at every scale and the gradient norm is taken over all of them together;
* multi-scale perceptual reconstruction (Eq. 5): L1 between feature maps of G(y_i) and y_i at
  every output scale i. The paper divides each scale's sum by its number of elements and
  averages over scales (``reduction="paper"``); the reference sums weighted per-layer means over
  scales (``reduction="reference"``);
* the offline content term (:func:`lowpass_content_loss`): keeps what G(y) shows (colours,
  layout, where edges are) while leaving its blur free to change, with no network to download;
* the direction term (:func:`direction_keep_loss`): a motion blur keeps the detail across its path,
  so G may take detail away along one direction per tile, not in all of them;
* the blur-profile term (:func:`blur_profile_loss`): G's outputs, as a set, should have the known
  blur's shape (its autocorrelation along and across the path), whatever the scenes show.

The supervised deblurrer's losses live here too: NAFNet's PSNR loss, Restormer's L1 and
MIMO-UNet's multi-scale L1 + FFT loss.

All functions take and return tensors (no hidden state), so each can be checked by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

AdvKind = Literal["log", "hinge", "lsgan"]
Logits = torch.Tensor | Sequence[torch.Tensor]


def _scales(x: Logits) -> list[torch.Tensor]:
    return [x] if isinstance(x, torch.Tensor) else list(x)


def discriminator_loss(real: Logits, fake: Logits, kind: AdvKind = "log") -> torch.Tensor:
    """D's loss: real images should score high, generated ones low (mean over elements, then scales).

    log: ``softplus(-real) + softplus(fake)`` = ``-log D(real) - log(1 - D(fake))`` with D = sigmoid;
    hinge: ``relu(1 - real) + relu(1 + fake)``; lsgan: ``(real - 1)^2 + fake^2``.
    """
    terms = []
    for r, f in zip(_scales(real), _scales(fake), strict=True):
        if kind == "log":
            terms.append(F.softplus(-r).mean() + F.softplus(f).mean())
        elif kind == "hinge":
            terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        elif kind == "lsgan":
            terms.append(((r - 1) ** 2).mean() + (f ** 2).mean())
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}; choose log, hinge or lsgan")
    return torch.stack(terms).mean()


def generator_adv_loss(fake: Logits, kind: AdvKind = "log") -> torch.Tensor:
    """G's adversarial loss on D's logits for G(y) (mean over elements, then scales).

    log: ``softplus(-fake)`` = ``-log D(G(y))`` (non-saturating); hinge: ``-fake``; lsgan: ``(fake - 1)^2``.
    """
    terms = []
    for f in _scales(fake):
        if kind == "log":
            terms.append(F.softplus(-f).mean())
        elif kind == "hinge":
            terms.append(-f.mean())
        elif kind == "lsgan":
            terms.append(((f - 1) ** 2).mean())
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}; choose log, hinge or lsgan")
    return torch.stack(terms).mean()


def gradient_penalty(critic: Callable[[Logits], Logits], a: Logits, b: Logits, *,
                     eps: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``mean_n (||d sum(critic(y_hat)) / d y_hat_n||_2 - 1)^2`` with ``y_hat = eps*a + (1-eps)*b``.

    `a`, `b`: (N, C, H, W) tensors or lists of them (one per scale, same N). `eps` (N,) in
    [0, 1], drawn uniformly when not given (one per sample, shared by the scales). The
    penalty keeps its graph, so it can be back-propagated into the critic.
    """
    a_s, b_s = _scales(a), _scales(b)
    if len(a_s) != len(b_s) or any(x.shape != y.shape for x, y in zip(a_s, b_s, strict=True)):
        raise ValueError("gradient_penalty: both batches need the same scales and shapes")
    n = a_s[0].shape[0]
    if eps is None:
        eps = torch.rand(n, generator=generator, device="cpu" if generator is not None else a_s[0].device)
    eps = eps.to(a_s[0].device, a_s[0].dtype)
    mixed = [(eps.view(-1, *[1] * (x.dim() - 1)) * x.detach() + (1 - eps.view(-1, *[1] * (x.dim() - 1)))
              * y.detach()).requires_grad_(True) for x, y in zip(a_s, b_s, strict=True)]
    out = critic(mixed[0] if isinstance(a, torch.Tensor) else mixed)
    total = sum(o.sum() for o in _scales(out))
    grads = torch.autograd.grad(total, mixed, create_graph=True)
    norm = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads) + 1e-12)
    return ((norm - 1) ** 2).mean()


def multiscale_perceptual_loss(features: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                               outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], *,
                               reduction: Literal["paper", "reference"] = "paper",
                               layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """L1 between ``features(outputs[i])`` and ``features(targets[i])`` at every scale i.

    paper (Eq. 5): per scale, the L1 sum over all feature maps divided by their total number of
    elements; mean over scales. reference: per scale ``sum_l w_l * mean|f_l(x) - f_l(y)|``; sum
    over scales. Targets are detached (they are the input y, not something to move).
    """
    if len(outputs) != len(targets):
        raise ValueError(f"{len(outputs)} output scales but {len(targets)} target scales")
    per_scale = []
    for out, tgt in zip(outputs, targets, strict=True):
        fo, ft = features(out), features(tgt.detach())
        diffs = [(fo[k] - ft[k].detach()).abs() for k in fo]
        if reduction == "paper":
            per_scale.append(sum(d.sum() for d in diffs) / sum(d.numel() for d in diffs))
        elif reduction == "reference":
            w = layer_weights or [1.0] * len(diffs)
            if len(w) != len(diffs):
                raise ValueError(f"{len(w)} layer weights for {len(diffs)} feature maps")
            per_scale.append(sum(wi * d.mean() for wi, d in zip(w, diffs, strict=True)))
        else:
            raise ValueError(f"unknown reduction {reduction!r}; choose paper or reference")
    stacked = torch.stack(per_scale)
    return stacked.mean() if reduction == "paper" else stacked.sum()


def lowpass_content_loss(outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], *, sigma: float = 4.0,
                         eps: float = 0.002, high_weight: float = 0.0) -> torch.Tensor:
    """The translator's offline content term: outputs and targets compared after a low-pass, smoothly.

    outputs, targets: the translator's scales, coarsest first, finest last (N, 3, H_i, W_i), in [0, 1].
    Each pair is low-passed by a Gaussian of standard deviation `sigma` *finest-scale* pixels (so
    ``sigma / 2**k`` at the scale k steps coarser: every scale sees the same physical low-pass), then
    compared with the Charbonnier penalty ``sqrt(d**2 + eps**2) - eps``; the mean over pixels and
    scales is returned (a scalar >= 0, 0 exactly when the low-passed images agree). With
    `high_weight` > 0 the rest of the difference (the high band, where blur lives) is charged too, at
    that fraction of the low band's rate.

    Why this shape: a blur of extent about `sigma` or less moves an image's low frequencies little, so
    the term keeps colours, layout and where edges are while the blur is free to change; and unlike
    L1 the penalty is smooth at zero (gradient ``d / eps`` there), so the identity G starts from
    is not a point the term pins G to (measured: L1 on pixels kept G within 55-100 dB of y whatever
    the discriminator said). The low band alone leaves the high band entirely free, and a translator
    pushed by a discriminator without a real signal then fills it with large high-frequency patterns
    (measured: drift 7 dB within 100 steps); `high_weight` charges them, more loosely than the low
    band, so G changes the high band only where the adversarial gradient outweighs that charge.
    Targets are detached.
    """
    from kornia.filters import gaussian_blur2d

    if len(outputs) != len(targets):
        raise ValueError(f"{len(outputs)} output scales but {len(targets)} target scales")
    if sigma < 0 or eps <= 0:
        raise ValueError(f"need sigma >= 0 and eps > 0, got sigma={sigma}, eps={eps}")
    terms = []
    n = len(outputs)
    for k, (out, tgt) in enumerate(zip(outputs, targets, strict=True)):
        s = sigma / 2 ** (n - 1 - k)
        d = out - tgt.detach()
        low = d
        if s >= 0.3:  # below that a Gaussian of 3 taps is the identity up to 1%
            radius = max(1, math.ceil(3 * s))
            low = gaussian_blur2d(d, (2 * radius + 1, 2 * radius + 1), (s, s), border_type="reflect")
        term = _charbonnier(low, eps)
        if high_weight:
            term = term + high_weight * _charbonnier(d - low, eps)
        terms.append(term)
    return torch.stack(terms).mean()


def direction_keep_loss(output: torch.Tensor, target: torch.Tensor, *, window: int = 16, angles: int = 8,
                        eps: float = 1e-6) -> torch.Tensor:
    """How much detail G took away in *every* direction: 0 when some direction keeps all of it.

    output, target: (N, C, H, W) in [0, 1], H and W at least `window` + 1 (the translator's finest scale
    and its input). Per `window` x `window` tile, the energy of the grey image's derivative along each of
    `angles` directions (from the tile's structure tensor) is compared: ``kept(theta) = (E_out + eps) /
    (E_target + eps)``. The loss is the mean over tiles of ``relu(1 - max_theta kept)``, in [0, 1]; the
    target is detached.

    Why: the known blur is a motion blur, which smears along one direction and leaves edges along
    its path intact. A translator pushed only by "look blurrier" blurs in every direction instead
    (BENCHMARKS.md, "Camera `ghost`"), and an isotropic blur keeps no direction's detail. Measured on
    camera `ghost` (strobed: three sharp copies along the path; 16 photos, 16-px tiles): the perfect
    translation (the known-blur shot of the scene) keeps 0.93 of the best direction's energy, a
    Gaussian blur of 0.8 px (the fixed pre-blur D' gains most from) 0.66, of 0.5 px 0.81. The term
    tells the two apart where y is already blurred along the path, as B is; on a sharp image a 9-px
    line blur costs about as much as a 0.8-px Gaussian. The identity costs exactly 0; tiles without
    detail (energies far below `eps`) cost about 0 whatever G does there.
    """
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape")
    if output.shape[-1] <= window or output.shape[-2] <= window:
        raise ValueError(f"images of {tuple(output.shape[-2:])} px are too small for {window}-px tiles")

    def structure_tensor(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        grey = img.mean(dim=1, keepdim=True)
        gx = (grey[..., :, 1:] - grey[..., :, :-1])[..., :-1, :]
        gy = (grey[..., 1:, :] - grey[..., :-1, :])[..., :, :-1]
        return tuple(F.avg_pool2d(t, window) for t in (gx * gx, gx * gy, gy * gy))

    out_xx, out_xy, out_yy = structure_tensor(output)
    with torch.no_grad():
        tgt_xx, tgt_xy, tgt_yy = structure_tensor(target)
    kept = []
    for i in range(angles):
        c, s = math.cos(math.pi * i / angles), math.sin(math.pi * i / angles)
        e_out = c * c * out_xx + 2 * c * s * out_xy + s * s * out_yy
        e_tgt = c * c * tgt_xx + 2 * c * s * tgt_xy + s * s * tgt_yy
        kept.append((e_out + eps) / (e_tgt + eps))
    return F.relu(1 - torch.stack(kept).amax(dim=0)).mean()


def blur_profile_loss(output: torch.Tensor, known: torch.Tensor, *, angles: int = 8, radius: int = 8,
                      tile: int = 16) -> torch.Tensor:
    """How far the blur shape of G's outputs is from the known blur's, as sets: L1 between batch means of
    :func:`blur2blur.models.blur_statistics.aligned_blur_profile`.

    output: (N, C, H, W) in [0, 1] (G's finest scale); known: (M, C, H', W') in [0, 1], crops of K
    (unpaired: other scenes, detached) -> a scalar in [0, 2]. Each image's profile is its Laplacian's
    local autocorrelation at 1 .. `radius` px along `angles` directions, turned so the locally strongest
    comes first: a motion blur's profile along and across its path, largely free of what the scene shows.

    Why: a discriminator that sees these maps tells K from G(B), yet its gradient let G's blur grow
    rounder as G trained (BENCHMARKS.md, camera `ghost`). This term asks for the known blur's shape
    directly, as GAN feature matching does with fixed features. Measured on camera `ghost` (256-px crops
    against rung b's K; ``benchmarks/translator_ladder.py``'s data): the camera's own test shots 0.050, a
    fixed 0.8-px Gaussian pre-blur of them 0.048, the perfect translation (the same scenes shot with the
    known blur) 0.026; two K sets of different scenes differ by 0.019, the term's floor.
    """
    from blur2blur.models.blur_statistics import aligned_blur_profile

    ours = aligned_blur_profile(output, angles, radius, tile).mean(0)
    with torch.no_grad():
        theirs = aligned_blur_profile(known, angles, radius, tile).mean(0)
    return (ours - theirs).abs().mean()


def _charbonnier(d: torch.Tensor, eps: float) -> torch.Tensor:
    """mean(sqrt(d**2 + eps**2) - eps): quadratic below eps, L1 above, 0 at d = 0."""
    return (torch.sqrt(d * d + eps * eps) - eps).mean()


class PerceptualLoss(nn.Module):
    """The multi-scale perceptual loss with its feature network built in.

    ``variant="paper"``: VGG19 (ImageNet weights), relu1_1..relu5_1, ImageNet-normalised input,
    the paper's reduction. ``variant="reference"``: the official code's VGG16 taps, layer
    weights and reduction (see :data:`blur2blur.models.vgg.BLUR2BLUR_PERCEPTUAL`). `weights` is
    passed to the VGG constructor: "imagenet" (default, downloaded once), a file path, or
    "random" (only on explicit request: random features make the loss meaningless).
    ``variant="pixel"``: no feature network, the paper's reduction on the pixels themselves
    (multi-scale L1). It holds a translator that starts at the identity there (L1's gradient does
    not vanish at zero), so G cannot learn; kept to reproduce earlier runs.
    ``variant="lowpass"``: :func:`lowpass_content_loss` (`sigma`, `eps`, `high_weight`), the offline content term
    that lets the blur change; what the CPU presets use.
    """

    def __init__(self, variant: Literal["paper", "reference", "pixel", "lowpass"] = "paper",
                 weights: str = "imagenet", *, sigma: float = 4.0, eps: float = 0.002, high_weight: float = 0.0):
        super().__init__()
        from blur2blur.models import create_model
        from blur2blur.models.vgg import BLUR2BLUR_PERCEPTUAL

        self.variant, self.sigma, self.eps, self.high_weight = variant, sigma, eps, high_weight
        if variant == "paper":
            self.features = create_model("vgg19", layers="perceptual", normalize_input=True, weights=weights)
            self.layer_weights = None
        elif variant == "reference":
            ref = BLUR2BLUR_PERCEPTUAL
            self.features = create_model(ref["arch"], layers=ref["layers"], normalize_input=ref["normalize_input"],
                                         weights=weights)
            self.layer_weights = list(ref["layer_weights"])
        elif variant in ("pixel", "lowpass"):
            self.features = _Pixels()
            self.layer_weights = None
        else:
            raise ValueError(f"unknown perceptual loss variant {variant!r}; choose paper, reference, pixel or "
                             "lowpass")
        self.features.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # a fixed feature extractor, whatever the trainer's mode
        return self

    def forward(self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.variant == "lowpass":
            return lowpass_content_loss(outputs, targets, sigma=self.sigma, eps=self.eps,
                                        high_weight=self.high_weight)
        reduction = "reference" if self.variant == "reference" else "paper"
        return multiscale_perceptual_loss(self.features, outputs, targets, reduction=reduction,
                                          layer_weights=self.layer_weights)


class _Pixels(nn.Module):
    """The image itself as the one "feature map" (the ``pixel`` reconstruction variant)."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": x}


__all__ = [
    "PerceptualLoss",
    "blur_profile_loss",
    "discriminator_loss",
    "generator_adv_loss",
    "gradient_penalty",
    "direction_keep_loss",
    "lowpass_content_loss",
    "multiscale_content_loss",
    "multiscale_perceptual_loss",
    "psnr_loss",
]


# ----------------------------------------------------------------------------- deblurrer losses


def psnr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """NAFNet's training loss, -PSNR up to a constant: ``mean_n 10*log10(mse_n + eps)`` (lower is better)."""
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(mse + eps).mean()


def multiscale_content_loss(outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                            fft_weight: float = 0.1) -> torch.Tensor:
    """MIMO-UNet's loss: sum over scales of L1 + `fft_weight` * L1 between the images' 2-D FFTs."""
    total = outputs[0].new_zeros(())
    for out, tgt in zip(outputs, targets, strict=True):
        total = total + F.l1_loss(out, tgt)
        fo, ft = torch.fft.rfft2(out.float()), torch.fft.rfft2(tgt.float())
        total = total + fft_weight * F.l1_loss(torch.view_as_real(fo), torch.view_as_real(ft))
    return total
