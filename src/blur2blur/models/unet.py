"""Multi-scale U-Net blur translator (Blur2Blur paper, Table 4: "UNet adapted to handle inputs
at various scales").

The pix2pix U-Net generator (Isola et al. 2017: 4x4 stride-2 conv down blocks, 4x4 stride-2
transposed-conv up blocks, skip concatenation, instance norm) given MIMO-UNet's interface, so
that it can replace MIMO-UNet as Blur2Blur's translator G with the same losses:

* multi-input: the 1/2 and 1/4 nearest subsamples of the image are projected by a 3x3 conv
  and added to the encoder features of the same resolution;
* multi-output: 3x3 conv heads on the 1/4 and 1/2 decoder features and the final transposed
  conv predict residuals; ``forward`` returns ``[x_4 + r_4, x_2 + r_2, x + r]``.

There is no reference checkpoint for this network (the authors did not publish one); the
parameter names are ours.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from blur2blur.models.registry import MULTISCALE, register_model

NORMS = ("instance", "batch", "none")
_UNET_KEY = re.compile(r"(downs|ups)\.\d+\.|(from_half|from_quarter|to_half|to_quarter)\.")
_DOWN_KEY = re.compile(r"downs\.(\d+)\.")


def infer_unet_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Constructor arguments of the UNetTranslator with state dict `sd`, or None.

    ngf and input_nc come from ``downs.0.weight`` (ngf, input_nc, 4, 4), output_nc from the
    final transposed conv, num_downs from the number of ``downs.<i>``. 'instance' and 'none'
    leave identical state dicts (no norm weights); 'instance', the default, is returned.
    ``use_dropout`` has no weights and is left at its default.
    """
    first, last = sd.get("downs.0.weight"), sd.get("ups.0.1.weight")
    if first is None or last is None or not all(_UNET_KEY.match(k) for k in sd):
        return None
    num_downs = max(int(m.group(1)) for k in sd if (m := _DOWN_KEY.match(k))) + 1
    return {
        "input_nc": int(first.shape[1]),
        "output_nc": int(last.shape[1]),
        "ngf": int(first.shape[0]),
        "num_downs": num_downs,
        "norm": "batch" if any(k.endswith("running_mean") for k in sd) else "instance",
    }


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The pix2pix/CycleGAN reference's ``get_norm_layer``: "instance", "batch" or nothing.

    An Identity for "none" keeps the Sequential indices, hence the state-dict keys, of the reference.
    """
    if norm == "instance":
        # Per-sample statistics in train and eval: a sample's output never depends on the
        # rest of its batch (Blur2Blur trains with batch size 1-4 and infers with any).
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


@register_model("unet_translator", output=MULTISCALE, size_multiple=32, pad_mode="reflect",
                infer_config=infer_unet_config)
class UNetTranslator(nn.Module):
    """Multi-scale pix2pix U-Net translator: image -> [1/4, 1/2, full] images (paper Table 4).

    A pix2pix U-Net whose 1/2- and 1/4-resolution encoder levels also receive the nearest-
    downsampled image (through a 3x3 conv, added), and whose decoder emits a residual at 1/4
    and 1/2 (3x3 conv heads on the concatenated skip features) and at full resolution (the
    final transposed conv, without pix2pix's tanh). Each output = downsampled input + residual.

    Input (B, input_nc, H, W) in [0, 1], H and W multiples of ``2**num_downs`` (the innermost
    map is H / 2**num_downs). Registered with size_multiple 32 (the default num_downs=5);
    ``model.size_multiple`` gives the value of a built model.

    Args:
        input_nc, output_nc: image channels; they must be equal (outputs are input + residual).
        ngf: width of the outermost level; level i has ``ngf * min(2**i, 8)`` channels.
        num_downs: stride-2 downsamplings (>= 3, so that 1/4 has a decoder level with a skip).
        norm: 'instance' (default), 'batch' or 'none'. With 'batch', convs before a norm
            have no bias (the norm's shift replaces it).
        use_dropout: Dropout(0.5) after the up blocks of the inner 8*ngf levels, as pix2pix
            (there are ``num_downs - 5`` such levels, so none at the default depth).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, num_downs: int = 5,
                 norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if num_downs < 3:
            raise ValueError(f"num_downs must be >= 3 (outputs at 1/4 need a decoder level there), "
                             f"got {num_downs}")
        if input_nc != output_nc:
            raise ValueError(f"input_nc ({input_nc}) must equal output_nc ({output_nc}): "
                             "outputs are input + residual")
        self.num_downs = num_downs
        self.size_multiple = 2 ** num_downs
        bias = norm != "batch"
        # Channels of encoder level i, whose maps are at 1/2**(i+1) resolution.
        width = [ngf * min(2 ** i, 8) for i in range(num_downs)]

        # Encoder. pix2pix: the outermost down conv has no activation before and no norm after;
        # the innermost has no norm (its map can be 1x1, where instance norm is undefined).
        downs: list[nn.Module] = [nn.Conv2d(input_nc, width[0], 4, stride=2, padding=1)]
        for i in range(1, num_downs):
            block = [nn.LeakyReLU(0.2), nn.Conv2d(width[i - 1], width[i], 4, stride=2, padding=1, bias=bias)]
            if i < num_downs - 1:
                block.append(norm_layer(norm, width[i]))
            downs.append(nn.Sequential(*block))
        self.downs = nn.ModuleList(downs)
        # Multi-input: the subsampled images join the encoder at their own resolution.
        self.from_half = nn.Conv2d(input_nc, width[0], 3, padding=1)
        self.from_quarter = nn.Conv2d(input_nc, width[1], 3, padding=1)

        # Decoder. ups[i] brings level i back to level i-1's resolution; its input is level i's
        # skip concatenated with the decoder features (only the innermost has no skip).
        final = nn.ConvTranspose2d(2 * width[0], output_nc, 4, 2, 1)  # full-resolution residual, no tanh
        ups: list[nn.Module] = [nn.Sequential(nn.ReLU(), final)]
        for i in range(1, num_downs):
            in_ch = width[i] if i == num_downs - 1 else 2 * width[i]
            block = [nn.ReLU(), nn.ConvTranspose2d(in_ch, width[i - 1], 4, 2, 1, bias=bias),
                     norm_layer(norm, width[i - 1])]
            if use_dropout and 4 <= i < num_downs - 1:
                block.append(nn.Dropout(0.5))
            ups.append(nn.Sequential(*block))
        self.ups = nn.ModuleList(ups)
        # Multi-output heads on the concatenated [skip, decoder] features at 1/4 and 1/2.
        self.to_quarter = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * width[1], output_nc, 3, padding=1))
        self.to_half = nn.Sequential(nn.ReLU(), nn.Conv2d(2 * width[0], output_nc, 3, padding=1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) in [0, 1], H and W multiples of 2**num_downs -> [1/4, 1/2, full] images
        (B, C, H/4, W/4), (B, C, H/2, W/2), (B, C, H, W)."""
        if x.dim() != 4:
            raise ValueError(f"UNetTranslator expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"UNetTranslator(num_downs={self.num_downs}) needs H and W to be multiples of "
                             f"{self.size_multiple} (2**num_downs); got {h}x{w}. "
                             "Pad the input and crop the output.")
        # Nearest subsampling, as MIMO-UNet: x[..., ::2, ::2] twice.
        x_2 = F.interpolate(x, scale_factor=0.5)
        x_4 = F.interpolate(x_2, scale_factor=0.5)

        skips = [self.downs[0](x) + self.from_half(x_2)]             # 1/2
        skips.append(self.downs[1](skips[0]) + self.from_quarter(x_4))  # 1/4
        for down in self.downs[2:]:
            skips.append(down(skips[-1]))

        z = self.ups[-1](skips[-1])  # innermost: no skip to concatenate
        for i in range(self.num_downs - 2, 0, -1):
            z = torch.cat([skips[i], z], dim=1)
            if i == 1:
                out_4 = x_4 + self.to_quarter(z)
            z = self.ups[i](z)
        z = torch.cat([skips[0], z], dim=1)
        out_2 = x_2 + self.to_half(z)
        out_1 = x + self.ups[0](z)
        return [out_4, out_2, out_1]

    def init_identity(self) -> UNetTranslator:
        """Zero the three output heads so that ``forward(x)`` returns ``[x_4, x_2, x]`` exactly;
        training starts from the identity translation. Returns self."""
        with torch.no_grad():
            for conv in (self.to_quarter[1], self.to_half[1], self.ups[0][1]):
                conv.weight.zero_()
                conv.bias.zero_()
        return self
