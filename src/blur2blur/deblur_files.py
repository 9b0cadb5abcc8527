"""Deblurring files: the work behind ``blur2blur deblur``, usable from Python.

    >>> from blur2blur.models import load_any
    >>> from blur2blur.deblur_files import deblur_files
    >>> model = load_any("NAFNet-GoPro-width32.pth")
    >>> result = deblur_files(model, ["photos/"], "deblurred/", tile=512)
    >>> result.written, result.failed

Videos (see :mod:`blur2blur.data.video`) come out as H.264 videos with the same frame rate
and size, frame by frame. With ``save_translated=True`` and a composed Blur2Blur model, G(x)
is written too, under ``out_dir/translated/``.

Inputs are never written over: an output path that equals an input or lies outside the output
folder is an error, and existing outputs are skipped (so an interrupted run resumes) unless
``overwrite=True``. Every output is written to a temporary name and renamed when complete, so an
existing output is a whole one.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from blur2blur.data.images import IMAGE_EXTENSIONS, ImageReadError, expand_inputs, partial_path, read_image, \
    write_image
from blur2blur.data.video import VIDEO_EXTENSIONS, VideoReadError, VideoWriter, is_video, read_frames, video_info
from blur2blur.devices import pick_precision
from blur2blur.inference import MIN_AUTO_TILE, auto_tile, available_memory, bytes_per_pixel, count_tiles, \
    is_out_of_memory, prepare_for_inference, restore


@dataclass
class DeblurResult:
    """What a :func:`deblur_files` run did, file by file."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs that already existed
    failed: list[tuple[Path, str]] = field(default_factory=list)  # input, reason
    precision: str = "fp32"  # what the forward passes ran in (see blur2blur.devices.pick_precision)


def plan_outputs(inputs: list[Path], out_dir: Path, suffix: str = "", ext: str | None = None) -> list[Path]:
    """Output path of every input inside `out_dir`.

    Names are kept (plus `suffix`, with extension `ext` if given); inputs with the same name
    from different folders go into sub-folders named after their parent folder.
    Raises ValueError if an output would land on an input or outside `out_dir` (a `suffix` or
    `ext` holding a path separator).
    """
    for what, text in (("--suffix", suffix), ("--ext", ext or "")):
        if "/" in text or (os.altsep and os.altsep in text) or os.sep in text:
            raise ValueError(f"{what} {text!r} holds a path separator; outputs must stay inside {out_dir}")
    names = [f"{p.stem}{suffix}{ext if ext else p.suffix}" for p in inputs]
    clashes = {n for n, c in Counter(names).items() if c > 1}
    outputs = [out_dir / p.parent.name / n if n in clashes else out_dir / n for p, n in zip(inputs, names)]
    if len(set(outputs)) != len(outputs):
        raise ValueError("several inputs map to the same output name; use distinct file names")
    root = out_dir.resolve()
    for o in outputs:
        if not o.resolve().is_relative_to(root) or o.resolve() == root:
            raise ValueError(f"output {o} would leave the output folder {out_dir}; rename the input or "
                             "choose another --suffix")
    resolved_inputs = {p.resolve() for p in inputs}
    for o in outputs:
        if o.resolve() in resolved_inputs:
            raise ValueError(f"output {o} would overwrite an input; choose another --out folder or a --suffix")
    return outputs


class NonFiniteOutput(ValueError):
    """The model produced NaN or infinite values for an input (the message names the file)."""


