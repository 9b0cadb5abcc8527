"""Running an image-to-image network on any image: pad to what the network needs, tile, crop back.

Every restoration model of the registry (deblurrers and translators) goes through
:func:`restore`. It takes ``(B, 3, H, W)`` float tensors in [0, 1] of any size and returns
the same shape. Large images are cut into overlapping tiles whose results are blended with a
linear ramp, so that memory stays bounded by the tile size, whatever the image size.

``precision`` ("fp32", "bf16", "fp16"; see :mod:`blur2blur.devices`) is the arithmetic of the forward
passes only: results come back as float32, and the tiles' blended sum is accumulated in float32, one
image-sized buffer whatever the precision.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import torch
from torch import nn

from blur2blur.devices import pick_device, precision_context  # (pick_device also importable from here, as before)
from blur2blur.models.registry import IMAGE, MULTISCALE, spec_of
from blur2blur.ops import pad_to_multiple


def _size_rule(model: nn.Module) -> tuple[int, str, str]:
    spec = spec_of(model)
    if spec is None:
        return 1, "reflect", IMAGE
    if spec.output not in (IMAGE, MULTISCALE):
        raise ValueError(f"{spec.name} is not an image-to-image network")
    # Some architectures' size rule depends on their arguments (U-Net depth): the model knows best.
    return getattr(model, "size_multiple", spec.size_multiple), spec.pad_mode, spec.output


def run_padded(model: nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """One forward pass on any H x W: pad to the model's size rule, run in `precision`, keep the
    full-scale image, crop. Returns float32 (B, 3, H, W), not clamped."""
    multiple, mode, output = _size_rule(model)
    h, w = x.shape[-2:]
    with precision_context(precision, x.device):
        y = model(pad_to_multiple(x, multiple, mode))
    if output == MULTISCALE or isinstance(y, (list, tuple)):
        y = y[-1]
    return y[..., :h, :w].float()


def _ramp(n: int, overlap: int, at_start: bool, at_end: bool, device, dtype) -> torch.Tensor:
    # Blending weights along one axis: rise over the overlap except at the image border.
    r = torch.ones(n, device=device, dtype=dtype)
    if overlap > 0:
        edge = torch.arange(1, overlap + 1, device=device, dtype=dtype) / (overlap + 1)
        if not at_start:
            r[:overlap] = edge
        if not at_end:
            r[-overlap:] = edge.flip(0)
    return r


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    stride = tile - overlap
    n = math.ceil((size - tile) / stride) + 1
    starts = [min(i * stride, size - tile) for i in range(n)]
    return sorted(set(starts))


def restore(model: nn.Module, x: torch.Tensor, *, tile: int | None = None, tile_overlap: int = 32,
            clamp: bool = True, progress: Callable[[int], None] | None = None,
            precision: str = "fp32") -> torch.Tensor:
    """Run an image-to-image `model` on ``x`` (B, 3, H, W) in [0, 1]; returns float32 (B, 3, H, W).

    tile: tile side in pixels (None = whole image at once). Tiles overlap by `tile_overlap`
    pixels and are blended linearly, so seams do not show. The output stays on x's device;
    each tile runs on the model's device.
    clamp: clamp to [0, 1] (the networks' raw outputs are input + residual, not clamped).
    progress: called with the number of tiles done after each tile.
    precision: "fp32", "bf16" or "fp16" (autocast) for the forward passes; choose it with
    :func:`blur2blur.devices.pick_precision`.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"restore expects a (B, 3, H, W) tensor, got {tuple(x.shape)}")
    device = next(model.parameters()).device
    h, w = x.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        y = run_padded(model, x.to(device), precision).to(x.device)
        if progress:
            progress(1)
        return y.clamp(0, 1) if clamp else y
    if tile_overlap < 0 or tile_overlap >= tile:
        raise ValueError(f"tile_overlap must be in [0, tile), got {tile_overlap} for tile {tile}")
    # The blend is summed in float32 whatever the precision: bf16's 8-bit significand would round
    # the weighted sums of overlapping tiles; only the forward passes run in `precision`.
    out = torch.zeros_like(x, dtype=torch.float32)
    weight = torch.zeros((1, 1, h, w), device=x.device, dtype=torch.float32)
    th, tw = min(tile, h), min(tile, w)
    ys, xs = _tile_starts(h, th, tile_overlap), _tile_starts(w, tw, tile_overlap)
    done = 0
    for y0 in ys:
        for x0 in xs:
            patch = x[..., y0:y0 + th, x0:x0 + tw].to(device)
            res = run_padded(model, patch, precision).to(x.device)
            wy = _ramp(th, tile_overlap, y0 == 0, y0 + th == h, x.device, torch.float32)
            wx = _ramp(tw, tile_overlap, x0 == 0, x0 + tw == w, x.device, torch.float32)
            wgt = wy[:, None] * wx[None, :]
            out[..., y0:y0 + th, x0:x0 + tw] += res * wgt
            weight[..., y0:y0 + th, x0:x0 + tw] += wgt
            done += 1
            if progress:
                progress(done)
    y = out / weight
    return y.clamp(0, 1) if clamp else y


