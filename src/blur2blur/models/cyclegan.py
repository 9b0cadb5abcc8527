"""CycleGAN's ResNet generator (Zhu et al., ICCV 2017), a Table 2 baseline of Blur2Blur.

The generator of "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", appendix 7.2 (after Johnson et al. 2016)::

    c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3

``c7s1-k``: 7x7 conv, stride 1, k filters + InstanceNorm + ReLU (the last one ends in tanh, no
norm); ``dk``: 3x3 conv, stride 2 + norm + ReLU; ``Rk``: residual block of two 3x3 convs;
``uk``: 3x3 fractional-strided conv, stride 1/2 + norm + ReLU. Reflection padding throughout.
The paper uses 6 blocks for 128x128 training images and 9 for 256x256 and larger.

Its discriminator is the 70x70 PatchGAN (C64-C128-C256-C512, instance norm, LeakyReLU 0.2;
the reference's ``NLayerDiscriminator``). That network is already registered as
``b2b_discriminator`` (:mod:`blur2blur.models.discriminator`, ``norm="instance"``), whose
layers and state dict are the reference's, so it is reused rather than registered twice.

The layer order (one ``nn.Sequential`` named ``model``, residual blocks with a ``conv_block``)
is the reference implementation's (junyanz/pytorch-CycleGAN-and-pix2pix ``ResnetGenerator``),
so its released ``*_net_G_A.pth`` files load with :func:`blur2blur.models.load_weights`.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from blur2blur.models.registry import IMAGE, register_model
from blur2blur.models.unet import norm_layer
from blur2blur.ops import pad_to_multiple

NORMS = ("instance", "batch", "none")
_G_KEY = re.compile(r"model\.(\d+)\.(conv_block\.\d+\.)?(weight|bias|running_mean|running_var|num_batches_tracked)$")
_BLOCK_KEY = re.compile(r"model\.(\d+)\.conv_block\.")


def gan_init_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """The pix2pix/CycleGAN/DCGAN initialisation, in place: conv weights ~ N(0, std), biases 0,
    batch-norm (and affine instance-norm) scales ~ N(1, std), shifts 0. Returns `module`.

    CycleGAN's reference ``init_weights(net, 'normal', 0.02)``; DualGAN's code draws its conv
    weights with stddev 0.02 and its norm scales from N(1, 0.02) the same way.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


def infer_cyclegan_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Constructor arguments of the ResnetGenerator with state dict `sd`, or None.

    ``model.1.weight`` is the first 7x7 conv (ngf, input_nc, 7, 7); the residual blocks are the
    distinct ``model.<i>.conv_block``; the last 4-D weight is the final 7x7 conv (output_nc, ngf,
    7, 7). Batch norm leaves running statistics; otherwise a bias on the first conv means
    instance norm (the reference drops it for 'batch' and 'none'). A dropout layer in the blocks
    moves the second conv from ``conv_block.5`` to ``conv_block.6``.
    """
    first = sd.get("model.1.weight")
    if first is None or first.dim() != 4 or tuple(first.shape[-2:]) != (7, 7) or not all(_G_KEY.match(k) for k in sd):
        return None
    blocks = {int(m.group(1)) for k in sd if (m := _BLOCK_KEY.match(k))}
    convs = sorted((int(k.split(".")[1]), v) for k, v in sd.items()
                   if k.endswith(".weight") and "conv_block" not in k and v.dim() == 4)
    if not blocks or not convs:
        return None
    if any(k.endswith("running_mean") for k in sd):
        norm = "batch"
    else:
        norm = "instance" if "model.1.bias" in sd else "none"
    return {
        "input_nc": int(first.shape[1]),
        "output_nc": int(convs[-1][1].shape[0]),
        "ngf": int(first.shape[0]),
        "n_blocks": len(blocks),
        "norm": norm,
        "use_dropout": any(".conv_block.6.weight" in k for k in sd),
    }


class ResnetBlock(nn.Module):
    """``x + [pad1, conv3x3, norm, ReLU, (dropout), pad1, conv3x3, norm](x)`` on (B, dim, h, w)."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, use_bias: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias),
                                   norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


@register_model("cyclegan_generator", output=IMAGE, size_multiple=1, pad_mode="reflect",
                infer_config=infer_cyclegan_config)
class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator: image in [0, 1] -> image in [0, 1] (c7s1-64, d128, d256, R x n, u128, u64, c7s1-3).

    Input (B, input_nc, H, W) in [0, 1], any H and W >= 2: the module maps it to [-1, 1] (the
    reference's normalisation), reflect-pads right/bottom to a multiple of 4 (two stride-2
    convs) and at least 8 (the 1/4-scale reflection pads need 2 pixels), runs the network,
    maps the tanh output back with ``(y + 1) / 2`` and crops back to H x W. The output is in
    (0, 1) by construction.

    Args:
        input_nc, output_nc: image channels.
        ngf: width of the first conv (64 in the paper); the 1/4-scale blocks have 4 * ngf.
        n_blocks: residual blocks (9 for 256x256 training images in the paper, 6 for 128x128).
        norm: 'instance' (the paper), 'batch' or 'none'. As in the reference, convs before a
            norm keep their bias only with 'instance'; the last conv always has one.
        use_dropout: Dropout(0.5) between the two convs of each block (off for CycleGAN).
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=use_bias),
                                   norm_layer(norm, ngf), nn.ReLU(True)]                          # c7s1-64
        for mult in (1, 2):                                                                        # d128, d256
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout, use_bias) for _ in range(n_blocks)]      # R256 x n
        for mult in (4, 2):                                                                        # u128, u64
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=use_bias),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]                 # c7s1-3
        self.model = nn.Sequential(*layers)
        gan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, output_nc, H, W) in (0, 1)."""
        if x.dim() != 4:
            raise ValueError(f"ResnetGenerator expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if min(h, w) < 2:
            raise ValueError(f"ResnetGenerator needs H and W >= 2, got {h}x{w}")
        y = self.model(pad_to_multiple(x * 2 - 1, 4, "reflect", min_size=8))
        return ((y + 1) / 2)[..., :h, :w]


__all__ = ["ResnetBlock", "ResnetGenerator", "gan_init_", "infer_cyclegan_config"]
