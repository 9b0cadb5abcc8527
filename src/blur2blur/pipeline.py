"""Deblurring files: the work behind ``blur2blur deblur``, usable from Python.

    >>> from blur2blur.models import load_any
    >>> from blur2blur.pipeline import deblur_files
    >>> model = load_any("NAFNet-GoPro-width32.pth")
    >>> result = deblur_files(model, ["photos/"], "deblurred/", tile=512)
    >>> result.written, result.failed

Inputs are never written over: an output path that equals an input is an error, and existing
outputs are skipped (so an interrupted run resumes) unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from blur2blur.data.images import ImageReadError, expand_inputs, read_image, write_image
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
                 overwrite: bool = False, device: str | None = None, show_progress: bool = True) -> DeblurResult:
    """Run `model` on every image of `inputs` (files, folders, globs) and write the results to `out_dir`.

    Unreadable files are recorded in ``result.failed`` and the run goes on with the others.
    """
    files = expand_inputs(inputs)
    out_dir = Path(out_dir)
    outputs = plan_outputs(files, out_dir, suffix, ext)
    model = prepare_for_inference(model, device)
    result = DeblurResult()
    bar = tqdm(total=len(files), unit="img", disable=not show_progress, desc="deblur")
    for src, dst in zip(files, outputs):
        bar.set_postfix_str(src.name)
        if dst.exists() and not overwrite:
            result.skipped.append(dst)
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
        with torch.inference_mode():
            out = restore(model, img[None], tile=tile, tile_overlap=tile_overlap,
                          progress=(lambda k, name=src.name, n=n_tiles: bar.set_postfix_str(f"{name} tile {k}/{n}"))
                          if n_tiles > 1 else None)[0]
        write_image(out, dst, info, overwrite=overwrite)
        result.written.append(dst)
        bar.update(1)
    bar.close()
    return result