def count_tiles(h: int, w: int, tile: int | None, tile_overlap: int) -> int:
    """How many forward passes :func:`restore` makes on an H x W image."""
    if tile is None or (h <= tile and w <= tile):
        return 1
    return len(_tile_starts(h, min(tile, h), tile_overlap)) * len(_tile_starts(w, min(tile, w), tile_overlap))


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is an allocation failure (CUDA, CPU allocator or NumPy), not a bug."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def available_memory(device: torch.device) -> int:
    """Bytes free for new allocations on `device` (CUDA: free GPU memory; else the system's available RAM)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# The peak of a forward pass, as a multiple of its largest single activation: skip connections keep
# encoder features alive, and a block holds its input, its expanded features and a temporary at once.
_PEAK_OVER_LARGEST = 8
_PROBE_SIDE = 64


def bytes_per_pixel(model: nn.Module, precision: str = "fp32") -> float:
    """Estimated peak memory of one forward pass per input pixel (bytes), from one small probe pass.

    The probe records the largest output of any layer on a ``64 x 64`` input (padded to the
    model's size rule), run in `precision` as the real passes will be (half precision halves most
    activations, so tiles may be larger), and scales it by a safety factor; activations grow
    linearly with pixels.
    """
    multiple, _, _ = _size_rule(model)
    side = math.ceil(_PROBE_SIDE / multiple) * multiple
    device = next(model.parameters()).device
    largest = [0]

    def record(_module, _inputs, output):
        for t in output if isinstance(output, (list, tuple)) else (output,):
            if isinstance(t, torch.Tensor):
                largest[0] = max(largest[0], t.numel() * t.element_size())

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            run_padded(model, torch.zeros(1, 3, side, side, device=device), precision)
    finally:
        for h in hooks:
            h.remove()
    return _PEAK_OVER_LARGEST * max(largest[0], 3 * 4 * side * side) / (side * side)


MIN_AUTO_TILE = 128


def auto_tile(h: int, w: int, per_pixel: float, free_bytes: int, *, tile_overlap: int = 32) -> int | None:
    """Tile side that fits a forward pass in half of `free_bytes`, or None when the whole H x W image fits.

    per_pixel: :func:`bytes_per_pixel` of the model. The tiled result itself (input, output and
    blending weights of the whole image, 7 floats a pixel) is set aside first. Never below
    :data:`MIN_AUTO_TILE` (nor below twice the overlap): a smaller tile would only be slower.
    """
    budget = free_bytes / 2
    if per_pixel * h * w <= budget:
        return None
    budget -= 7 * 4 * h * w
    side = int(math.sqrt(max(budget, 0) / per_pixel)) // 32 * 32
    return max(side, MIN_AUTO_TILE, 2 * tile_overlap + 32)


def prepare_for_inference(model: nn.Module, device: torch.device | str | None = None) -> nn.Module:
    """Eval mode, no gradients, on `device`; channels_last on CUDA where convolutions gain from it."""
    device = pick_device(str(device) if device is not None else None)
    model = model.to(device).eval()
    model.requires_grad_(False)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model