def deblur_files(model: nn.Module, inputs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                 tile: int | None = None, tile_overlap: int = 32, suffix: str = "", ext: str | None = None,
                 overwrite: bool = False, device: str | None = None, show_progress: bool = True,
                 save_translated: bool = False, precision: str | None = None) -> DeblurResult:
    """Run `model` on every image of `inputs` (files, folders, globs) and write the results to `out_dir`.

    tile: None chooses tiles per image from the memory available (:func:`auto_tile`), and
    smaller ones when memory still runs out; a given `tile` is used as it is. Unreadable files,
    non-finite inputs or outputs and images that do not fit in memory are recorded in
    ``result.failed`` and the run goes on with the others.
    precision: "fp32", "bf16" or "fp16"; None chooses it for the device and model
    (:func:`blur2blur.devices.pick_precision`: fp32 on the CPU). Outputs are written from float32 either way.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder; name a folder for the outputs")
    files = expand_inputs(inputs, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    outputs = [dst.with_suffix(ext or ".mp4") if is_video(src) else dst
               for src, dst in zip(files, plan_outputs(files, out_dir, suffix, ext))]
    if save_translated and not hasattr(model, "translate"):
        raise ValueError("save_translated needs a Blur2Blur model D'(G(x)) (e.g. --run RUN), not a plain deblurrer")
    model = prepare_for_inference(model, device)
    run_device = next(model.parameters()).device
    precision = pick_precision(precision, run_device, model)
    per_pixel: dict[int, float] = {}  # id(net) -> bytes_per_pixel, measured once per network

    def run(img: torch.Tensor, net: nn.Module, progress=None, name: str = "") -> torch.Tensor:
        h, w = img.shape[-2:]
        side = tile
        if side is None:
            if id(net) not in per_pixel:
                per_pixel[id(net)] = bytes_per_pixel(net, precision)
            side = auto_tile(h, w, per_pixel[id(net)], available_memory(run_device), tile_overlap=tile_overlap)
        while True:
            try:
                with torch.inference_mode():
                    out = restore(net, img[None], tile=side, tile_overlap=tile_overlap, progress=progress,
                                  clamp=False, precision=precision)[0]
                break
            except Exception as e:
                # A forced --tile is kept; chosen tiles shrink until memory suffices or the floor is hit.
                smallest = max(MIN_AUTO_TILE, 2 * tile_overlap + 32)
                if not is_out_of_memory(e) or tile is not None or (side is not None and side <= smallest):
                    raise
                side = max(smallest, (min(side or max(h, w), max(h, w)) // 2) // 32 * 32)
                if run_device.type == "cuda":
                    torch.cuda.empty_cache()
        bad = int((~torch.isfinite(out)).sum())
        if bad:
            raise NonFiniteOutput(f"{name}: the model produced {bad} NaN or infinite values; nothing written "
                                  "(are the weights damaged?)")
        return out.clamp(0, 1)

    result = DeblurResult(precision=precision)
    bar = tqdm(total=len(files), unit="img", disable=not show_progress, desc="deblur")
    for src, dst in zip(files, outputs):
        bar.set_postfix_str(src.name)
        if dst.exists() and not overwrite:
            partial_path(dst).unlink(missing_ok=True)  # a leftover of a killed run that wrote dst again later
            result.skipped.append(dst)
            bar.update(1)
            continue
        translated_dst = out_dir / "translated" / dst.relative_to(out_dir) if save_translated else None
        try:
            if is_video(src):
                _deblur_video(src, dst, model, lambda x, net, name=str(src): run(x, net, name=name), bar,
                              translated_dst)
            else:
                img, info = read_image(src)
                h, w = img.shape[-2:]
                n_tiles = count_tiles(h, w, tile, tile_overlap)
                out = run(img, model, (lambda k, name=src.name, n=n_tiles: bar.set_postfix_str(
                    f"{name} tile {k}/{n}")) if n_tiles > 1 else None, name=str(src))
                write_image(out, dst, info, overwrite=overwrite)
                if translated_dst is not None:
                    write_image(run(img, model.translator, name=str(src)), translated_dst, info, overwrite=overwrite)
            result.written.append(dst)
        except (ImageReadError, VideoReadError, NonFiniteOutput) as e:
            result.failed.append((src, str(e)))
            tqdm.write(f"skipped: {e}")
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            reason = f"{src}: does not fit in memory even in tiles ({str(e).splitlines()[0]}); try a smaller --tile"
            result.failed.append((src, reason))
            tqdm.write(f"skipped: {reason}")
        bar.update(1)
    bar.close()
    return result


def _deblur_video(src: Path, dst: Path, model: nn.Module, run, bar, translated_dst: Path | None) -> None:
    info = video_info(src)
    targets = [dst] + ([translated_dst] if translated_dst is not None else [])
    writers = [VideoWriter(t, info["fps"], info["width"], info["height"], overwrite=True) for t in targets]
    try:
        for i, frame in read_frames(src):
            bar.set_postfix_str(f"{src.name} frame {i + 1}" + (f"/{info['frames']}" if info["frames"] else ""))
            writers[0].write(run(frame, model))
            if len(writers) > 1:
                writers[1].write(run(frame, model.translator))
    except BaseException:  # also Ctrl-C: no partial video outlives the run
        for w in writers:
            w.abort()
        raise
    for w in writers:
        w.close()
