"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

A U-Net of "nonlinear activation free" blocks: LayerNorm, 1x1 conv, 3x3 depthwise conv,
SimpleGate (split channels in two halves and multiply them), simplified channel attention
(global average pool + 1x1 conv, multiplied back in), all inside learnable-scale residuals.

Three registered networks share one state dict layout, identical to the official
``megvii-research/NAFNet`` files (``{'params': state_dict}``, loaded strictly):

* ``nafnet``: :class:`NAFNet`, the training-time network.
* ``nafnet_local``: :class:`NAFNetLocal`, the released test-time variant (TLSC, Chu et al.
  2021): each global pool becomes a local box mean sized from the training crop, so large
  test images see the same statistics window as training crops did.
* ``nafnet_translator``: :class:`NAFNetTranslator`, NAFNet as the Blur2Blur blur translator
  (paper Table 4), returning MIMO-UNet-style ``[1/4, 1/2, full]`` outputs.

Images are (B, C, H, W) float tensors in [0, 1]; any H, W works (the forward zero-pads
right/bottom to a multiple of ``2**len(enc_blk_nums)`` and crops back). The output is
input + predicted residual, not clamped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from blur2blur.models.registry import IMAGE, MULTISCALE, register_model

# Every key of a NAFNet state dict matches one of these.
_NAFNET_KEY = re.compile(r"(intro|ending)\.(weight|bias)$|(encoders|decoders)\.\d+\.\d+\.|middle_blks\.\d+\."
                         r"|ups\.\d+\.0\.weight$|downs\.\d+\.(weight|bias)$")


def infer_nafnet_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Constructor arguments of the NAFNet that has state dict `sd`, or None if not NAFNet-like.

    width and img_channel come from ``intro.weight`` (width, img_channel, 3, 3); block counts
    from the indices in ``encoders.i.j`` / ``middle_blks.j`` / ``decoders.i.j``, level counts
    from ``downs.i`` / ``ups.i`` (a level may hold zero blocks and then has no keys).
    """
    if "intro.weight" not in sd or "ending.weight" not in sd or not all(_NAFNET_KEY.match(k) for k in sd):
        return None
    width, img_channel = sd["intro.weight"].shape[:2]

    def count(pattern: str) -> int:
        found = {int(m.group(1)) for k in sd if (m := re.match(pattern, k))}
        return max(found) + 1 if found else 0

    n_enc, n_dec = count(r"downs\.(\d+)\."), count(r"ups\.(\d+)\.")
    return {
        "img_channel": int(img_channel),
        "width": int(width),
        "middle_blk_num": count(r"middle_blks\.(\d+)\."),
        "enc_blk_nums": [count(rf"encoders\.{i}\.(\d+)\.") for i in range(n_enc)],
        "dec_blk_nums": [count(rf"decoders\.{i}\.(\d+)\.") for i in range(n_dec)],
    }


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map; biased variance.

    eps is 1e-6 as in the official code (1e-5 changes outputs by ~1e-4). The official file
    spells the formula out in a custom autograd Function; ``F.layer_norm`` over the channel
    axis moved last computes the same normalisation (and its gradient) in one kernel, and
    the move is a free view on the channels-last maps the network runs on.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class SimpleGate(nn.Module):
    """(B, 2C, H, W) -> (B, C, H, W): first half of the channels times the second half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2


class NAFBlock(nn.Module):
    """One NAFNet block on a (B, c, H, W) map; shape preserved.

    Attribute names and creation order follow the official block so that state dict keys
    (``beta, gamma, conv1..conv5, sca.1, norm1, norm2``) and their order match.
    """

    def __init__(self, c: int, DW_Expand: int = 2, FFN_Expand: int = 2, drop_out_rate: float = 0.0):
        super().__init__()
        dw = c * DW_Expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)  # depthwise
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        # Simplified channel attention. Index 0 is the pool (no weights), so the conv is
        # "sca.1" as in the official files; NAFNetLocal swaps index 0 for a local pool.
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.sg = SimpleGate()
        ffn = FFN_Expand * c
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        # Residual scales start at zero, so a fresh block is the identity.
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = torch.addcmul(inp, self.dropout1(x), self.beta)  # inp + x * beta, one pass
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return torch.addcmul(y, self.dropout2(x), self.gamma)


