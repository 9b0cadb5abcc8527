"""Deblurring files: the work behind ``blur2blur deblur``, usable from Python.

    >>> from blur2blur.models import load_any
    >>> from blur2blur.deblur_files import deblur_files
    >>> model = load_any("NAFNet-GoPro-width32.pth")
    >>> result = deblur_files(model, ["photos/"], "deblurred/", tile=512)
    >>> result.written, result.failed

Videos (see :mod:`blur2blur.data.video`) come out as H.264 videos with the same frame rate
and size, frame by frame. With ``save_translated=True`` and a composed Blur2Blur model, G(x)
is written too, under ``out_dir/translated/``.

Inputs are never written over: an output path that equals an input is an error, and existing
outputs are skipped (so an interrupted run resumes) unless ``overwrite=True``. A video is
written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from blur2blur.data.images import IMAGE_EXTENSIONS, ImageReadError, expand_inputs, read_image, write_image
from blur2blur.data.video import VIDEO_EXTENSIONS, VideoReadError, VideoWriter, is_video, read_frames, video_info
from blur2blur.inference import count_tiles, prepare_for_inference, restore


@dataclass
class DeblurResult:
    """What a :func:`deblur_files` run did, file by file."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # outputs that already existed
    failed: list[tuple[Path, str]] = field(default_factory=list)  # input, reason


def plan_outputs(inputs: list[Path], out_dir: Path, suffix: str = "", ext: str | None = None) -> list[Path]:
    """Output path of every input inside `out_dir`.

    Names are kept (plus `suffix`, with extension `ext` if given); inputs with the same name
    from different folders go into sub-folders named after their parent folder.
    Raises ValueError if an output would land on an input.
    """
    names = [f"{p.stem}{suffix}{ext if ext else p.suffix}" for p in inputs]
    clashes = {n for n, c in Counter(names).items() if c > 1}
    outputs = [out_dir / p.parent.name / n if n in clashes else out_dir / n for p, n in zip(inputs, names)]
    if len(set(outputs)) != len(outputs):
        raise ValueError("several inputs map to the same output name; use distinct file names")
    resolved_inputs = {p.resolve() for p in inputs}
    for o in outputs:
        if o.resolve() in resolved_inputs:
            raise ValueError(f"output {o} would overwrite an input; choose another --out folder or a --suffix")
    return outputs


def deblur_files(model: nn.Module, inputs: list[str | os.PathLike], out_dir: str | os.PathLike, *,
                 tile: int | None = None, tile_overlap: int = 32, suffix: str = "", ext: str | None = None,
                 overwrite: bool = False, device: str | None = None, show_progress: bool = True,
                 save_translated: bool = False) -> DeblurResult:
    """Run `model` on every image of `inputs` (files, folders, globs) and write the results to `out_dir`.

    Unreadable files are recorded in ``result.failed`` and the run goes on with the others.
    """
    files = expand_inputs(inputs, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    out_dir = Path(out_dir)
    outputs = [dst.with_suffix(ext or ".mp4") if is_video(src) else dst
               for src, dst in zip(files, plan_outputs(files, out_dir, suffix, ext))]
    if save_translated and not hasattr(model, "translate"):
        raise ValueError("save_translated needs a Blur2Blur model D'(G(x)) (e.g. --run RUN), not a plain deblurrer")
    model = prepare_for_inference(model, device)

    def run(img: torch.Tensor, net: nn.Module, progress=None) -> torch.Tensor:
        with torch.inference_mode():
            return restore(net, img[None], tile=tile, tile_overlap=tile_overlap, progress=progress)[0].clamp(0, 1)

    result = DeblurResult()
    bar = tqdm(total=len(files), unit="img", disable=not show_progress, desc="deblur")
    for src, dst in zip(files, outputs):
        bar.set_postfix_str(src.name)
        if dst.exists() and not overwrite:
            result.skipped.append(dst)
            bar.update(1)
            continue
        translated_dst = out_dir / "translated" / dst.relative_to(out_dir) if save_translated else None
        if is_video(src):
            try:
                _deblur_video(src, dst, model, run, bar, translated_dst)
                result.written.append(dst)
            except VideoReadError as e:
                result.failed.append((src, str(e)))
                tqdm.write(f"skipped: {e}")
            bar.update(1)
            continue
        try:
            img, info = read_image(src)
        except ImageReadError as e:
            result.failed.append((src, str(e)))
            tqdm.write(f"skipped: {e}")
            bar.update(1)
            continue
        h, w = img.shape[-2:]
        n_tiles = count_tiles(h, w, tile, tile_overlap)
        out = run(img, model, (lambda k, name=src.name, n=n_tiles: bar.set_postfix_str(f"{name} tile {k}/{n}"))
                  if n_tiles > 1 else None)
        write_image(out, dst, info, overwrite=overwrite)
        if translated_dst is not None:
            write_image(run(img, model.translator), translated_dst, info, overwrite=overwrite)
        result.written.append(dst)
        bar.update(1)
    bar.close()
    return result


def _deblur_video(src: Path, dst: Path, model: nn.Module, run, bar, translated_dst: Path | None) -> None:
    info = video_info(src)
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    tmp_t = translated_dst.with_name(f".{translated_dst.stem}.partial{translated_dst.suffix}") if translated_dst \
        else None
    writers = [VideoWriter(tmp, info["fps"], info["width"], info["height"], overwrite=True)]
    if tmp_t is not None:
        writers.append(VideoWriter(tmp_t, info["fps"], info["width"], info["height"], overwrite=True))
    try:
        for i, frame in read_frames(src):
            bar.set_postfix_str(f"{src.name} frame {i + 1}" + (f"/{info['frames']}" if info["frames"] else ""))
            writers[0].write(run(frame, model))
            if len(writers) > 1:
                writers[1].write(run(frame, model.translator))
    finally:
        for w in writers:
            w.close()
    os.replace(tmp, dst)
    if tmp_t is not None:
        os.replace(tmp_t, translated_dst)
