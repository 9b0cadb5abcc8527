"""Readers for the known-blur (blurry, sharp) pair dataset layouts people download.

Every reader returns a sorted list of :class:`BlurPair`. Pairs are matched by file stem (any
extension in ``IMAGE_EXTENSIONS``); an unmatched blurry or sharp file is a
:class:`PairDatasetError` that shows up to 5 example paths. ``scene`` is the sequence / clip /
scene id, used later to split data without leaking a scene into both sides.

Layouts (``layout=`` name, then the tree it expects)::

    "gopro"      root/<split>/<sequence>/blur/<name>.png        (blur_gamma/ if gamma_blur=True)
                 root/<split>/<sequence>/sharp/<name>.png        scene = <sequence>

    "reds"       root/<split>_blur/<clip>/<frame>.png            e.g. train_blur/000/00000000.png
                 root/<split>_sharp/<clip>/<frame>.png           scene = <clip>

    "rsblur"     root/<scene>/<id>/real_blur.png  (else avg_blur.png)
                 root/<scene>/<id>/gt/gt_sharp.png               scene = <scene>
                 This is the tree as we understand RSBlur's distribution; it is not verified
                 against the official archive. ``split`` is ignored (RSBlur ships split lists).

    "rb2v"       root/<split>/<scene>/<video>/blur/<frame>.png
                 root/<split>/<scene>/<video>/sharp/<frame>/<k>.png  (sharp sequence per frame)
                 scene = <scene>; ``sharp`` is a tuple of paths sorted by name. ASSUMED tree:
                 the real RB2V release may be organised differently.

    "folders"    root/{blur,blurry,blurred}/<name>.png
                 root/{sharp,gt}/<name>.png                       scene = <name> stem

    "blur2blur"  reference Blur2Blur layout (VinAIResearch/Blur2Blur, data/unaligned_dataset.py):
                 root/trainA/  blurry images with the unknown (target) blur     - unpaired
                 root/trainB/  blurry images with the known blur                 - unpaired
                 root/trainC/  known-blur blurry images \\ paired (the reference pairs them by
                 root/trainD/  their sharp counterparts  / sorted position; we match by stem)
                 root/testA/   blurry test inputs                                - unpaired
                 ``find_pairs`` returns trainC/trainD (the pairs; the unpaired sets are plain folders).

Sequences (``rb2v``) are reduced by ``sharp_mode``: ``"middle"`` takes the middle frame
(lower middle for even counts), ``"average"`` is a plain mean of the frames in the stored
(gamma-encoded) values, not an average in linear light.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from blur2blur.data.images import IMAGE_EXTENSIONS, read_image

LAYOUTS = ("gopro", "reds", "rsblur", "rb2v", "folders", "blur2blur")
SHARP_MODES = ("middle", "average")
_BLUR_DIRS = ("blur", "blurry", "blurred")
_SHARP_DIRS = ("sharp", "gt")
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class BlurPair:
    blurry: Path
    sharp: Path | tuple[Path, ...]  # a tuple = a sharp sequence (RB2V), reduced by ``sharp_mode``
    scene: str


class PairDatasetError(ValueError):
    """A pair dataset is missing, malformed or unreadable (the message names the path(s))."""


def _examples(paths: Iterable[object]) -> str:
    paths = list(paths)
    shown = "\n  ".join(str(p) for p in paths[:_MAX_EXAMPLES])
    more = f"\n  ... and {len(paths) - _MAX_EXAMPLES} more" if len(paths) > _MAX_EXAMPLES else ""
    return f"\n  {shown}{more}"


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def _subdirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def _images_by_stem(d: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if _is_image(p):
            if p.stem in out:
                raise PairDatasetError(f"two images with the same name in {d}: {out[p.stem].name} and {p.name}")
            out[p.stem] = p
    return out


def _match(blur_dir: Path, sharp_dir: Path, scene: str | None) -> list[BlurPair]:
    """Pair the images of two folders by stem; ``scene=None`` means scene = stem."""
    for d in (blur_dir, sharp_dir):
        if not d.is_dir():
            raise PairDatasetError(f"{d}: expected a folder of images, found none")
    blurry, sharp = _images_by_stem(blur_dir), _images_by_stem(sharp_dir)
    _check_matched(blurry, sharp, blur_dir, sharp_dir)
    return [BlurPair(blurry[k], sharp[k], scene if scene is not None else k) for k in sorted(blurry)]


def _check_matched(blurry: dict, sharp: dict, blur_dir: Path, sharp_dir: Path) -> None:
    lone_blur = [blurry[k] for k in sorted(set(blurry) - set(sharp))]
    lone_sharp = [sharp[k] for k in sorted(set(sharp) - set(blurry))]
    if lone_blur:
        raise PairDatasetError(f"{len(lone_blur)} blurry image(s) have no sharp partner in {sharp_dir}:"
                               + _examples(lone_blur))
    if lone_sharp:
        raise PairDatasetError(f"{len(lone_sharp)} sharp image(s) have no blurry partner in {blur_dir}:"
                               + _examples(lone_sharp))


def _first_dir(root: Path, names: Iterable[str]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


# --- one reader per layout -------------------------------------------------------------------

def _gopro(root: Path, split: str, gamma_blur: bool) -> list[BlurPair]:
    blur_name = "blur_gamma" if gamma_blur else "blur"
    pairs: list[BlurPair] = []
    for seq in _subdirs(root / split):
        pairs += _match(seq / blur_name, seq / "sharp", seq.name)
    return pairs


def _reds(root: Path, split: str) -> list[BlurPair]:
    blur_root, sharp_root = root / f"{split}_blur", root / f"{split}_sharp"
    if not sharp_root.is_dir():
        raise PairDatasetError(f"{sharp_root}: missing (expected next to {blur_root})")
    lone = sorted({c.name for c in _subdirs(sharp_root)} - {c.name for c in _subdirs(blur_root)})
    if lone:
        raise PairDatasetError("sharp clip(s) without a blurry clip:" + _examples(sharp_root / c for c in lone))
    return [p for clip in _subdirs(blur_root) for p in _match(clip, sharp_root / clip.name, clip.name)]


def _rsblur(root: Path) -> list[BlurPair]:
    pairs, missing = [], []
    for scene in _subdirs(root):
        for item in _subdirs(scene):
            blur = next((item / n for n in ("real_blur.png", "avg_blur.png") if (item / n).is_file()), None)
            sharp = item / "gt" / "gt_sharp.png"
            if blur is None:
                missing.append(item / "real_blur.png")
            elif not sharp.is_file():
                missing.append(sharp)
            else:
                pairs.append(BlurPair(blur, sharp, scene.name))
    if missing:
        raise PairDatasetError(f"{len(missing)} RSBlur pair file(s) missing (blurry: real_blur.png or avg_blur.png;"
                               " sharp: gt/gt_sharp.png):" + _examples(missing))
    return pairs


def _rb2v(root: Path, split: str) -> list[BlurPair]:
    pairs: list[BlurPair] = []
    for scene in _subdirs(root / split):
        for video in _subdirs(scene):
            blur_dir, sharp_dir = video / "blur", video / "sharp"
            if not blur_dir.is_dir() or not sharp_dir.is_dir():
                raise PairDatasetError(f"{video}: expected blur/ and sharp/ folders")
            blurry = _images_by_stem(blur_dir)
            seqs = {d.name: d for d in _subdirs(sharp_dir)}
            _check_matched(blurry, seqs, blur_dir, sharp_dir)
            for k in sorted(blurry):
                frames = tuple(sorted(p for p in seqs[k].iterdir() if _is_image(p)))
                if not frames:
                    raise PairDatasetError(f"{seqs[k]}: empty sharp sequence for {blurry[k]}")
                pairs.append(BlurPair(blurry[k], frames, scene.name))
    return pairs


def _folders(root: Path) -> list[BlurPair]:
    blur_dir, sharp_dir = _first_dir(root, _BLUR_DIRS), _first_dir(root, _SHARP_DIRS)
    if blur_dir is None or sharp_dir is None:
        raise PairDatasetError(f"{root}: expected one of {_BLUR_DIRS} and one of {_SHARP_DIRS} folders")
    return _match(blur_dir, sharp_dir, None)


# --- public API ------------------------------------------------------------------------------

def detect_layout(root: str | os.PathLike) -> str:
    """Guess the layout of ``root`` from its folder names; raise :class:`PairDatasetError` if none fits."""
    root = Path(root)
    if not root.is_dir():
        raise PairDatasetError(f"{root}: not a folder")
    if (root / "trainC").is_dir() and (root / "trainD").is_dir():
        return "blur2blur"
    top = _subdirs(root)
    if any(d.name.endswith("_blur") and (root / (d.name[:-5] + "_sharp")).is_dir() for d in top):
        return "reds"
    if _first_dir(root, _BLUR_DIRS) and _first_dir(root, _SHARP_DIRS):
        return "folders"
    for split in top:
        for seq in _subdirs(split):
            if (seq / "sharp").is_dir() and ((seq / "blur").is_dir() or (seq / "blur_gamma").is_dir()):
                return "gopro"
            for video in _subdirs(seq):
                if (video / "blur").is_dir() and _subdirs(video / "sharp"):
                    return "rb2v"
            if (seq / "gt" / "gt_sharp.png").is_file():
                return "rsblur"
    raise PairDatasetError(f"{root}: could not recognise the dataset layout; known layouts: {', '.join(LAYOUTS)}"
                           " (see blur2blur.data.pairs for the expected trees)")


def find_pairs(root: str | os.PathLike, layout: str = "auto", *, split: str = "train",
               gamma_blur: bool = False, sharp_mode: str = "middle") -> list[BlurPair]:
    """List the (blurry, sharp) pairs under ``root``, sorted by (scene, blurry path).

    ``split`` selects e.g. ``train``/``test`` where the layout has splits (gopro, reds, rb2v);
    ``gamma_blur`` picks GoPro's ``blur_gamma``; ``sharp_mode`` is checked here and used by
    :func:`load_pair`.
    """
    root = Path(root)
    if sharp_mode not in SHARP_MODES:
        raise ValueError(f"sharp_mode must be one of {SHARP_MODES}, got {sharp_mode!r}")
    if not root.is_dir():
        raise PairDatasetError(f"{root}: dataset root is not a folder")
    if layout == "auto":
        layout = detect_layout(root)
    readers = {
        "gopro": lambda: _gopro(root, split, gamma_blur),
        "reds": lambda: _reds(root, split),
        "rsblur": lambda: _rsblur(root),
        "rb2v": lambda: _rb2v(root, split),
        "folders": lambda: _folders(root),
        "blur2blur": lambda: _match(root / "trainC", root / "trainD", None),
    }
    if layout not in readers:
        raise PairDatasetError(f"unknown layout {layout!r} for {root}; known layouts: {', '.join(LAYOUTS)}")
    pairs = readers[layout]()
    if not pairs:
        raise PairDatasetError(f"{root}: no pairs found for layout {layout!r} (split {split!r}); "
                               "see blur2blur.data.pairs for the expected tree")
    return sorted(pairs, key=lambda p: (p.scene, str(p.blurry)))


def _sharp_paths(pair: BlurPair) -> tuple[Path, ...]:
    return pair.sharp if isinstance(pair.sharp, tuple) else (pair.sharp,)


def middle_sharp(pair: BlurPair) -> Path:
    """The pair's sharp image; of a sharp sequence, its middle frame (the lower middle for even counts)."""
    paths = _sharp_paths(pair)
    return paths[(len(paths) - 1) // 2]


def load_pair(pair: BlurPair, sharp_mode: str = "middle") -> tuple[torch.Tensor, torch.Tensor]:
    """Read a pair as ``(blurry, sharp)`` ``(3, H, W)`` tensors in [0, 1]; a sharp sequence is
    reduced to its middle frame or to the plain (non-linearised) average of its frames."""
    if sharp_mode not in SHARP_MODES:
        raise ValueError(f"sharp_mode must be one of {SHARP_MODES}, got {sharp_mode!r}")
    blurry = read_image(pair.blurry)[0]
    paths = _sharp_paths(pair)
    if sharp_mode == "middle":
        sharp = read_image(middle_sharp(pair))[0]
    else:
        frames = [read_image(p)[0] for p in paths]
        if len({f.shape for f in frames}) > 1:
            raise PairDatasetError("sharp frames differ in size:" + _examples(paths))
        sharp = torch.stack(frames).mean(0)
    if sharp.shape != blurry.shape:
        raise PairDatasetError(f"size mismatch: {pair.blurry} {tuple(blurry.shape)} vs {paths} {tuple(sharp.shape)}")
    return blurry, sharp