@register_model("nafnet", output=IMAGE, size_multiple=1, infer_config=infer_nafnet_config)
class NAFNet(nn.Module):
    """NAFNet image restorer (the official NAFNet class); pads internally, any H, W.

    Encoder level i works at width * 2**i channels and 1/2**i resolution: 2x2 stride-2 convs
    go down, 1x1 conv + PixelShuffle go up, skips are added (not concatenated).
    """

    def __init__(self, img_channel: int = 3, width: int = 16, middle_blk_num: int = 1,
                 enc_blk_nums: Sequence[int] = (), dec_blk_nums: Sequence[int] = ()):
        super().__init__()
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.middle_blks = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.downs = nn.ModuleList()

        chan = width
        for num in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, 2))
            chan *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(chan) for _ in range(middle_blk_num)])
        for num in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
        self.padder_size = 2 ** len(self.encoders)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        """(B, img_channel, H, W) in [0, 1] -> same shape (input + residual)."""
        H, W = inp.shape[-2:]
        # Zero-pad right/bottom so every downsampling halves exactly; cropped off at the end.
        ph, pw = -H % self.padder_size, -W % self.padder_size
        inp = F.pad(inp, (0, pw, 0, ph))
        # Channels-last maps: depthwise convs run ~2x faster on CPU and LayerNorm2d's
        # channel axis is the contiguous one. The output comes back in the usual layout.
        x = self.intro(inp.contiguous(memory_format=torch.channels_last))
        encs = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            encs.append(x)
            x = down(x)
        x = self.middle_blks(x)
        # zip, as the official code: unequal encoder/decoder counts pair from the bottom.
        for decoder, up, skip in zip(self.decoders, self.ups, encs[::-1]):
            x = decoder(up(x) + skip)
        x = self.ending(x) + inp
        return x[:, :, :H, :W].contiguous()


