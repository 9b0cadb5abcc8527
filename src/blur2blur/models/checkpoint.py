"""Reading and writing weights: official checkpoint formats and our self-describing one.

Official files come in a handful of containers: ``{'params': sd}`` (BasicSR: NAFNet,
Restormer), ``{'model': sd}`` (MIMO-UNet), ``{'state_dict': sd}``, or a bare state dict
(Blur2Blur, KernelWizard), sometimes with a ``module.`` prefix on every key (DataParallel).
They are read with ``torch.load(weights_only=True)`` only: we never unpickle arbitrary
objects from a file somebody downloaded.

Our own checkpoints are safetensors files whose metadata holds one JSON header under the
key ``blur2blur``: ``{"format_version": 1, "arch": name, "args": {...}, "info": {...}}``,
so ``load_checkpoint(path)`` can rebuild the model knowing nothing but the path.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

from blur2blur.fileio import atomic_path
from blur2blur.models.registry import _ensure_loaded, create_model, get_spec, list_models

FORMAT_VERSION = 1
HEADER_KEY = "blur2blur"
# Containers that official repositories wrap their state dicts in, most specific first.
_CONTAINER_KEYS = ("params", "params_ema", "model", "state_dict", "net", "generator")
# When an official file fits several architectures (same weights, different forward),
# prefer the one the official test code builds: NAFNet's released test configs use NAFNetLocal.
_PREFERENCE = ("nafnet_local", "restormer", "mimo_unet_plus", "mimo_unet", "b2b_translator",
               "b2b_discriminator", "kernel_wizard", "unet_translator", "vgg19")

StateDict = dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """A file is not a checkpoint, is damaged, or does not fit the model."""


# --------------------------------------------------------------------------- reading


def _is_safetensors(path: Path) -> bool:
    # safetensors: 8-byte little-endian header length, then a JSON object.
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < n < path.stat().st_size


def _tensor_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path: str | os.PathLike) -> tuple[StateDict, dict[str, Any]]:
    """Read the weights in `path`, whatever the container.

    Returns ``(state_dict, info)``; ``info`` holds ``format`` (how the file was wrapped),
    ``prefix_stripped`` and, for our own files, ``header`` (the JSON header).
    Raises :class:`CheckpointError` naming the file for anything that is not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")

    if _is_safetensors(path):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                sd = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{path}: damaged safetensors file ({e})") from e
        info: dict[str, Any] = {"format": "safetensors", "prefix_stripped": False}
        if HEADER_KEY in meta:
            try:
                info["header"] = json.loads(meta[HEADER_KEY])
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{path}: the blur2blur header is not valid JSON ({e})") from e
            info["format"] = "blur2blur"
        return sd, info

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        text = str(e)
        if "Weights only load failed" in text or "weights_only" in text:
            reason = ("it contains pickled Python objects besides tensors, which we refuse to "
                      "execute; re-save it as a plain state dict or safetensors")
        else:
            reason = (f"it is not a PyTorch or safetensors checkpoint, or it is truncated "
                      f"({path.stat().st_size} bytes; {text.splitlines()[0] if text else type(e).__name__})")
        raise CheckpointError(f"{path}: cannot read weights: {reason}") from e

    fmt = "raw state_dict"
    if not _tensor_dict(obj):
        for key in _CONTAINER_KEYS:
            if isinstance(obj, dict) and _tensor_dict(obj.get(key)):
                obj, fmt = obj[key], f"{{'{key}': state_dict}}"
                break
        else:
            what = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
            raise CheckpointError(f"{path}: no state dict found in the file (it holds {what})")
    sd, stripped = _strip_prefix(obj)
    return sd, {"format": fmt, "prefix_stripped": stripped}


def _strip_prefix(sd: StateDict) -> tuple[StateDict, bool]:
    # DataParallel/DDP save every key as "module.<name>"; the bare module has no prefix.
    if all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}, True
    return dict(sd), False


# --------------------------------------------------------------------------- matching


def _describe_mismatch(expected: dict[str, torch.Size], got: StateDict, limit: int = 5) -> list[str]:
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong = [f"{k}: file {tuple(got[k].shape)} vs model {tuple(expected[k])}"
             for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k])]
    lines = []
    for title, items in (("missing in the file", missing), ("not in the model", unexpected),
                         ("shape differs", wrong)):
        if items:
            more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
            lines.append(f"{title} ({len(items)}): {', '.join(items[:limit])}{more}")
    return lines


