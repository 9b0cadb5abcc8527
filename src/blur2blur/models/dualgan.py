"""DualGAN's U-Net generator (Yi et al., ICCV 2017), a Table 2 baseline of Blur2Blur.

DualGAN, Sec. 3.1: "The generator is configured with equal number of downsampling (pooling) and
upsampling layers. In addition, we configure the generator with skip connections between
mirrored downsampling and upsampling layers as in [pix2pix, U-Net], making it a U-shaped net."
That is the pix2pix U-Net (Isola et al. 2017, appendix 6.1.1), for 256x256 images::

    encoder  C64-C128-C256-C512-C512-C512-C512-C512
    decoder  CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128   (widths after the skip concat)

with 4x4 stride-2 (transposed) convolutions, LeakyReLU(0.2) in the encoder, ReLU in the
decoder, no norm on the first encoder layer (nor, as in the pix2pix code, on the 1x1
innermost one), 50% dropout in the first three decoder layers (pix2pix's and DualGAN's noise
z), and a final conv to the image channels followed by tanh.

The multi-scale ``unet_translator`` (:mod:`blur2blur.models.unet`) is not this network: it adds
image inputs and residual outputs at 1/2 and 1/4, drops tanh and dropout; hence this file.

Differences from the released DualGAN code (TensorFlow, duxingren14/DualGAN), on purpose:

* 4x4 kernels as pix2pix (the code, built on DCGAN-tensorflow, uses 5x5 'SAME' convolutions);
* dropout only in training mode (the code, like pix2pix, keeps it at test time as noise z):
  a deblurrer should be deterministic;
* the code's ``batch_norm`` takes per-image moments (axes 1, 2) with a learned scale and
  shift, i.e. affine instance norm; ``norm="instance"`` is that, ``norm="batch"`` the pix2pix
  paper's batch norm (equal to it at batch size 1 in training; running statistics in eval).

There is no reference PyTorch checkpoint; the parameter names are ours.
"""

from __future__ import annotations

import torch
from torch import nn

from blur2blur.models.cyclegan import gan_init_
from blur2blur.models.registry import IMAGE, register_model

NORMS = ("batch", "instance", "none")


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # DualGAN's ops.batch_norm: per-image mean/variance, learned scale and centre.
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    return nn.Identity()


@register_model("dualgan_generator", output=IMAGE, size_multiple=256, pad_mode="reflect")
class UNetGenerator(nn.Module):
    """DualGAN / pix2pix U-Net generator: image in [0, 1] -> image in [0, 1], skips, dropout, tanh.

    Input (B, input_nc, H, W) in [0, 1] with H and W multiples of ``2**num_downs`` (the innermost
    map is H / 2**num_downs; 256 for the default 8). Registered with size_multiple 256;
    ``model.size_multiple`` gives a built model's value, and :func:`blur2blur.inference.restore`
    pads any image to it. The module maps [0, 1] to [-1, 1] (the papers' range) and its tanh
    output back with ``(y + 1) / 2``, so the output is in (0, 1).

    Args:
        input_nc, output_nc: image channels.
        ngf: width of the outermost level; level i has ``ngf * min(2**i, 8)`` channels.
        num_downs: stride-2 downsamplings (8 for 256x256 in pix2pix and DualGAN), >= 2.
        norm: 'batch' (pix2pix), 'instance' (affine; what DualGAN's code computes) or 'none'.
            Convs followed by a norm have no bias (the norm's shift replaces it).
        use_dropout: Dropout(0.5) after the first three decoder layers (CD512-CD1024-CD1024).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, num_downs: int = 8,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        self.num_downs = num_downs
        self.size_multiple = 2 ** num_downs
        normed_bias = norm == "none"
        width = [ngf * min(2 ** i, 8) for i in range(num_downs)]  # encoder level i: 1/2**(i+1) resolution

        downs: list[nn.Module] = [nn.Conv2d(input_nc, width[0], 4, 2, 1)]  # C64: no norm
        for i in range(1, num_downs):
            inner = i == num_downs - 1  # the 1x1 bottleneck: no norm (undefined for instance norm)
            block = [nn.LeakyReLU(0.2), nn.Conv2d(width[i - 1], width[i], 4, 2, 1, bias=inner or normed_bias)]
            if not inner:
                block.append(_norm_layer(norm, width[i]))
            downs.append(nn.Sequential(*block))
        self.downs = nn.ModuleList(downs)

        # ups[i] brings level i back to level i-1's resolution; its input is level i's skip
        # concatenated with the decoder features (the innermost has no skip).
        ups: list[nn.Module] = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * width[0], output_nc, 4, 2, 1),
                                              nn.Tanh())]
        for i in range(1, num_downs):
            in_ch = width[i] if i == num_downs - 1 else 2 * width[i]
            block = [nn.ReLU(), nn.ConvTranspose2d(in_ch, width[i - 1], 4, 2, 1, bias=normed_bias),
                     _norm_layer(norm, width[i - 1])]
            if use_dropout and i >= num_downs - 3:  # the three innermost = first three decoder layers
                block.append(nn.Dropout(0.5))
            ups.append(nn.Sequential(*block))
        self.ups = nn.ModuleList(ups)
        gan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1], H and W multiples of 2**num_downs -> (B, output_nc, H, W) in (0, 1)."""
        if x.dim() != 4:
            raise ValueError(f"UNetGenerator expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"UNetGenerator(num_downs={self.num_downs}) needs H and W to be multiples of "
                             f"{self.size_multiple} (2**num_downs); got {h}x{w}. Pad the input and crop the "
                             "output (blur2blur.inference.restore does).")
        skips = [self.downs[0](x * 2 - 1)]
        for down in self.downs[1:]:
            skips.append(down(skips[-1]))
        z = self.ups[-1](skips[-1])
        for i in range(self.num_downs - 2, -1, -1):
            z = self.ups[i](torch.cat([skips[i], z], dim=1))
        return (z + 1) / 2


__all__ = ["UNetGenerator"]