class LocalAvgPool2d(nn.Module):
    """TLSC local average pool: (B, C, H, W) -> (B, C, H, W) box means, or (B, C, 1, 1).

    Each output pixel is the mean over a ``kernel_size`` window; windows are clipped to the
    map (valid positions only) and the (H-k+1, W-k+1) result is replicate-padded back to
    (H, W), centred. When the window covers the whole map this is the global mean, i.e.
    exactly NAFNet's pool. ``fast_imp`` is the official approximate variant: the integral
    image is taken over every r-th pixel (r <= ``max_r`` and dividing the size), box means
    are computed on that grid and nearest-upsampled by r.
    """

    def __init__(self, kernel_size: tuple[int, int], fast_imp: bool = False,
                 max_r: tuple[int, int] = (5, 5)):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.fast_imp = fast_imp
        self.max_r = tuple(max_r)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, fast_imp={self.fast_imp}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        kh, kw = self.kernel_size
        if kh >= h and kw >= w:
            return F.adaptive_avg_pool2d(x, 1)
        if self.fast_imp:
            r1 = min(self.max_r[0], next(r for r in (5, 4, 3, 2, 1) if h % r == 0))
            r2 = min(self.max_r[1], next(r for r in (5, 4, 3, 2, 1) if w % r == 0))
            s = x[:, :, ::r1, ::r2].cumsum(dim=-1).cumsum(dim=-2)
            sh, sw = s.shape[-2:]
            k1, k2 = min(sh - 1, kh // r1), min(sw - 1, kw // r2)
            out = s[:, :, :-k1, :-k2] - s[:, :, :-k1, k2:] - s[:, :, k1:, :-k2] + s[:, :, k1:, k2:]
            out = F.interpolate(out / (k1 * k2), scale_factor=(r1, r2))  # nearest
        else:
            # Integral image with a leading zero row/column: window sum = 4 corner lookups.
            s = F.pad(x.cumsum(dim=-1).cumsum(dim=-2), (1, 0, 1, 0))
            k1, k2 = min(h, kh), min(w, kw)
            out = s[:, :, k1:, k2:] + s[:, :, :-k1, :-k2] - s[:, :, :-k1, k2:] - s[:, :, k1:, :-k2]
            out = out / (k1 * k2)
        _h, _w = out.shape[-2:]
        pad = ((w - _w) // 2, (w - _w + 1) // 2, (h - _h) // 2, (h - _h + 1) // 2)
        return F.pad(out, pad, mode="replicate")


@register_model("nafnet_local", output=IMAGE, size_multiple=1, infer_config=infer_nafnet_config)
class NAFNetLocal(NAFNet):
    """NAFNet with local (TLSC) channel-attention pooling: the released GoPro/REDS test model.

    Same weights as :class:`NAFNet`. Pool windows are 1.5x the feature size the block saw at
    ``train_size`` (N, C, H, W): for the default 256x256 crops, 384 at full resolution down to
    24 in the middle blocks, so inputs up to 384 px behave like plain NAFNet.
    """

    def __init__(self, *args: Any, train_size: Sequence[int] = (1, 3, 256, 256), fast_imp: bool = False,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.train_size = tuple(train_size)
        self.fast_imp = fast_imp
        # The official code fixes each window with a dummy forward of torch.rand(train_size):
        # kernel = (feature size at train_size) * base_size // train_size, base = int(1.5 * train).
        # Feature sizes follow from shapes alone (the input is padded to padder_size, then
        # halved per level), so we compute them: same numbers, no forward, meta-device safe.
        th, tw = self.train_size[-2:]
        base = (int(th * 1.5), int(tw * 1.5))
        ph, pw = th + -th % self.padder_size, tw + -tw % self.padder_size

        def pool_for(level: int) -> LocalAvgPool2d:
            fh, fw = ph >> level, pw >> level
            return LocalAvgPool2d((fh * base[0] // th, fw * base[1] // tw), fast_imp=fast_imp,
                                  max_r=(max(1, 5 * fh // th), max(1, 5 * fw // tw)))

        n = len(self.encoders)
        levels = [(enc, i) for i, enc in enumerate(self.encoders)] + [(self.middle_blks, n)]
        # Decoder i runs after i + 1 upsamplings from the middle level.
        levels += [(dec, n - 1 - i) for i, dec in enumerate(self.decoders)]
        for blocks, level in levels:
            # A decoder without a matching encoder level never runs (zip in forward).
            for block in blocks if level >= 0 else ():
                block.sca[0] = pool_for(level)

    def pool_kernel_sizes(self) -> dict[str, list[int]]:
        """Window (kh, kw) of every local pool, keyed like the official module names."""
        pools = self.named_modules()
        return {name: list(m.kernel_size) for name, m in pools if isinstance(m, LocalAvgPool2d)}


@register_model("nafnet_translator", output=MULTISCALE, size_multiple=1, infer_config=infer_nafnet_config)
class NAFNetTranslator(NAFNet):
    """NAFNet as the Blur2Blur blur translator (Table 4): returns [1/4, 1/2, full] images.

    ``full`` is plain NAFNet's output; the smaller scales are it nearest-downsampled the way
    MIMO-UNet downsamples its input (scale 0.5, twice), so a multi-scale loss can compare
    them with equally downsampled targets. State dict = NAFNet's: NAFNet files load as is.
    """

    def forward(self, inp: torch.Tensor) -> list[torch.Tensor]:
        full = super().forward(inp)
        half = F.interpolate(full, scale_factor=0.5)
        return [F.interpolate(half, scale_factor=0.5), half, full]
