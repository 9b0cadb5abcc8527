"""Restormer (Zamir et al., "Restormer: Efficient Transformer for High-Resolution Image
Restoration", CVPR 2022).

A 4-level U-Net of transformer blocks whose attention runs across channels, not pixels
(MDTA: a (C/heads x C/heads) attention map per head, so cost grows linearly with H*W),
followed by a gated depthwise-conv feed-forward (GDFN). Parameter names, shapes and order
match the official ``swz30/Restormer`` files (``{'params': state_dict}``, loaded strictly).

Input (B, inp_channels, H, W) in [0, 1] with H, W multiples of 8 (three 2x pixel-unshuffle
downsamplings); the official test script reflect-pads right/bottom up to a multiple of 8
and crops back, which ``blur2blur.inference`` does from this model's registry entry.
Output (B, out_channels, H, W) = input + residual (dual-pixel: no input residual), not
clamped.

The math is the official one (fixtures agree within 5e-7); the layout differs where it
saves time (about 2x on CPU): feature maps are channels-last, so layer norms over channels
and the q, k, v split are views rather than copies, and q, k are not normalised in full:
q @ k^T is divided by the product of their norms instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from blur2blur.models.registry import IMAGE, register_model


class BiasFree_LayerNorm(nn.Module):
    """Scale-only LayerNorm over the last axis: x / sqrt(var + 1e-5) * weight (mean kept).

    The variance is still taken around the mean, as in the official code.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5) * self.weight


