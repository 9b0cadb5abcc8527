"""VGG feature extractors for perceptual losses (Simonyan & Zisserman, ICLR 2015).

The convolutional ``features`` stack of the standard ImageNet VGG16/VGG19: conv3x3 + ReLU
blocks separated by 2x2 max-pools. Parameter names are ``features.N.weight/bias`` exactly as
in torchvision's weight files (``vgg19-dcbb9e9d.pth``, ``vgg16-397923af.pth``); their
``classifier.*`` tensors are dropped on load, and the stack is cut after the deepest layer
asked for, which saves time and memory.

Layers are named ``conv{block}_{i}``, ``relu{block}_{i}`` and ``pool{block}``; VGG19 has
blocks of 2, 2, 4, 4, 4 convs (VGG16: 2, 2, 3, 3, 3).

Inputs are (B, 3, H, W) RGB in [0, 1]. With ``normalize_input=True`` (default) the module
maps them to the ImageNet mean/std the weights were trained with. The output is a dict
``{layer name: feature map}`` in the order the layers were asked for.

Presets (``layers=`` accepts their names):

* ``"perceptual"``: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (the usual VGG19 set).
* ``"blur2blur"``: what the official Blur2Blur perceptual loss (``models/losses/vgg_loss.py``,
  ``VGGLoss``) really compares. It runs torchvision's *VGG16* and cuts it after features 7,
  14, 17, 21 and 24 (conv2_2, conv3_3, conv4_1, conv4_3, conv5_1). Each following slice starts
  with an in-place ReLU, which overwrites the stored tensor, so the first four maps it compares
  are relu2_2, relu3_3, relu4_1, relu4_3; only the last stays conv5_1, pre-ReLU. It weights
  them 1/32, 1/16, 1/8, 1/4, 1 under a mean L1 loss and feeds [0, 1] images without ImageNet
  normalisation. :data:`BLUR2BLUR_PERCEPTUAL` spells this out; build it with
  ``create_model("vgg16", layers="blur2blur", normalize_input=False)``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from blur2blur.models.registry import OTHER, register_model

log = logging.getLogger(__name__)

_CFGS: dict[int, tuple[int, ...]] = {  # channels per conv; 0 marks a max-pool
    16: (64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0),
    19: (64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0),
}

LAYER_PRESETS: dict[str, tuple[str, ...]] = {
    "perceptual": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "blur2blur": ("relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1"),
}

# The official Blur2Blur perceptual loss: sum_i w_i * mean|f_i(x) - f_i(y)| (see module docstring).
BLUR2BLUR_PERCEPTUAL: dict[str, Any] = {
    "arch": "vgg16",
    "layers": LAYER_PRESETS["blur2blur"],
    "layer_weights": (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0),
    "normalize_input": False,
    "criterion": "l1",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_layer_names(depth: int = 19) -> list[str]:
    """Name of every module in ``features`` of VGG-`depth`, by index."""
    names, block, i = [], 1, 1
    for c in _CFGS[depth]:
        if c:
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            i += 1
        else:
            names.append(f"pool{block}")
            block, i = block + 1, 1
    return names


def _make_features(depth: int, n_modules: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_c = 3
    for c in _CFGS[depth]:
        if c:
            layers += [nn.Conv2d(in_c, c, 3, padding=1), nn.ReLU()]  # not in-place: taps stay intact
            in_c = c
        else:
            layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[:n_modules])


def _standard_subset(sd: dict[str, torch.Tensor], keep: set[str]) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a standard VGG file that a truncated stack uses.

    Drops ``classifier.*`` and the deeper ``features.*``; anything else is an error. Accepts a
    bare features Sequential (keys ``N.weight``) as well.
    """
    if sd and all(re.match(r"\d+\.(weight|bias)$", k) for k in sd):
        sd = {f"features.{k}": v for k, v in sd.items()}
    foreign = [k for k in sd if not (k.startswith("classifier.") or re.match(r"features\.\d+\.(weight|bias)$", k))]
    if foreign:
        raise ValueError(f"not a VGG weight file: unexpected keys {foreign[:5]}")
    return {k: v for k, v in sd.items() if k in keep}


