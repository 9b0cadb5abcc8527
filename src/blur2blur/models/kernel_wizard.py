"""KernelWizard (Tran et al., "Explore Image Deblurring via Encoded Blur Kernel Space", CVPR 2021).

A learned blur operator. From a (sharp, blurry) pair it encodes the blur as a *kernel map*,
a low-resolution tensor of ``kernel_dim`` channels; it can then put that blur onto any other
sharp image. Blur2Blur uses the released GoPro model to turn sharp images into blurry ones
"as if taken with the known camera": ``kernel = mean + sigma * noise`` from a known pair, then
``blurry = apply_kernel(sharp, kernel)``.

Network (all parameter names equal the official ``models/kernel_encoding/kernel_wizard.py``,
so the released ``GOPRO_woVAE.pth``, a raw state dict, loads strictly):

* ``feature_extractor`` (shared by both branches): conv3x3, two conv3x3/stride-2 (H/4),
  LeakyReLU(0.1) after each, then ``front_RBs`` residual blocks (conv-ReLU-conv + identity).
* ``kernel_extractor`` (the paper's F): on ``cat(sharp_feat, blur_feat)``, a reflect-padded
  conv7x7, five conv3x3/stride-2 (H/128), ReLU after each, then ``n_blocks`` pix2pix ResNet
  blocks. Output ``kernel_dim`` channels, or ``2*kernel_dim`` (mean, sigma) with the VAE.
* ``adapter`` (the paper's G): a 5-level pix2pix U-Net over the ``nf``-channel sharp features;
  the kernel map is concatenated at the innermost level (H/128), and the outermost level ends
  in Tanh.
* ``recon_trunk``: ``back_RBs`` residual blocks, two PixelShuffle x2 upsamplings (the second
  one with a fixed 64 channels, whatever ``nf``), conv to RGB; the result is added to the sharp
  image (not clamped).

Images are (B, 3, H, W) RGB in [0, 1], as the official data pipeline feeds them.

Sizes (checked here with clear errors; the official code fails deep inside instead):

* :meth:`KernelWizard.encode` needs H, W >= 129: the kernel map must be at least 2x2 for the
  reflect padding of the extractor's ResNet blocks. Map size: ``ceil(ceil(H/4)/32)``.
* :meth:`KernelWizard.apply_kernel` needs H, W multiples of 128 and a kernel map of exactly
  (H/128, W/128). Use :meth:`KernelWizard.apply_kernel_padded` for other sizes.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from blur2blur.models.registry import OTHER, register_model
from blur2blur.ops import pad_right_bottom

# Total down-sampling of the image inside the adapter path: H/4 features, then a 5-level U-Net.
APPLY_MULTIPLE = 128

_DEFAULT_EXTRACTOR = {"norm": "none", "use_sharp": True, "n_blocks": 4, "padding_type": "reflect",
                      "use_dropout": False}
_DEFAULT_ADAPTER = {"norm": "none", "use_dropout": False}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def kernel_map_size(height: int, width: int) -> tuple[int, int]:
    """Spatial size of the kernel map :meth:`KernelWizard.encode` returns for an H x W image.

    Two stride-2 convs in the feature extractor (``ceil(H/4)``) then five in the kernel
    extractor (``ceil(./32)``); every stride-2 conv3x3 with padding 1 rounds up.
    """
    return _ceil_div(_ceil_div(height, 4), 32), _ceil_div(_ceil_div(width, 4), 32)


# --------------------------------------------------------------------------- building blocks


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.1)  # the slope of the official feature extractor and reconstruction


def _norm_layer(kind: str):
    """(factory, use_bias) for the official ``get_norm_layer`` names.

    The official code gives convs a bias only with instance norm (batch norm has its own
    shift; 'none' just has no bias). 'none' still inserts an Identity, which takes up an index
    in the nn.Sequential: that is why the official keys skip numbers (model.1, model.4, ...).
    """
    if kind == "none":
        return (lambda c: nn.Identity()), False
    if kind == "instance":
        return (lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)), True
    if kind == "batch":
        return (lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)), False
    raise ValueError(f"unknown norm {kind!r}; expected 'none', 'instance' or 'batch'")


class ResidualBlockNoBN(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus identity (the official ``ResidualBlock_noBN``)."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        # Official init: Kaiming-normal scaled by 0.1, so the stacked residuals start near identity.
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ResnetBlock(nn.Module):
    """The pix2pix ResNet block: [pad, conv3x3, norm, ReLU, (dropout), pad, conv3x3, norm] + x."""

    def __init__(self, dim: int, padding_type: str, norm: str, use_dropout: bool):
        super().__init__()
        make_norm, use_bias = _norm_layer(norm)
        pads = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": None}
        if padding_type not in pads:
            raise ValueError(f"unknown padding_type {padding_type!r}; expected one of {sorted(pads)}")
        pad_cls = pads[padding_type]
        conv_pad = 1 if pad_cls is None else 0
        layers: list[nn.Module] = []
        for second in (False, True):
            if pad_cls is not None:
                layers.append(pad_cls(1))
            layers += [nn.Conv2d(dim, dim, 3, padding=conv_pad, bias=use_bias), make_norm(dim)]
            if not second:
                layers.append(nn.ReLU())
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class KernelExtractor(nn.Module):
    """F: (sharp features, blurry features) -> kernel map (mean[, sigma]) at 1/32 of their size."""

    def __init__(self, nf: int, kernel_dim: int, use_vae: bool, norm: str = "none", use_sharp: bool = True,
                 n_blocks: int = 4, padding_type: str = "reflect", use_dropout: bool = False):
        super().__init__()
        self.kernel_dim = kernel_dim
        self.use_vae = use_vae
        self.use_sharp = use_sharp
        make_norm, use_bias = _norm_layer(norm)
        in_c = 2 * nf if use_sharp else nf
        out_c = 2 * kernel_dim if use_vae else kernel_dim

        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_c, nf, 7, padding=0, bias=use_bias),
                                   make_norm(nf), nn.ReLU()]
        for i in range(5):  # five stride-2 convs; the width doubles, capped at the output width
            # (official batch-norm layers are sized nf*2**(i+1) even when capped, which fails at run
            # time; they are sized c_out here. With 'none'/'instance' there is no difference.)
            c_in, c_out = min(nf * 2**i, out_c), min(nf * 2 ** (i + 1), out_c)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=use_bias), make_norm(c_out), nn.ReLU()]
        layers += [ResnetBlock(out_c, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        self.model = nn.Sequential(*layers)

    def forward(self, sharp_feat: torch.Tensor, blur_feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat((sharp_feat, blur_feat), dim=1) if self.use_sharp else blur_feat
        out = self.model(x)
        if self.use_vae:
            return out[:, : self.kernel_dim], out[:, self.kernel_dim:]
        # Deterministic encoder: a zero sigma keeps ``mean + sigma * noise`` valid downstream.
        return out, torch.zeros_like(out)


# KernelWizard's constructor argument is named like the official option (``KernelExtractor=dict(...)``)
# and shadows this class inside __init__; the alias keeps it reachable there.
_KernelExtractorNet = KernelExtractor


class UnetSkipBlock(nn.Module):
    """One level of the pix2pix U-Net; the innermost level also takes the kernel map.

    down: [LeakyReLU(0.2)], conv4x4/s2, [norm]; up: ReLU, convT4x4/s2, [norm] (or Tanh outermost).
    Every level except the outermost returns ``cat(up, x)``.
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: UnetSkipBlock | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "none", kernel_dim: int = 0, use_dropout: bool = False):
        super().__init__()
        self.outermost, self.innermost = outermost, innermost
        make_norm, use_bias = _norm_layer(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        # The official LeakyReLU/ReLU are in-place; out-of-place gives the same numbers here
        # (the skip tensor is only ever read through a following ReLU: ReLU(LReLU(x)) = ReLU(x)).
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        if outermost:
            self.down = nn.Sequential(downconv)
            self.submodule = submodule
            self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh())
        elif innermost:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), downconv)
            # The official layer takes inner_nc * 2 channels, which is only right when
            # kernel_dim == inner_nc (8 * nf, true for every released model); inner_nc + kernel_dim
            # is the same number there and also works otherwise.
            self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inner_nc + kernel_dim, outer_nc, 4, 2, 1,
                                                                  bias=use_bias), make_norm(outer_nc))
        else:
            self.down = nn.Sequential(nn.LeakyReLU(0.2), downconv, make_norm(inner_nc))
            self.submodule = submodule
            up = [nn.ReLU(), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=use_bias), make_norm(outer_nc)]
            if use_dropout:
                up.append(nn.Dropout(0.5))
            self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        if self.innermost:
            return torch.cat((self.up(torch.cat((self.down(x), kernel), dim=1)), x), dim=1)
        y = self.up(self.submodule(self.down(x), kernel))
        return y if self.outermost else torch.cat((y, x), dim=1)


