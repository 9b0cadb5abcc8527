"""Divide a paired dataset into the unpaired sets B and S of the paper's experiments (Table 1).

The paper simulates a camera with unknown blur from a paired dataset (REDS, RSBlur, RB2V):
its training scenes are divided at a ratio (0.6 : 0.4) into two disjoint groups; the *blurry*
images of the first group form B, the *sharp* images of the second group form S. Whole scenes
(sequences) stay on one side, so B and S never show the same scene, and the blur of B is never
seen with its own sharp image.

:func:`write_split` materialises the split as two folders of links to the dataset's files (the
dataset itself is never copied or modified) and a ``split.json`` manifest that names every
scene and file, so ``blur2blur fit --blurry OUT/B --sharp OUT/S`` can use it directly.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from blur2blur.data.pairs import BlurPair, middle_sharp

T = TypeVar("T")


def scene_of(pair: BlurPair) -> str:
    """The pair's scene (sequence) name; a pair without one is its own scene."""
    return pair.scene or str(pair.blurry)


def split_scenes(pairs: Sequence[BlurPair], ratio: float = 0.6, seed: int = 0
                 ) -> tuple[list[BlurPair], list[BlurPair]]:
    """(pairs whose blurry images form B, pairs whose sharp images form S), by whole scenes.

    ``ratio`` is B's share of the scenes (the paper: 0.6); each side gets at least one scene.
    The scenes are shuffled with `seed` before the cut, so scene names carry no order bias.
    """
    if not 0 < ratio < 1:
        raise ValueError(f"ratio must be in (0, 1), got {ratio}")
    scenes = sorted({scene_of(p) for p in pairs})
    if len(scenes) < 2:
        raise ValueError(f"need at least 2 scenes to split, got {len(scenes)}")
    random.Random(seed).shuffle(scenes)
    n_b = min(max(1, round(len(scenes) * ratio)), len(scenes) - 1)
    b_scenes = set(scenes[:n_b])
    return [p for p in pairs if scene_of(p) in b_scenes], [p for p in pairs if scene_of(p) not in b_scenes]


def split_by_scene(pairs: Sequence[BlurPair], val_fraction: float, seed: int = 0
                   ) -> tuple[list[BlurPair], list[BlurPair]]:
    """(train, held-out) with whole scenes on one side only; at least one scene stays for training.

    `val_fraction` of the scenes (rounded) are drawn at random with `seed` and held out; 0 holds out none.
    """
    scenes = sorted({scene_of(p) for p in pairs})
    n_val = min(int(round(len(scenes) * val_fraction)), len(scenes) - 1) if val_fraction > 0 else 0
    held = set(random.Random(seed).sample(scenes, n_val))
    return [p for p in pairs if scene_of(p) not in held], [p for p in pairs if scene_of(p) in held]


def heldout_tail(items: Sequence[T], fraction: float, *, at_least_one: bool = False) -> tuple[list[T], list[T]]:
    """(kept, held out): the last ``int(len * fraction)`` items held out, none of fewer than 10 items.

    The one rule for the part of B whose held-out signals a translator reports (discriminator
    accuracy, drift): B's images have no scenes to split by. `at_least_one`: hold out one even
    then (a baseline that needs a validation image).
    """
    items = list(items)
    n = int(len(items) * fraction) if len(items) >= 10 else 0
    if at_least_one:
        n = max(1, n)
    return items[:len(items) - n], items[len(items) - n:]


def _link(src: Path, dst: Path) -> None:
    """A symbolic link to `src` (absolute), or a copy where links are not allowed."""
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def _flat_name(path: Path, scene: str, used: set[str]) -> str:
    # Datasets repeat frame names across scenes (00000000.png in every REDS sequence).
    base = f"{scene}__{path.name}".replace(os.sep, "_") if scene and scene != str(path) else path.name
    name, i = base, 1
    while name in used:
        name = f"{Path(base).stem}_{i}{Path(base).suffix}"
        i += 1
    used.add(name)
    return name


def write_split(pairs: Sequence[BlurPair], out_dir: str | os.PathLike, ratio: float = 0.6, seed: int = 0,
                *, source: str = "") -> Path:
    """Write ``out_dir/B`` (blurry images of B's scenes), ``out_dir/S`` (sharp images of S's
    scenes), both as links to the dataset's files, and ``out_dir/split.json``. Returns out_dir.

    Refuses an `out_dir` that already holds ``B``, ``S`` or ``split.json``.
    """
    out = Path(out_dir)
    for name in ("B", "S", "split.json"):
        if (out / name).exists():
            raise FileExistsError(f"{out / name} exists; refusing to overwrite a split (choose another --out)")
    b_pairs, s_pairs = split_scenes(pairs, ratio, seed)
    manifest = {"source": source, "ratio": ratio, "seed": seed,
                "B": {"scenes": sorted({scene_of(p) for p in b_pairs}), "files": {}},
                "S": {"scenes": sorted({scene_of(p) for p in s_pairs}), "files": {}}}
    for part, chosen, pick in (("B", b_pairs, lambda p: [p.blurry]), ("S", s_pairs, lambda p: [middle_sharp(p)])):
        (out / part).mkdir(parents=True)
        used: set[str] = set()
        for pair in chosen:
            for src in pick(pair):
                name = _flat_name(Path(src), scene_of(pair), used)
                _link(Path(src), out / part / name)
                manifest[part]["files"][name] = str(src)
    (out / "split.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return out


__all__ = ["heldout_tail", "scene_of", "split_by_scene", "split_scenes", "write_split"]
