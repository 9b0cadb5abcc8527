"""A small registry of architectures: name -> constructor, plus what inference needs to know.

Every architecture file registers its public classes with :func:`register_model`. The
registry is what lets :func:`create_model` build a network by name, lets our checkpoints
describe themselves (architecture name + constructor arguments), and lets the checkpoint
loader recognise an official weight file by its keys and shapes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

# Output structures a registered model can have.
IMAGE = "image"  # forward returns one (B,3,H,W) tensor
MULTISCALE = "multiscale"  # forward returns [1/4, 1/2, full] tensors; the image is the last
OTHER = "other"  # discriminators, feature extractors, kernel extractors: not image-to-image


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture."""

    name: str
    constructor: Callable[..., nn.Module]
    output: str
    # H and W the bare forward needs to be multiples of (1 = the model pads internally).
    size_multiple: int
    # How the inference wrapper pads up to `size_multiple` ("reflect", "replicate", "constant").
    pad_mode: str
    # Guesses constructor arguments from a state dict; None when it cannot. Used to say
    # which configuration a mismatching file looks like, and to load official files by path.
    infer_config: Callable[[dict[str, torch.Tensor]], dict[str, Any] | None] | None
    summary: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    output: str,
    size_multiple: int = 1,
    pad_mode: str = "reflect",
    infer_config: Callable[[dict[str, torch.Tensor]], dict[str, Any] | None] | None = None,
):
    """Class decorator: register `cls` under `name`.

    The class docstring's first line becomes the summary shown by ``blur2blur models``.
    """
    if output not in (IMAGE, MULTISCALE, OTHER):
        raise ValueError(f"unknown output kind {output!r}")

    def decorator(cls):
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is registered twice")
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else name
        _REGISTRY[name] = ModelSpec(name, cls, output, size_multiple, pad_mode, infer_config, summary)
        return cls

    return decorator


def _ensure_loaded() -> None:
    # Importing the package registers every architecture (each file decorates its classes).
    from blur2blur import models  # noqa: F401


def list_models() -> list[str]:
    """Names of all registered architectures, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of `name`; a clear error lists the known names."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build architecture `name` with the reference implementation's constructor arguments.

    The model remembers its name and arguments (``model.arch_name``, ``model.arch_args``) so
    that :func:`blur2blur.models.save_checkpoint` can write a self-describing file.
    """
    spec = get_spec(name)
    model = spec.constructor(**kwargs)
    model.arch_name = name
    model.arch_args = copy.deepcopy(kwargs)
    return model


def spec_of(model: nn.Module) -> ModelSpec | None:
    """The spec of a model built by :func:`create_model` (None for foreign modules)."""
    name = getattr(model, "arch_name", None)
    return get_spec(name) if name else None
