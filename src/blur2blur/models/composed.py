"""The deblurring model Blur2Blur delivers: ``deblur(x) = D'(G(x))``, one self-describing network.

G (a translator of the registry) turns the camera's blur into the known blur; D' (a deblurrer
of the registry) removes it. Saved with :func:`blur2blur.models.save_checkpoint`, the file
names both architectures and their arguments, so ``load_checkpoint(path)`` rebuilds the pair.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from blur2blur.models.registry import IMAGE, MULTISCALE, create_model, get_spec, register_model


def _part_multiple(net: nn.Module) -> int:
    return getattr(net, "size_multiple", get_spec(net.arch_name).size_multiple)


@register_model("blur2blur", output=IMAGE, size_multiple=1, pad_mode="reflect")
class ComposedDeblurrer(nn.Module):
    """``forward(x) = deblurrer(clamp(translator(x)[-1], 0, 1))`` for (B, 3, H, W) in [0, 1].

    translator / deblurrer: ``{"arch": name, "args": {constructor arguments}}``. ``size_multiple``
    is the least common multiple of the parts' size rules (inference pads to it).
    """

    def __init__(self, translator: dict[str, Any], deblurrer: dict[str, Any]):
        super().__init__()
        self.translator = create_model(translator["arch"], **translator.get("args", {}))
        self.deblurrer = create_model(deblurrer["arch"], **deblurrer.get("args", {}))
        if get_spec(translator["arch"]).output != MULTISCALE:
            raise ValueError(f"{translator['arch']} is not a multi-scale translator")
        self.size_multiple = math.lcm(_part_multiple(self.translator), _part_multiple(self.deblurrer))

    @classmethod
    def from_parts(cls, translator: nn.Module, deblurrer: nn.Module) -> ComposedDeblurrer:
        """Compose two trained networks (built by ``create_model``/``load_checkpoint``) into one."""
        spec = {"translator": {"arch": translator.arch_name, "args": translator.arch_args},
                "deblurrer": {"arch": deblurrer.arch_name, "args": deblurrer.arch_args}}
        model = create_model("blur2blur", **spec)
        model.translator.load_state_dict(translator.state_dict())
        model.deblurrer.load_state_dict(deblurrer.state_dict())
        return model

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """G(x): the image with the known blur instead of the camera's, clamped to [0, 1]."""
        return self.translator(x)[-1].clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.deblurrer(self.translate(x))
        return out[-1] if isinstance(out, (list, tuple)) else out


__all__ = ["ComposedDeblurrer"]