def _shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


def identify_weights(sd: StateDict) -> list[tuple[str, dict[str, Any]]]:
    """Architectures and constructor arguments whose state dict equals `sd` in keys and shapes.

    Ordered by preference (what an official file most likely is). Empty if nothing fits.
    """
    _ensure_loaded()
    order = [n for n in _PREFERENCE if n in list_models()] + [n for n in list_models() if n not in _PREFERENCE]
    found = []
    for name in order:
        spec = get_spec(name)
        if spec.infer_config is None:
            continue
        try:
            args = spec.infer_config(sd)
        except Exception:  # a guesser must not break identification of other architectures
            args = None
        if args is None:
            continue
        with torch.device("meta"):
            try:
                candidate = spec.constructor(**args)
            except Exception:
                continue
        if not _describe_mismatch(_shapes(candidate), sd):
            found.append((name, args))
    return found


def _format_candidates(cands: list[tuple[str, dict[str, Any]]]) -> str:
    if not cands:
        return "it matches no architecture we know"
    return "it looks like " + " or ".join(f"{n}({_fmt_args(a)})" for n, a in cands[:3])


def _fmt_args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def non_finite_tensors(sd: StateDict) -> list[str]:
    """Names of the floating-point tensors of `sd` that hold a NaN or an infinity (damaged weights)."""
    return [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def _refuse_non_finite(where: str, sd: StateDict) -> None:
    bad = non_finite_tensors(sd)
    if bad:
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise CheckpointError(f"{where}: {len(bad)} of {len(sd)} tensors hold NaN or infinite values "
                              f"({', '.join(bad[:5])}{more}); the weights are damaged (a diverged training?) "
                              "and would give black images")


def load_weights(model: nn.Module, source: str | os.PathLike | StateDict) -> nn.Module:
    """Load weights into `model` strictly: every key present, no extra key, every shape equal.

    `source` is a path (any official container or ours) or a state dict. On a mismatch the
    :class:`CheckpointError` names the first differing keys and the configuration the file
    looks like. Returns `model`.
    """
    if isinstance(source, dict):
        sd, _ = _strip_prefix(source)
        where = "state dict"
    else:
        sd, _ = read_state_dict(source)
        where = str(source)
    problems = _describe_mismatch(_shapes(model), sd)
    if not problems:  # non-finite values are checked once the file is known to be for this model
        _refuse_non_finite(where, sd)
    if problems:
        name = getattr(model, "arch_name", type(model).__name__)
        args = getattr(model, "arch_args", None)
        built = f"{name}({_fmt_args(args)})" if args is not None else name
        raise CheckpointError(
            f"{where} does not fit {built}:\n  " + "\n  ".join(problems)
            + f"\n  {_format_candidates(identify_weights(sd))}")
    model.load_state_dict(sd, strict=True)
    return model


# --------------------------------------------------------------------------- our format


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, info: dict[str, Any] | None = None,
                    overwrite: bool = False) -> Path:
    """Write `model` (built by :func:`create_model`) as a self-describing safetensors file.

    `info` (JSON-serialisable) records what produced the weights: config, step, metrics.
    The write is atomic (temp file + rename); an existing file is kept unless `overwrite`.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if not getattr(model, "arch_name", None):
        raise ValueError("save_checkpoint needs a model built by blur2blur.models.create_model "
                         "(it records the architecture name and arguments)")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite it")
    header = {"format_version": FORMAT_VERSION, "arch": model.arch_name, "args": model.arch_args,
              "info": info or {}}
    try:
        meta = {HEADER_KEY: json.dumps(header)}
    except TypeError as e:
        raise ValueError(f"checkpoint header is not JSON-serialisable: {e}") from e
    # safetensors refuses shared or non-contiguous storage; clone makes every tensor its own.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=meta)
    return path


def check_header(path: str | os.PathLike, header: Any, sd: StateDict, arch: str | None = None,
                 overrides: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Check a blur2blur header against the tensors before anything is built for real.

    Returns ``(architecture, recorded args, constructor args)``. The architecture is built on
    the ``meta`` device (no memory) from the header's arguments, so a header that claims a
    huge width, has an unknown or missing argument or does not match the tensor shapes raises
    :class:`CheckpointError` naming the file instead of allocating or crashing.
    """
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the blur2blur header is not a JSON object")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer blur2blur (format "
                              f"{header['format_version']} > {FORMAT_VERSION}); upgrade blur2blur")
    name = arch or header.get("arch")
    if not isinstance(header.get("args", {}), dict):
        raise CheckpointError(f"{path}: the header's 'args' is not a mapping of constructor arguments")
    try:
        spec = get_spec(name)
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}: the header names architecture {name!r}, which this version does not "
                              f"know (known: {', '.join(list_models())})") from None
    args = {**header.get("args", {}), **(overrides or {})}
    build_args = dict(args)
    if "weights" in build_args:  # e.g. VGG: the checkpoint holds the weights, nothing to fetch
        build_args["weights"] = None
    try:
        with torch.device("meta"):
            skeleton = spec.constructor(**build_args)
    except Exception as e:  # TypeError (unknown argument), ValueError (a value the constructor refuses), ...
        raise CheckpointError(f"{path}: the header's arguments {name}({_fmt_args(args)}) cannot build the model "
                              f"({type(e).__name__}: {e})") from None
    problems = _describe_mismatch(_shapes(skeleton), sd)
    if problems:
        raise CheckpointError(f"{path}: the header says {name}({_fmt_args(args)}) but the tensors do not fit it:\n  "
                              + "\n  ".join(problems) + f"\n  {_format_candidates(identify_weights(sd))}")
    return name, args, build_args


