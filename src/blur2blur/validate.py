"""What `fit` checks before its first stage trains, so that a bad input fails in seconds, not after hours.

Policy for the camera's images (B, S and a given K): every one is decoded once. An image that
cannot be read (damaged, NaN pixels, several frames) or is smaller than the stages need is
listed by name with the reason in one warning and **skipped**; `fit` refuses to start
(ValueError) only when a set is left empty. Known-blur pairs P are checked by their header size
(a dataset holds thousands) and skipped the same way. The VGG weights the translator's content term
needs are fetched now (or the offline message, naming ``--set translator.perceptual=lowpass``, is
raised now), and the free disk is compared with what K and the checkpoints will take.
"""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from blur2blur.data.images import ImageReadError, read_image

# Headroom over the disk estimate: PNG sizes and log files vary.
DISK_MARGIN = 1.25


def _image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the file's header where Pillow can tell, else by decoding it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            return h, w
    except Exception:  # TIFF layouts Pillow does not know: read_image decides
        return tuple(read_image(path)[0].shape[-2:])


def check_images(paths: Sequence[Path], min_side: int, what: str) -> tuple[list[Path], list[str]]:
    """Decode every image of `paths`; return (usable paths, ``"<path>: <reason>"`` for the others).

    An image is usable when it reads (see :func:`blur2blur.data.images.read_image`) and both
    sides are at least `min_side` pixels.
    """
    return _sort_by_size([Path(p) for p in paths], lambda p: tuple(read_image(p)[0].shape[-2:]), lambda p: p,
                         min_side, what)


def _check_pairs(pairs: Sequence, min_side: int, what: str) -> tuple[list, list[str]]:
    # Known pairs by their blurry image's header size only: decoding a whole dataset would take long.
    return _sort_by_size(list(pairs), lambda pair: _image_size(pair.blurry), lambda pair: pair.blurry,
                         min_side, what)


def _sort_by_size(items: list, size_of, path_of, min_side: int, what: str) -> tuple[list, list[str]]:
    """(items whose (h, w) = ``size_of(item)`` has both sides >= `min_side`, reasons for the others)."""
    good, bad = [], []
    for item in items:
        try:
            h, w = size_of(item)
        except ImageReadError as e:
            bad.append(str(e))
            continue
        if min(h, w) < min_side:
            bad.append(f"{path_of(item)}: {w}x{h} is smaller than the {min_side}px {what} needs")
        else:
            good.append(item)
    return good, bad


def _report(name: str, total: int, bad: list[str]) -> None:
    if bad:
        warnings.warn(f"{name}: skipping {len(bad)} of {total} image(s):\n  " + "\n  ".join(bad), stacklevel=3)


def _parameters(arch: str, args: dict) -> int:
    from blur2blur.models import create_model

    with torch.device("meta"):  # counts without allocating
        return sum(p.numel() for p in create_model(arch, **args).parameters())


def _checkpoint_bytes(params: int, keep: int) -> int:
    # float32 weights + Adam's two moments per training state, `keep` of them plus one being written,
    # and the final weight file.
    return params * 4 * 3 * (keep + 1) + params * 4


def validate_fit_inputs(inputs, cfg, run_dir: str | Path):
    """Check `inputs` (a :class:`blur2blur.fit.FitInputs`) against `cfg` before any stage trains.

    Returns the inputs without the images that cannot be used (each named in a warning). Raises
    ValueError when a set is left empty or the disk is too small, and, from
    :func:`blur2blur.train.translator.require_content_weights`, :class:`blur2blur.hub.OfflineError` when
    the VGG weights are needed but absent offline (FileNotFoundError for a missing ``translator.vgg_weights``).
    Stages whose result already exists in `run_dir` (or was given) are not checked.
    """
    from blur2blur import runs
    from blur2blur.train.translator import discriminator_spec, require_content_weights

    run = Path(run_dir)
    tr = cfg.translator
    trains_extractor = inputs.known_set is None and inputs.extractor is None \
        and not (run / runs.EXTRACTOR).exists()
    trains_deblurrer = inputs.deblurrer is None and not (run / runs.DEBLURRER).exists()
    trains_translator = not (run / runs.TRANSLATOR).exists()
    makes_k = inputs.known_set is None and not (run / runs.KNOWN_SET / "manifest.jsonl").exists()
    changes = {}

    if trains_translator:
        blurry, bad = check_images(inputs.blurry, tr.crop, "translator crop (translator.crop)")
        _report("B (--blurry)", len(inputs.blurry), bad)
        changes["blurry"] = blurry
        if inputs.known_set is not None:
            known, bad = check_images(inputs.known_set, tr.crop, "translator crop (translator.crop)")
            _report("K (--known-set)", len(inputs.known_set), bad)
            changes["known_set"] = known
    if makes_k:
        if cfg.known_set.crop is not None and cfg.known_set.crop < tr.crop:
            raise ValueError(f"known_set.crop {cfg.known_set.crop} is smaller than translator.crop {tr.crop}: "
                             "K images would be too small for the translator")
        need = cfg.known_set.crop or tr.crop
        sharp, bad = check_images(inputs.sharp, need, "known-blur set K (known_set.crop / translator.crop)")
        _report("S (--sharp)", len(inputs.sharp), bad)
        changes["sharp"] = sharp
    pair_crop = max([c for c, used in ((cfg.extractor.crop, trains_extractor), (cfg.deblurrer.crop, trains_deblurrer))
                     if used], default=0)
    if pair_crop:
        pairs, bad = _check_pairs(inputs.known_train, pair_crop, "training crop (extractor.crop, deblurrer.crop)")
        _report("known-blur pairs P", len(inputs.known_train), bad)
        changes["known_train"] = pairs
    for name, value in changes.items():
        if not value:
            label = {"blurry": "B (--blurry)", "sharp": "S (--sharp)", "known_set": "K (--known-set)",
                     "known_train": "the known-blur pairs P"}[name]
            raise ValueError(f"no usable image left in {label}: every one was skipped (see the warning above)")

    if trains_translator:  # the one check of the content term's weights (names the offline option)
        require_content_weights(tr, "translator.perceptual")

    needed = 0
    if trains_extractor:
        needed += _checkpoint_bytes(_parameters("kernel_wizard", cfg.extractor.arch.model_kwargs()),
                                    cfg.extractor.loop.keep_checkpoints)
    if trains_deblurrer:
        needed += _checkpoint_bytes(_parameters(cfg.deblurrer.arch, cfg.deblurrer.arch_args),
                                    cfg.deblurrer.loop.keep_checkpoints)
    if trains_translator:
        params = _parameters(tr.arch, tr.arch_args) + _parameters(*discriminator_spec(tr))
        needed += _checkpoint_bytes(params, tr.loop.keep_checkpoints)
    if makes_k:
        side = cfg.known_set.crop
        needed += cfg.known_set.variants * sum(3 * (side * side if side else _area(p)) for p in changes["sharp"])
    run.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(run).free
    if needed * DISK_MARGIN > free:
        raise ValueError(f"{run}: the stages need about {needed * DISK_MARGIN / 2**30:.1f} GiB of disk "
                         f"(K and the checkpoints), {free / 2**30:.1f} GiB is free")
    return dataclasses.replace(inputs, **changes)


def _area(path: Path) -> int:
    h, w = _image_size(path)
    return h * w


__all__ = ["check_images", "validate_fit_inputs"]