class WithBias_LayerNorm(nn.Module):
    """Standard LayerNorm over the last axis; eps 1e-5, biased variance."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class LayerNorm(nn.Module):
    """LayerNorm over the channels of each pixel of (B, C, H, W); keys ``norm.body.weight``.

    The official code rearranges to (B, H*W, C) and back; permuting to (B, H, W, C) is the
    same, and free for the channels-last maps this model runs on.
    """

    def __init__(self, dim: int, LayerNorm_type: str):
        super().__init__()
        if LayerNorm_type not in ("WithBias", "BiasFree"):
            # The official code silently treats any other string as WithBias; we say so.
            raise ValueError(f"LayerNorm_type must be 'WithBias' or 'BiasFree', got {LayerNorm_type!r}")
        self.body = BiasFree_LayerNorm(dim) if LayerNorm_type == "BiasFree" else WithBias_LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeedForward(nn.Module):
    """GDFN: 1x1 conv to 2*hidden, 3x3 depthwise conv, GELU(half) * other half, 1x1 conv back.

    hidden = int(dim * ffn_expansion_factor), truncated (127 for dim 48 and factor 2.66).
    """

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)  # exact (erf) GELU


class Attention(nn.Module):
    """MDTA: per head, softmax(normalize(q) @ normalize(k)^T * temperature) @ v over channels.

    q, k, v are (B, heads, C/heads, H*W); q and k are L2-normalised along H*W, so the
    (C/heads x C/heads) logits are cosine similarities scaled by a learnt temperature.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        heads = self.num_heads
        # (B, 3C, H, W) seen as (B, H*W, 3, heads, C/heads): a view for channels-last maps.
        qkv = self.qkv_dwconv(self.qkv(x)).permute(0, 2, 3, 1).reshape(b, h * w, 3, heads, c // heads)
        # Cosine similarity: dividing the small (C/h x C/h) product q @ k^T by the norms
        # equals normalising q and k first (F.normalize, eps 1e-12), minus two full-size
        # passes. Norms of q and k in one reduction: (B, 2, heads, C/heads).
        norms = qkv[:, :, :2].norm(dim=1).clamp_min(1e-12)
        q, k, v = qkv.permute(2, 0, 3, 4, 1)  # each (B, heads, C/heads, H*W), strided views
        cos = q @ k.transpose(-2, -1) / (norms[:, 0, :, :, None] * norms[:, 1, :, None, :])
        attn = (cos * self.temperature).softmax(dim=-1)
        # (attn @ v)^T = v^T @ attn^T lands as (B, heads, H*W, C/heads): channels-last order.
        out = (v.transpose(-2, -1) @ attn.transpose(-2, -1)).transpose(1, 2).reshape(b, h, w, c)
        return self.project_out(out.permute(0, 3, 1, 2))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + MDTA(LN(x)), then + GDFN(LN(x)). Shape preserved."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool,
                 LayerNorm_type: str):
        super().__init__()
        self.norm1 = LayerNorm(dim, LayerNorm_type)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim, LayerNorm_type)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """3x3 conv embedding. Always bias-free: the official class ignores ``bias`` here."""

    def __init__(self, in_c: int = 3, embed_dim: int = 48):
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """(B, C, H, W) -> (B, 2C, H/2, W/2): 3x3 conv to C/2, then pixel-unshuffle by 2."""

    def __init__(self, n_feat: int):
        super().__init__()
        conv = nn.Conv2d(n_feat, n_feat // 2, 3, padding=1, bias=False)
        self.body = nn.Sequential(conv, nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """(B, C, H, W) -> (B, C/2, 2H, 2W): 3x3 conv to 2C, then pixel-shuffle by 2."""

    def __init__(self, n_feat: int):
        super().__init__()
        conv = nn.Conv2d(n_feat, n_feat * 2, 3, padding=1, bias=False)
        self.body = nn.Sequential(conv, nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _blocks(n: int, dim: int, heads: int, f: float, bias: bool, ln: str) -> nn.Sequential:
    return nn.Sequential(*[TransformerBlock(dim, heads, f, bias, ln) for _ in range(n)])


def infer_restormer_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Constructor arguments of the Restormer with state dict `sd`, or None if not Restormer-like.

    Heads come from the ``temperature`` shapes (reference defaults for levels without
    blocks); ``ffn_expansion_factor`` is 2.66 when int(d * 2.66) gives every stored hidden
    width, else the shortest decimal that does.
    """
    if "patch_embed.proj.weight" not in sd or "output.weight" not in sd:
        return None
    dim, inp_channels = sd["patch_embed.proj.weight"].shape[:2]
    out_channels = sd["output.weight"].shape[0]
    groups = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")

    def count(group: str) -> int:
        found = {int(m.group(1)) for k in sd if (m := re.match(rf"{group}\.(\d+)\.", k))}
        return max(found) + 1 if found else 0

    heads = []
    for i, (group, default) in enumerate(zip(groups, (1, 2, 4, 8))):
        t = sd.get(f"{group}.0.attn.temperature")
        if t is None and i < 3:
            t = sd.get(f"decoder_level{i + 1}.0.attn.temperature")
        heads.append(int(t.shape[0]) if t is not None else default)

    # Hidden FFN widths actually stored, per block width: int(d * f) must reproduce each.
    hidden = {int(v.shape[0]): int(v.shape[1]) for k, v in sd.items() if k.endswith("ffn.project_out.weight")}
    factor = _expansion_factor(hidden)
    if factor is None:
        return None
    norm_bias = [k for k in sd if k.endswith("norm1.body.weight")]
    return {
        "inp_channels": int(inp_channels),
        "out_channels": int(out_channels),
        "dim": int(dim),
        "num_blocks": [count(g) for g in groups],
        "num_refinement_blocks": count("refinement"),
        "heads": heads,
        "ffn_expansion_factor": factor,
        "bias": "output.bias" in sd,
        "LayerNorm_type": "BiasFree" if norm_bias and norm_bias[0][: -len("weight")] + "bias" not in sd
        else "WithBias",
        "dual_pixel_task": "skip_conv.weight" in sd,
    }


def _expansion_factor(hidden: dict[int, int]) -> float | None:
    def fits(f: float) -> bool:
        return all(int(d * f) == h for d, h in hidden.items())

    if not hidden or fits(2.66):
        return 2.66
    lo = max(h / d for d, h in hidden.items())
    for decimals in range(7):
        scale = 10**decimals
        f = -(-lo * scale // 1) / scale  # lo rounded up to `decimals` digits
        if fits(f):
            return f
    return None


@register_model("restormer", output=IMAGE, size_multiple=8, pad_mode="reflect",
                infer_config=infer_restormer_config)
class Restormer(nn.Module):
    """Restormer transformer restorer (official class); needs H, W divisible by 8."""

    def __init__(self, inp_channels: int = 3, out_channels: int = 3, dim: int = 48,
                 num_blocks: Sequence[int] = (4, 6, 6, 8), num_refinement_blocks: int = 4,
                 heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66, bias: bool = False,
                 LayerNorm_type: str = "WithBias", dual_pixel_task: bool = False):
        super().__init__()
        f, ln = ffn_expansion_factor, LayerNorm_type
        d1, d2, d3, d4 = dim, dim * 2, dim * 4, dim * 8
        self.patch_embed = OverlapPatchEmbed(inp_channels, dim)
        self.encoder_level1 = _blocks(num_blocks[0], d1, heads[0], f, bias, ln)
        self.down1_2 = Downsample(d1)
        self.encoder_level2 = _blocks(num_blocks[1], d2, heads[1], f, bias, ln)
        self.down2_3 = Downsample(d2)
        self.encoder_level3 = _blocks(num_blocks[2], d3, heads[2], f, bias, ln)
        self.down3_4 = Downsample(d3)
        self.latent = _blocks(num_blocks[3], d4, heads[3], f, bias, ln)
        self.up4_3 = Upsample(d4)
        self.reduce_chan_level3 = nn.Conv2d(d4, d3, kernel_size=1, bias=bias)
        self.decoder_level3 = _blocks(num_blocks[2], d3, heads[2], f, bias, ln)
        self.up3_2 = Upsample(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, kernel_size=1, bias=bias)
        self.decoder_level2 = _blocks(num_blocks[1], d2, heads[1], f, bias, ln)
        self.up2_1 = Upsample(d2)
        # Level 1 decodes at 2*dim: the skip is concatenated with no 1x1 channel reduction.
        self.decoder_level1 = _blocks(num_blocks[0], d2, heads[0], f, bias, ln)
        self.refinement = _blocks(num_refinement_blocks, d2, heads[0], f, bias, ln)
        self.dual_pixel_task = dual_pixel_task
        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(dim, d2, kernel_size=1, bias=bias)
        self.output = nn.Conv2d(d2, out_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        """(B, inp_channels, H, W), H and W multiples of 8 -> (B, out_channels, H, W)."""
        h, w = inp_img.shape[-2:]
        if h % 8 or w % 8:
            raise ValueError(
                f"Restormer needs H and W divisible by 8 (three 2x downsamplings), got {h}x{w}; "
                f"reflect-pad right/bottom to {h + -h % 8}x{w + -w % 8} and crop the output "
                f"(blur2blur.inference does this)")
        # Channels-last maps make the depthwise convs ~2x faster on CPU and the layer norms
        # and attention reshapes free; the result is returned in the usual layout.
        inp1 = self.patch_embed(inp_img.contiguous(memory_format=torch.channels_last))
        enc1 = self.encoder_level1(inp1)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        x = self.latent(self.down3_4(enc3))
        x = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(x), enc3], 1)))
        x = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(x), enc2], 1)))
        x = self.refinement(self.decoder_level1(torch.cat([self.up2_1(x), enc1], 1)))
        if self.dual_pixel_task:
            return self.output(x + self.skip_conv(inp1)).contiguous()
        return (self.output(x) + inp_img).contiguous()