def _model_from_header(path: str | os.PathLike, header: dict[str, Any], sd: StateDict,
                       arch: str | None = None, overrides: dict[str, Any] | None = None) -> nn.Module:
    name, args, build_args = check_header(path, header, sd, arch, overrides)
    _refuse_non_finite(str(path), sd)  # here, where the file's name is known (load_weights sees a dict)
    model = create_model(name, **build_args)
    model.arch_args = args
    load_weights(model, sd)
    model.checkpoint_info = header.get("info", {})
    return model.eval()


def _official_architecture(path: str | os.PathLike, sd: StateDict, fmt: str,
                           arch: str | None) -> tuple[str, dict[str, Any]]:
    # Which architecture and constructor arguments an official (header-less) file holds.
    if arch is not None:
        spec = get_spec(arch)
        args = spec.infer_config(sd) if spec.infer_config else None
        if args is None:
            raise CheckpointError(f"{path}: the weights do not look like {arch}; "
                                  f"{_format_candidates(identify_weights(sd))}")
        return arch, args
    cands = identify_weights(sd)
    if not cands:
        raise CheckpointError(f"{path}: {_format_candidates(cands)} (format {fmt}); "
                              f"known architectures: {', '.join(list_models())}")
    if fmt == "raw state_dict":
        # MIMO-UNet's own files are {'model': sd}; a bare MIMO-UNet state dict is what
        # Blur2Blur's training writes for its translator G.
        cands.sort(key=lambda c: c[0] != "b2b_translator")
    return cands[0]


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild and return the model stored in one of our checkpoints (in eval mode).

    The header's ``info`` is attached as ``model.checkpoint_info``. Official files have no
    header: use :func:`load_any` for those.
    """
    sd, meta = read_state_dict(path)
    if "header" not in meta:
        raise CheckpointError(
            f"{path}: not a blur2blur checkpoint (no architecture header; file format "
            f"{meta['format']}). For official weights use load_any(path) or "
            f"load_weights(create_model(name, ...), path); {_format_candidates(identify_weights(sd))}")
    return _model_from_header(path, meta["header"], sd).to(map_location)


def load_any(path: str | os.PathLike, arch: str | None = None, **overrides: Any) -> nn.Module:
    """Load our checkpoint or an official weight file, working out the architecture if needed.

    For official files the constructor arguments are recovered from the tensor shapes;
    `arch` picks among architectures that share a layout (e.g. ``nafnet`` vs ``nafnet_local``)
    and `overrides` set arguments the shapes cannot tell (e.g. ``train_size``).
    """
    sd, meta = read_state_dict(path)
    if "header" in meta:
        return _model_from_header(path, meta["header"], sd, arch, overrides)
    name, args = _official_architecture(path, sd, meta["format"], arch)
    _refuse_non_finite(str(path), sd)
    model = create_model(name, **{**args, **overrides})
    load_weights(model, sd)
    model.checkpoint_info = {"source": str(path), "format": meta["format"]}
    return model.eval()