class KernelAdapter(nn.Module):
    """G: (sharp features (B, nf, h, w), kernel map (B, kernel_dim, h/32, w/32)) -> blurry features."""

    def __init__(self, nf: int, kernel_dim: int, norm: str = "none"):
        super().__init__()
        block = UnetSkipBlock(nf * 8, nf * 8, innermost=True, norm=norm, kernel_dim=kernel_dim)
        block = UnetSkipBlock(nf * 4, nf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(nf * 2, nf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(nf, nf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(nf, nf, input_nc=nf, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return self.model(x, kernel)


# --------------------------------------------------------------------------- the model


def infer_kernel_wizard_config(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
    """Constructor arguments of the KernelWizard with state dict `sd`, or None if not one.

    nf and input_nc come from ``feature_extractor.0.weight``; the block counts from the
    indices; kernel_dim from the adapter's innermost up-conv (it reads 8*nf + kernel_dim
    channels); VAE vs woVAE from the extractor width (2*kernel_dim channels with the VAE).
    Norm and padding choices change which keys exist (biases, running stats, index shifts).
    """
    required = ("feature_extractor.0.weight", "kernel_extractor.model.1.weight", "adapter.model.down.0.weight",
                "adapter.model.up.1.weight")
    if not all(k in sd for k in required):
        return None
    nf, input_nc = (int(s) for s in sd["feature_extractor.0.weight"].shape[:2])

    def indices(pattern: str) -> set[int]:
        return {int(m.group(1)) for k in sd if (m := re.match(pattern, k))}

    front = indices(r"feature_extractor\.(\d+)\.conv1\.weight$")
    back = indices(r"recon_trunk\.(\d+)\.conv1\.weight$")
    blocks = indices(r"kernel_extractor\.model\.(\d+)\.conv_block\.")
    inner = "adapter.model" + ".submodule" * 4 + ".up.1.weight"
    if inner not in sd or "kernel_extractor.model.16.weight" not in sd:
        return None
    kernel_dim = int(sd[inner].shape[0]) - 8 * nf
    out_c = int(sd["kernel_extractor.model.16.weight"].shape[0])
    if kernel_dim <= 0 or out_c not in (kernel_dim, 2 * kernel_dim):
        return None

    def norm_of(bias_key: str, stats_key: str) -> str:
        if stats_key in sd:
            return "batch"
        return "instance" if bias_key in sd else "none"

    ext_norm = norm_of("kernel_extractor.model.1.bias", "kernel_extractor.model.2.running_mean")
    ada_norm = norm_of("adapter.model.submodule.down.1.bias", "adapter.model.submodule.down.2.running_mean")
    first_block = min(blocks) if blocks else None
    padding_type, use_dropout = "reflect", False
    if first_block is not None:
        convs = indices(rf"kernel_extractor\.model\.{first_block}\.conv_block\.(\d+)\.weight$")
        if ext_norm == "batch":  # BatchNorm weights also end in .weight: keep 4-D (conv) ones only
            convs = {i for i in convs
                     if sd[f"kernel_extractor.model.{first_block}.conv_block.{i}.weight"].dim() == 4}
        first, second = sorted(convs)[:2]
        padding_type = "zero" if first == 0 else "reflect"  # replicate and reflect look the same
        # With a pad layer: pad, conv, norm, ReLU, [dropout], pad, conv -> the convs are 4 apart
        # (5 with dropout); zero padding: conv, norm, ReLU, [dropout], conv -> 3 apart (4).
        use_dropout = (second - first) == (4 if padding_type == "zero" else 5)
    return {
        "input_nc": input_nc,
        "nf": nf,
        "front_RBs": len(front),
        "back_RBs": len(back),
        "N_frames": 1,
        "kernel_dim": kernel_dim,
        "use_vae": out_c == 2 * kernel_dim,
        "KernelExtractor": {
            "norm": ext_norm,
            "use_sharp": int(sd["kernel_extractor.model.1.weight"].shape[1]) == 2 * nf,
            "n_blocks": len(blocks),
            "padding_type": padding_type,
            "use_dropout": use_dropout,
        },
        "Adapter": {"norm": ada_norm, "use_dropout": False},
    }


@register_model("kernel_wizard", output=OTHER, size_multiple=APPLY_MULTIPLE, pad_mode="reflect",
                infer_config=infer_kernel_wizard_config)
class KernelWizard(nn.Module):
    """KernelWizard blur encoder/re-blurrer: encode(sharp, blurry) -> kernel; apply_kernel(sharp, kernel).

    Arguments are the official option names (``options/generate_blur/*.yml``); the defaults are
    the released GoPro model. ``pretrained`` and ``type`` (present in the official yml) are
    accepted and ignored: load weights with :func:`blur2blur.models.load_weights`.

    ``Adapter['use_dropout']`` is accepted but, as in the official code, not used.
    ``N_frames`` is unused as well. With ``KernelExtractor['use_sharp']=False`` the extractor
    sees only the blurry features (the official code would fail with that setting).
    """

    def __init__(self, input_nc: int = 3, nf: int = 64, front_RBs: int = 10, back_RBs: int = 20, N_frames: int = 1,
                 kernel_dim: int = 512, use_vae: bool = False, KernelExtractor: dict | None = None,
                 Adapter: dict | None = None, pretrained: str | None = None, type: str | None = None):
        super().__init__()
        ext = {**_DEFAULT_EXTRACTOR, **(KernelExtractor or {})}
        ada = {**_DEFAULT_ADAPTER, **(Adapter or {})}
        unknown = (set(ext) - set(_DEFAULT_EXTRACTOR)) | (set(ada) - set(_DEFAULT_ADAPTER))
        if unknown:
            raise ValueError(f"unknown KernelWizard option(s): {sorted(unknown)}")
        if type not in (None, "KernelWizard"):
            raise ValueError(f"type={type!r}: this class is KernelWizard")
        out_c = 2 * kernel_dim if use_vae else kernel_dim
        if out_c > 32 * nf:
            # The extractor's stride-2 convs widen to at most 32*nf channels.
            raise ValueError(f"kernel_dim={kernel_dim}{' (x2 with use_vae)' if use_vae else ''} "
                             f"must be at most 32*nf={32 * nf}")
        self.input_nc, self.nf, self.kernel_dim, self.use_vae = input_nc, nf, kernel_dim, use_vae
        self.n_frames = N_frames
        self.padding_type, self.n_blocks = ext["padding_type"], ext["n_blocks"]

        self.feature_extractor = nn.Sequential(
            nn.Conv2d(input_nc, nf, 3, 1, 1), _lrelu(),
            nn.Conv2d(nf, nf, 3, 2, 1), _lrelu(),
            nn.Conv2d(nf, nf, 3, 2, 1), _lrelu(),
            *[ResidualBlockNoBN(nf) for _ in range(front_RBs)],
        )
        self.kernel_extractor = _KernelExtractorNet(nf, kernel_dim, use_vae, **ext)
        self.adapter = KernelAdapter(nf, kernel_dim, norm=ada["norm"])
        self.recon_trunk = nn.Sequential(
            *[ResidualBlockNoBN(nf) for _ in range(back_RBs)],
            nn.Conv2d(nf, nf * 4, 3, 1, 1), nn.PixelShuffle(2), _lrelu(),
            nn.Conv2d(nf, 64 * 4, 3, 1, 1), nn.PixelShuffle(2), _lrelu(),  # fixed 64 channels (official)
            nn.Conv2d(64, 64, 3, 1, 1), _lrelu(),
            nn.Conv2d(64, input_nc, 3, 1, 1),
        )

    # ----------------------------------------------------------------- sizes

    @property
    def min_encode_size(self) -> int:
        """Smallest H (and W) :meth:`encode` accepts.

        The reflect-padded ResNet blocks need a kernel map of at least 2x2 (H >= 129);
        without them, the extractor's 7x7 reflect pad needs ceil(H/4) >= 4 (H >= 13).
        """
        return 129 if (self.padding_type == "reflect" and self.n_blocks > 0) else 13

    @staticmethod
    def kernel_map_size(height: int, width: int) -> tuple[int, int]:
        """Kernel map (h, w) for an H x W image: ``ceil(ceil(H/4)/32)``; see :func:`kernel_map_size`."""
        return kernel_map_size(height, width)

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """Canvas the padded helpers use: multiples of 128, at least :attr:`min_encode_size`."""
        m = APPLY_MULTIPLE
        lo = _ceil_div(self.min_encode_size, m) * m
        return max(_ceil_div(height, m) * m, lo), max(_ceil_div(width, m) * m, lo)

    def _check_image(self, x: torch.Tensor, name: str) -> None:
        if x.dim() != 4 or x.shape[1] != self.input_nc:
            raise ValueError(f"{name} must be (B, {self.input_nc}, H, W); got {tuple(x.shape)}")

    # ----------------------------------------------------------------- public API

    def encode(self, sharp: torch.Tensor, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kernel map of the blur that turns `sharp` into `blurry` (the official ``forward``).

        sharp, blurry: (B, 3, H, W) in [0, 1], the same size, H, W >= 129.
        Returns ``(mean, sigma)``, each (B, kernel_dim, ceil(ceil(H/4)/32), ceil(ceil(W/4)/32));
        sigma is all zeros without the VAE. Draw a kernel with :meth:`sample_kernel`.
        """
        self._check_image(sharp, "sharp")
        self._check_image(blurry, "blurry")
        if sharp.shape != blurry.shape:
            raise ValueError(f"sharp {tuple(sharp.shape)} and blurry {tuple(blurry.shape)} must have the same shape")
        h, w = sharp.shape[-2:]
        if min(h, w) < self.min_encode_size:
            raise ValueError(
                f"KernelWizard.encode needs H, W >= {self.min_encode_size}; got {h}x{w}. The kernel map "
                f"(ceil(ceil(H/4)/32) = {kernel_map_size(h, w)}) must be at least 2x2 for the reflect-padded "
                "ResNet blocks; pad the pair (encode_padded does) or use larger crops")
        return self.kernel_extractor(self.feature_extractor(sharp), self.feature_extractor(blurry))

    def forward(self, sharp: torch.Tensor, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as :meth:`encode` (the official ``forward(x_sharp, x_blur)``)."""
        return self.encode(sharp, blurry)

    @staticmethod
    def sample_kernel(mean: torch.Tensor, sigma: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """``mean + sigma * N(0, 1)``: the kernel Blur2Blur applies (equals mean when sigma is 0)."""
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + sigma * noise

    def apply_kernel(self, sharp: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Blur `sharp` with `kernel` (the official ``adaptKernel``).

        sharp: (B, 3, H, W) in [0, 1] with H, W multiples of 128.
        kernel: (B or 1, kernel_dim, H/128, W/128).
        Returns (B, 3, H, W) = sharp + predicted residual (not clamped; roughly [0, 1]).
        """
        self._check_image(sharp, "sharp")
        b, _, h, w = sharp.shape
        m = APPLY_MULTIPLE
        if h % m or w % m:
            raise ValueError(f"KernelWizard.apply_kernel needs H, W multiples of {m}; got {h}x{w}. "
                             "Use apply_kernel_padded, which pads and crops back")
        want = (self.kernel_dim, h // m, w // m)
        if kernel.dim() != 4 or tuple(kernel.shape[1:]) != want or kernel.shape[0] not in (1, b):
            raise ValueError(f"kernel must be (B, {want[0]}, H/{m}, W/{m}) = ({b}, {want[0]}, {want[1]}, {want[2]}) "
                             f"for a {h}x{w} image; got {tuple(kernel.shape)}")
        if kernel.shape[0] != b:
            kernel = kernel.expand(b, -1, -1, -1)
        out = self.recon_trunk(self.adapter(self.feature_extractor(sharp), kernel))
        return out + sharp

    def apply_kernel_padded(self, sharp: torch.Tensor, kernel: torch.Tensor, mode: str = "reflect") -> torch.Tensor:
        """:meth:`apply_kernel` for any H, W: pad `sharp` to the kernel's canvas, apply, crop back.

        The canvas is ``(128*h_k, 128*w_k)`` for a kernel map of size (h_k, w_k); it must be at
        least H x W. Get a matching kernel with :meth:`encode_padded` on a (sharp, blurry) pair of
        the same H x W, or draw one of size ``padded_size(H, W) // 128``. Returns (B, 3, H, W).
        """
        self._check_image(sharp, "sharp")
        h, w = sharp.shape[-2:]
        if kernel.dim() != 4:
            raise ValueError(f"kernel must be (B, {self.kernel_dim}, h, w); got {tuple(kernel.shape)}")
        th, tw = kernel.shape[-2] * APPLY_MULTIPLE, kernel.shape[-1] * APPLY_MULTIPLE
        if th < h or tw < w:
            ph, pw = _ceil_div(h, APPLY_MULTIPLE), _ceil_div(w, APPLY_MULTIPLE)
            raise ValueError(f"a {tuple(kernel.shape[-2:])} kernel map covers {th}x{tw} pixels, smaller than the "
                             f"{h}x{w} image; it needs at least ({ph}, {pw}) (ceil(H/128), ceil(W/128))")
        return self.apply_kernel(pad_right_bottom(sharp, th, tw, mode), kernel)[..., :h, :w]

    def encode_padded(self, sharp: torch.Tensor, blurry: torch.Tensor,
                      mode: str = "reflect") -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode` on the pair padded to :meth:`padded_size` (any H, W).

        The kernel map then describes the padded canvas, so it fits :meth:`apply_kernel_padded`
        for any sharp image of the same H x W. Padding adds content the blur estimate sees, so
        prefer real crops of >= 256 pixels where the data allows.
        """
        th, tw = self.padded_size(*sharp.shape[-2:])
        return self.encode(pad_right_bottom(sharp, th, tw, mode), pad_right_bottom(blurry, th, tw, mode))


__all__ = [
    "APPLY_MULTIPLE",
    "KernelAdapter",
    "KernelExtractor",
    "KernelWizard",
    "infer_kernel_wizard_config",
    "kernel_map_size",
]
