"""PatchGAN discriminator D of Blur2Blur (pix2pix ``NLayerDiscriminator``, Isola et al. 2017).

A stack of 4x4 convolutions that maps an image to a map of real/fake logits, one per
overlapping receptive-field patch (70x70 pixels with the default 3 layers). Blur2Blur
applies the same D to each of the translator's three output scales.

State dict layout identical to the reference (``model.<i>.weight/bias`` of one
``nn.Sequential``). Blur2Blur wraps D in ``DataParallel``, so its saved files prefix every key
with ``module.``; :func:`blur2blur.models.load_weights` strips it.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch
from torch import nn

from blur2blur.models.blur_statistics import local_autocorrelation
from blur2blur.models.registry import OTHER, register_model

NORMS = ("instance", "batch", "none")
_D_KEY = re.compile(r"model\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def infer_discriminator_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """``{input_nc, ndf, n_layers, norm}`` of the PatchDiscriminator with state dict `sd`, or None.

    Convs are the 4-D ``model.<i>.weight`` tensors (n_layers + 2 of them). BatchNorm leaves
    running statistics; without them, a bias on the second conv means 'instance' and none
    means 'none' (the reference drops conv biases for every norm except instance).
    """
    if "model.0.weight" not in sd or not all(_D_KEY.match(k) for k in sd):
        return None
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.dim() == 4)
    n_layers = len(convs) - 2
    if n_layers < 1:
        return None
    if any(k.endswith("running_mean") for k in sd):
        norm = "batch"
    else:
        norm = "instance" if f"model.{convs[1]}.bias" in sd else "none"
    first = sd["model.0.weight"]
    return {"input_nc": int(first.shape[1]), "ndf": int(first.shape[0]), "n_layers": n_layers, "norm": norm}


def _norm_layer(norm: str, channels: int) -> nn.Module:
    # As the reference's get_norm_layer: instance norm without affine parameters or running
    # stats (per-sample statistics in train and eval), batch norm with both, or nothing.
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    return nn.Identity()  # takes a Sequential index, like the reference's Identity


@register_model("b2b_discriminator", output=OTHER, infer_config=infer_discriminator_config)
class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Blur2Blur D): image(s) -> patch logit map(s), no sigmoid.

    Layers: conv4x4/s2 -> LReLU(0.2); (n_layers - 1) x [conv4x4/s2 -> norm -> LReLU];
    conv4x4/s1 (to ``ndf * min(2**n_layers, 8)`` channels) -> norm -> LReLU; conv4x4/s1 -> 1
    channel. All paddings are 1, so an H x W input gives about (H/2**n_layers - 2) logits per side.

    Args:
        input_nc: image channels.
        ndf: width of the first conv; later ones double up to 8 * ndf.
        n_layers: number of stride-2 convs (3 = the "basic" 70x70 PatchGAN).
        norm: 'instance' (Blur2Blur), 'batch' or 'none'. As in the reference, the convs
            followed by a norm slot keep their bias only with 'instance' (the reference's
            ``use_bias`` rule; it also drops them for 'none'); first and last conv always have one.
    """

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.n_layers = n_layers
        use_bias = norm == "instance"
        act = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731  (after a conv or norm: safe in place)

        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), act()]
        width = ndf
        for n in range(1, n_layers):
            out = ndf * min(2 ** n, 8)
            layers += [nn.Conv2d(width, out, 4, stride=2, padding=1, bias=use_bias),
                       _norm_layer(norm, out), act()]
            width = out
        out = ndf * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(width, out, 4, stride=1, padding=1, bias=use_bias),
                   _norm_layer(norm, out), act()]
        layers += [nn.Conv2d(out, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    @property
    def min_size(self) -> int:
        """Smallest H and W: n_layers halvings must leave >= 3 pixels for the two stride-1 4x4
        convs (each loses one) to give a >= 1 pixel map, e.g. 24 for n_layers = 3."""
        return 3 * 2 ** self.n_layers

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (3, 4):
            raise ValueError(f"PatchDiscriminator expects (B, C, H, W) or (C, H, W) images, "
                             f"got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(f"PatchDiscriminator with n_layers={self.n_layers} needs H and W "
                             f">= {self.min_size}; got {h}x{w}")
        return self.model(x)

    def forward(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        """Patch logits, one map per image tensor; the same weights judge every scale.

        * list/tuple of (B, C, H_i, W_i) tensors (Blur2Blur passes the three translator
          scales [1/4, 1/2, full]) -> list of (B, 1, h_i, w_i) maps.
        * one (B, C, H, W) tensor -> one (B, 1, h, w) map.

        The reference always iterates ``for each in x``; given a 4-D tensor it therefore ran
        every sample unbatched and returned a list of B (1, h, w) maps. With instance norm
        (per-sample statistics) our batched map holds the same numbers: ``out[i]`` equals the
        reference's ``outs[i]``, at the cost of one batched pass instead of B small ones.
        A 3-D (C, H, W) tensor, as a list element, gives an unbatched (1, h, w) map.
        """
        if isinstance(x, (list, tuple)):
            return [self._logits(each) for each in x]
        return self._logits(x)


AUTOCORRELATION_RADIUS = 8  # px: the offsets BlurStatisticsDiscriminator reads (blurs up to ~16 px long)


def infer_blur_discriminator_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """``{ndf, n_layers, norm, angles}`` of the BlurStatisticsDiscriminator with state dict `sd`, or None."""
    if not all(k.startswith("patch.") for k in sd):  # (an empty dict fails below: no model.0.weight)
        return None
    patch = infer_discriminator_config({k[len("patch."):]: v for k, v in sd.items()})
    if patch is None:
        return None
    extra = patch.pop("input_nc") - 3
    if extra <= 0 or extra % AUTOCORRELATION_RADIUS:
        return None
    return {**patch, "angles": extra // AUTOCORRELATION_RADIUS}


@register_model("b2b_blur_discriminator", output=OTHER, infer_config=infer_blur_discriminator_config)
class BlurStatisticsDiscriminator(nn.Module):
    """A PatchGAN that sees, beside each image, its blur's local shape: image(s) -> patch logit map(s).

    The input of :class:`PatchDiscriminator` is the image and its
    :func:`~blur2blur.models.blur_statistics.local_autocorrelation` (`angles` directions x offsets 1-8 px,
    an 8-px Gaussian window; 3 + 8 * angles channels). Not the paper's D. Why: the blur difference
    between two cameras is a second-order statistic of the pixels (how detail correlates with itself
    along each direction), which a PatchGAN on pixels must learn from the data itself, and on a
    few dozen images it learns it late or not at all. Measured on the ladder's camera `ghost`, rung b, D
    alone (ndf 32, batch 8, rate 5e-4; BENCHMARKS.md): held-out K vs B 0.85 after 100 steps where the
    pixel PatchGAN is at 0.50 (0.84 after 600); trained on K vs an over-blurring translator's output, 0.76
    after 100 steps where the pixel PatchGAN is at 0.50 (0.61 after 300).

    Args: as :class:`PatchDiscriminator` (``input_nc`` is 3), and `angles`: directions of the autocorrelation.
    ``forward`` as :class:`PatchDiscriminator`'s, on images in [0, 1] with 3 channels.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, norm: str = "instance", angles: int = 8):
        super().__init__()
        self.angles = angles
        self.patch = PatchDiscriminator(3 + angles * AUTOCORRELATION_RADIUS, ndf, n_layers, norm)

    @property
    def min_size(self) -> int:
        return self.patch.min_size

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        single = x.dim() == 3
        batch = x[None] if single else x
        if batch.dim() != 4 or batch.shape[1] != 3:
            raise ValueError(f"BlurStatisticsDiscriminator expects (B, 3, H, W) or (3, H, W) images, "
                             f"got shape {tuple(x.shape)}")
        stats = local_autocorrelation(batch.float(), self.angles, AUTOCORRELATION_RADIUS).to(batch.dtype)
        logits = self.patch(torch.cat([batch, stats], 1))
        return logits[0] if single else logits

    def forward(self, x: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        """Patch logits, one map per image tensor (see :meth:`PatchDiscriminator.forward`)."""
        if isinstance(x, (list, tuple)):
            return [self._logits(each) for each in x]
        return self._logits(x)