class _VGGFeatures(nn.Module):
    depth = 19
    hub_name = "vgg19"

    def __init__(self, layers: str | Sequence[str] = "perceptual", *, normalize_input: bool = True,
                 weights: str | os.PathLike | None = "imagenet", requires_grad: bool = False):
        super().__init__()
        names = vgg_layer_names(self.depth)
        if isinstance(layers, str):
            if layers not in LAYER_PRESETS:
                raise ValueError(f"unknown layer preset {layers!r}; presets: {sorted(LAYER_PRESETS)} "
                                 "(or pass a list of layer names)")
            layers = LAYER_PRESETS[layers]
        layers = tuple(layers)
        unknown = [n for n in layers if n not in names]
        if not layers or unknown:
            raise ValueError(f"unknown VGG{self.depth} layer(s) {unknown or '(none given)'}; "
                             f"valid: {', '.join(names)}")
        self.layers = layers
        self._taps = {names.index(n): n for n in layers}
        self.features = _make_features(self.depth, max(self._taps) + 1)
        self.normalize_input = normalize_input
        # Not saved in the state dict, so our keys equal the standard file's.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

        if weights == "imagenet":
            from blur2blur import hub

            self.load_standard_weights(hub.fetch(self.hub_name))
        elif weights == "random":
            self._init_random()
            log.warning("VGG%d features with RANDOM weights (weights='random'): perceptual losses computed "
                        "with them are not meaningful; use weights='imagenet' for real training", self.depth)
        elif weights is None:
            # For loaders that put a state dict in right after (e.g. blur2blur.models.load_checkpoint).
            log.debug("VGG%d built without weights; the caller is expected to load a state dict", self.depth)
        elif isinstance(weights, (str, os.PathLike)):
            self.load_standard_weights(weights)
        else:
            raise ValueError(f"weights must be 'imagenet', 'random', a file path or None; got {weights!r}")

        self.requires_grad_(requires_grad)
        self.eval()

    def _init_random(self) -> None:
        # torchvision's VGG initialisation, so random features at least have sane magnitudes.
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def load_standard_weights(self, source: str | os.PathLike | dict[str, torch.Tensor]) -> _VGGFeatures:
        """Load a standard VGG file or state dict (classifier and deeper layers are ignored)."""
        if isinstance(source, dict):
            sd, where = source, "state dict"
        else:
            from blur2blur.models.checkpoint import read_state_dict

            sd, _ = read_state_dict(source)
            where = str(source)
        ours = self.state_dict()
        try:
            sd = _standard_subset(sd, set(ours))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        missing = [k for k in ours if k not in sd]
        wrong = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in ours.items() if k in sd and sd[k].shape != v.shape]
        if missing or wrong:
            raise ValueError(f"{where} does not fit VGG{self.depth} features: "
                             + "; ".join(filter(None, [f"missing {missing[:5]}" if missing else "", *wrong[:5]])))
        self.load_state_dict(sd, strict=True)
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> {layer name: (B, C, H / 2**k, W / 2**k)}, in ``self.layers`` order."""
        if self.normalize_input:
            x = (x - self.mean) / self.std
        found: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                found[self._taps[i]] = x
        return {name: found[name] for name in self.layers}


def _infer_vgg(depth: int):
    def infer(sd: dict[str, torch.Tensor]) -> dict[str, Any] | None:
        """Arguments for a features-only VGG state dict (as we save it), or None."""
        idx = sorted({int(m.group(1)) for k in sd if (m := re.match(r"features\.(\d+)\.weight$", k))})
        if not idx or any(not re.match(r"features\.\d+\.(weight|bias)$", k) for k in sd):
            return None
        names = vgg_layer_names(depth)
        if idx[-1] >= len(names) or not all(names[i].startswith("conv") for i in idx):
            return None
        return {"layers": [names[idx[-1] + 1]], "normalize_input": True, "weights": None}

    return infer


@register_model("vgg19", output=OTHER, infer_config=_infer_vgg(19))
class VGG19Features(_VGGFeatures):
    """VGG19 ImageNet features for perceptual losses; returns {layer: feature map}.

    Args:
        layers: layer names (``relu3_1``, ``conv5_1``, ``pool2``, ...) or a preset name
            (``"perceptual"``, ``"blur2blur"``); outputs come in this order.
        normalize_input: map [0, 1] RGB to the ImageNet mean/std inside the module.
        weights: ``"imagenet"`` (torchvision's file through :mod:`blur2blur.hub`: cached,
            checksum-verified, downloaded if needed), a path to a standard VGG19 file,
            ``"random"`` (explicit opt-in, logs a warning), or None (load a state dict yourself).
        requires_grad: parameters are frozen unless True. The module starts in eval mode.
    """

    depth = 19
    hub_name = "vgg19"


@register_model("vgg16", output=OTHER, infer_config=_infer_vgg(16))
class VGG16Features(_VGGFeatures):
    """VGG16 ImageNet features (the network of the official Blur2Blur perceptual loss).

    Same arguments as :class:`VGG19Features`; ``weights="imagenet"`` fetches torchvision's
    ``vgg16-397923af.pth``.
    """

    depth = 16
    hub_name = "vgg16"


__all__ = [
    "BLUR2BLUR_PERCEPTUAL",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LAYER_PRESETS",
    "VGG16Features",
    "VGG19Features",
    "vgg_layer_names",
]
