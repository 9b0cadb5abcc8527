"""MIMO-UNet / MIMO-UNet+ (Cho et al., "Rethinking Coarse-to-Fine Approach in Single Image
Deblurring", ICCV 2021), and the Blur2Blur blur translator G built from it.

One U-Net with three encoder and three decoder levels that takes multiple inputs (the image
and its 1/2 and 1/4 nearest subsamples, each entering the matching encoder level through a
shallow convolution module, SCM, merged by a feature attention module, FAM) and returns
multiple outputs: a restored image per level. Encoder features of all levels are fused
(AFF) before they feed the decoder skips.

Three registered networks share one state dict layout, identical to the official files:

* ``mimo_unet``: :class:`MIMOUNet` (official ``{'model': sd}`` files of chosj95/MIMO-UNet).
* ``mimo_unet_plus``: :class:`MIMOUNetPlus`, 20 residual blocks per level and two
  ``Dropout2d(0.1)`` on the fused skips (identity in eval mode).
* ``b2b_translator``: :class:`B2BTranslator`, the Blur2Blur generator (raw state dict
  ``<epoch>_net_G.pth``); the same network, plus :meth:`B2BTranslator.init_identity`.

Images are (B, 3, H, W) float tensors in [0, 1] with H and W multiples of 4 (no internal
padding; the inference wrapper reflect-pads). ``forward`` returns ``[1/4, 1/2, full]``:
each is the nearest-downsampled input plus a predicted residual, not clamped.

Parameter names and initialisation order follow the official code exactly so official files
load strictly; only ``base_channel`` (hard-coded 32 upstream) is a constructor argument.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from blur2blur.models.registry import MULTISCALE, register_model

# Top-level module names of the official layout; anything else means "not MIMO-UNet".
_MIMO_KEY = re.compile(r"(Encoder|Decoder|feat_extract|Convs|ConvsOut|AFFs)\.\d+\.|(FAM1|FAM2|SCM1|SCM2)\.")
_RES_KEY = re.compile(r"Encoder\.0\.layers\.(\d+)\.")
# Residual blocks per level of the released networks (the constructors' defaults).
MIMO_UNET_NUM_RES = 8
MIMO_UNET_PLUS_NUM_RES = 20


def mimo_body_config(sd: dict[str, torch.Tensor], any_stem: bool = False) -> dict[str, Any] | None:
    """``{num_res, base_channel}`` of a state dict in MIMO-UNet's layout, whatever its heads emit; else None.

    base_channel is the width of the first conv (``feat_extract.0``: (bc, 3, 3, 3)); num_res
    is the number of ``Encoder.0.layers.<i>`` blocks. The stem must take the 3 image channels
    unless `any_stem` (a filter translator's stem also takes its direction features).
    """
    first = sd.get("feat_extract.0.main.0.weight")
    if first is None or first.dim() != 4 or not (any_stem or first.shape[1] == 3) \
            or not all(_MIMO_KEY.match(k) for k in sd):
        return None
    blocks = {int(m.group(1)) for k in sd if (m := _RES_KEY.match(k))}
    return {"num_res": max(blocks) + 1 if blocks else 0, "base_channel": int(first.shape[0])}


def infer_mimo_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """``{num_res, base_channel}`` of the MIMO-UNet(+) with state dict `sd` (heads emitting images), or None.

    MIMO-UNet and MIMO-UNet+ have the same keys per block, so only the block count tells them
    apart (see :func:`infer_mimo_plus_config`).
    """
    if head_channels(sd) != 3:  # a filter translator's heads (blur2blur.models.filter_translator)
        return None
    return mimo_body_config(sd)


def head_channels(sd: dict[str, torch.Tensor]) -> int | None:
    """Output channels of the full-resolution head (``feat_extract.5``): 3 for an image, K*K for filters."""
    head = sd.get("feat_extract.5.main.0.weight")
    return None if head is None else int(head.shape[0])


def infer_mimo_plus_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Like :func:`infer_mimo_config`, but only claims files deeper than plain MIMO-UNet.

    The two state dicts differ only in ``num_res`` (dropout has no weights), so a file with
    more than 8 blocks per level (the released MIMO-UNet+ has 20) is taken for MIMO-UNet+.
    """
    cfg = infer_mimo_config(sd)
    return cfg if cfg is not None and cfg["num_res"] > MIMO_UNET_NUM_RES else None


class BasicConv(nn.Module):
    """Conv (or 4x4/s2 transposed conv when `transpose`) + optional ReLU, 'same' padding.

    ``main`` is a Sequential so the official key ``<...>.main.0.weight`` is reproduced.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                 relu: bool = True, transpose: bool = False):
        super().__init__()
        if transpose:
            # k4 s2 p1 exactly doubles H and W.
            conv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2 - 1)
        else:
            conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2)
        layers: list[nn.Module] = [conv]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ResBlock(nn.Module):
    """conv3x3-ReLU-conv3x3 plus identity; (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(BasicConv(channels, channels, 3),
                                  BasicConv(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + x


class ResStage(nn.Module):
    """`num_res` ResBlocks (the official EBlock / DBlock; both are this)."""

    def __init__(self, channels: int, num_res: int):
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(channels) for _ in range(num_res)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AFF(nn.Module):
    """Asymmetric feature fusion: concat the three encoder levels (resized), 1x1 then 3x3 conv."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Sequential(BasicConv(in_ch, out_ch, 1), BasicConv(out_ch, out_ch, 3, relu=False))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x1, x2, x4], dim=1))


class SCM(nn.Module):
    """Shallow convolution module: (B, 3, h, w) image -> (B, out_ch, h, w) features.

    The image itself is kept as the first 3 channels (hence the ``out_ch - 3`` branch width).
    """

    def __init__(self, out_ch: int):
        super().__init__()
        self.main = nn.Sequential(
            BasicConv(3, out_ch // 4, 3),
            BasicConv(out_ch // 4, out_ch // 2, 1),
            BasicConv(out_ch // 2, out_ch // 2, 3),
            BasicConv(out_ch // 2, out_ch - 3, 1),
        )
        self.conv = BasicConv(out_ch, out_ch, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x, self.main(x)], dim=1))


class FAM(nn.Module):
    """Feature attention module: x1 + conv(x1 * x2), x2 being the SCM features of the subsampled image."""

    def __init__(self, channels: int):
        super().__init__()
        self.merge = BasicConv(channels, channels, 3, relu=False)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return x1 + self.merge(x1 * x2)


def check_mimo_size(x: torch.Tensor, name: str) -> None:
    """Raise a ValueError unless `x` is (B, 3, H, W) with H and W multiples of 4."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} expects a (B, 3, H, W) image tensor, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % 4 or w % 4:
        # Without this check the official code fails deep inside (a FAM size mismatch).
        raise ValueError(f"{name} needs H and W to be multiples of 4 (two 2x downsamplings, no internal "
                         f"padding); got {h}x{w}. Pad the input, e.g. reflect-pad to "
                         f"{-(-h // 4) * 4}x{-(-w // 4) * 4}, and crop the output.")


class _MIMOUNetBase(nn.Module):
    """The shared MIMO-UNet network; `skip_dropout` > 0 gives MIMO-UNet+."""

    size_multiple = 4  # H and W the bare forward accepts are multiples of this

    def __init__(self, num_res: int, base_channel: int, skip_dropout: float, head_channels: int = 3,
                 stem_channels: int = 3):
        super().__init__()
        bc, hc = base_channel, head_channels
        if bc < 2:
            raise ValueError(f"base_channel must be >= 2 (the SCM widths are bc//2 and 2*bc-3), got {bc}")
        # Module creation order = official order: it fixes both the state dict key order and
        # which random numbers each layer draws at default initialisation.
        self.Encoder = nn.ModuleList([ResStage(bc * m, num_res) for m in (1, 2, 4)])
        self.feat_extract = nn.ModuleList([
            BasicConv(stem_channels, bc, 3),                  # full-res stem (3: the image, see stem_input)
            BasicConv(bc, bc * 2, 3, stride=2),               # down to 1/2
            BasicConv(bc * 2, bc * 4, 3, stride=2),           # down to 1/4
            BasicConv(bc * 4, bc * 2, 4, stride=2, transpose=True),  # up to 1/2
            BasicConv(bc * 2, bc, 4, stride=2, transpose=True),      # up to full
            BasicConv(bc, hc, 3, relu=False),                 # full-res output head
        ])
        self.Decoder = nn.ModuleList([ResStage(bc * m, num_res) for m in (4, 2, 1)])
        # 1x1 convs squeezing [upsampled decoder, fused skip] back to the level width.
        self.Convs = nn.ModuleList([BasicConv(bc * 4, bc * 2, 1), BasicConv(bc * 2, bc, 1)])
        # Output heads of the 1/4 and 1/2 levels.
        self.ConvsOut = nn.ModuleList([BasicConv(bc * 4, hc, 3, relu=False),
                                       BasicConv(bc * 2, hc, 3, relu=False)])
        # Each AFF sees all three levels concatenated: bc + 2bc + 4bc = 7bc channels.
        self.AFFs = nn.ModuleList([AFF(bc * 7, bc), AFF(bc * 7, bc * 2)])
        self.FAM1 = FAM(bc * 4)
        self.SCM1 = SCM(bc * 4)
        self.FAM2 = FAM(bc * 2)
        self.SCM2 = SCM(bc * 2)
        # MIMO-UNet+ drops whole channels of the fused skips while training.
        self.drop1 = nn.Dropout2d(skip_dropout) if skip_dropout > 0 else nn.Identity()
        self.drop2 = nn.Dropout2d(skip_dropout) if skip_dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1], H and W multiples of 4 -> [(B,3,H/4,W/4), (B,3,H/2,W/2), (B,3,H,W)]."""
        check_mimo_size(x, type(self).__name__)
        # Default F.interpolate mode is 'nearest': scale 0.5 picks x[..., ::2, ::2], scale 2
        # repeats pixels. Bilinear here would change outputs by ~0.6.
        x_2 = F.interpolate(x, scale_factor=0.5)
        x_4 = F.interpolate(x_2, scale_factor=0.5)
        z2 = self.SCM2(x_2)
        z4 = self.SCM1(x_4)

        # Encoder: the subsampled images enter levels 2 and 3 through SCM + FAM.
        res1 = self.Encoder[0](self.feat_extract[0](self.stem_input(x)))
        z = self.FAM2(self.feat_extract[1](res1), z2)
        res2 = self.Encoder[1](z)
        z = self.FAM1(self.feat_extract[2](res2), z4)
        z = self.Encoder[2](z)

        # Asymmetric fusion: every skip sees all three encoder levels, resized to its own.
        z12 = F.interpolate(res1, scale_factor=0.5)
        z21 = F.interpolate(res2, scale_factor=2)
        z42 = F.interpolate(z, scale_factor=2)
        z41 = F.interpolate(z42, scale_factor=2)
        skip2 = self.drop2(self.AFFs[1](z12, res2, z42))
        skip1 = self.drop1(self.AFFs[0](res1, z21, z41))

        # Decoder: each level emits an image from its head and the input at that scale.
        z = self.Decoder[0](z)
        out_4 = self.emit(self.ConvsOut[0](z), x_4)
        z = self.feat_extract[3](z)

        z = self.Decoder[1](self.Convs[0](torch.cat([z, skip2], dim=1)))
        out_2 = self.emit(self.ConvsOut[1](z), x_2)
        z = self.feat_extract[4](z)

        z = self.Decoder[2](self.Convs[1](torch.cat([z, skip1], dim=1)))
        out_1 = self.emit(self.feat_extract[5](z), x)
        return [out_4, out_2, out_1]

    def stem_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the full-resolution stem sees: the image itself (B, 3, H, W)."""
        return x

    def emit(self, head: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One level's image from its output head (B, head_channels, h, w) and its input (B, 3, h, w):
        MIMO-UNet's input + residual."""
        return head + x


@register_model("mimo_unet", output=MULTISCALE, size_multiple=4, pad_mode="reflect",
                infer_config=infer_mimo_config)
class MIMOUNet(_MIMOUNetBase):
    """MIMO-UNet (ICCV 2021): multi-input multi-output U-Net deblurrer, 6.8 M parameters.

    Args:
        num_res: residual blocks per encoder/decoder level (8 in the released model).
        base_channel: width of the full-resolution level; the others are 2x and 4x. The
            official class hard-codes 32, which is the default.
    """

    def __init__(self, num_res: int = MIMO_UNET_NUM_RES, base_channel: int = 32):
        super().__init__(num_res, base_channel, skip_dropout=0.0)


@register_model("mimo_unet_plus", output=MULTISCALE, size_multiple=4, pad_mode="reflect",
                infer_config=infer_mimo_plus_config)
class MIMOUNetPlus(_MIMOUNetBase):
    """MIMO-UNet+ (ICCV 2021): MIMO-UNet with 20 blocks per level and skip dropout, 16.1 M parameters.

    Same state dict layout as :class:`MIMOUNet`; ``Dropout2d(0.1)`` on both fused skips is
    active in train mode only.
    """

    def __init__(self, num_res: int = MIMO_UNET_PLUS_NUM_RES, base_channel: int = 32):
        super().__init__(num_res, base_channel, skip_dropout=0.1)


@register_model("b2b_translator", output=MULTISCALE, size_multiple=4, pad_mode="reflect",
                infer_config=infer_mimo_config)
class B2BTranslator(MIMOUNet):
    """Blur2Blur blur translator G (MIMO-UNet): maps a blurry image to the known blur domain.

    The Blur2Blur reference builds it with ``define_G(netG="mimounet")``, which ignores
    ``ngf``/``norm``/``use_dropout`` and returns a plain ``MIMOUNet()``: no normalisation and
    no dropout, so every sample is processed independently of the rest of its batch. Input in
    [0, 1]; ``forward`` returns ``[1/4, 1/2, full]`` (input + residual, not clamped) and the
    translated image is the last one.

    Our translator training calls :meth:`init_identity` on a fresh G (unless weights are
    loaded): translation starts as the identity map, and the adversarial loss only has to
    learn the *difference* between the two blur domains.
    """

    def init_identity(self) -> B2BTranslator:
        """Zero the last conv of each output head, so that ``forward(x)`` returns the
        nearest-downsampled inputs ``[x_4, x_2, x]`` exactly. Returns self.

        The zeroed layers still get gradients (their inputs are non-zero), so training moves
        away from the identity as soon as the losses ask for it.
        """
        with torch.no_grad():
            for head in (self.ConvsOut[0], self.ConvsOut[1], self.feat_extract[5]):
                conv = head.main[0]
                conv.weight.zero_()
                conv.bias.zero_()
        return self
