"""The bundled demo data: known-blur pairs and a camera's image sets made from the demo photos.

The demo has two simulated cameras built from the 91 bundled photographs (``blur2blur.assets``):

* the **known camera**: straight motion blur (kernels of 7-21 px, random angle and weighting)
  integrated in linear light (gamma 2.2), no noise. It is the blur the bundled sample deblurrer
  was trained on, so it plays the part of GoPro/REDS: the known-blur pairs P come from it;
* the **camera** whose blur is unknown (added with the camera simulator of the experiments):
  its scenes are disjoint from P's. Every third photo (sorted by name) belongs to it.

Files are written once into the cache folder (``$BLUR2BLUR_CACHE/demo``) and reused; every
image is a function of the photo and a seed, so they can be rebuilt at any time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


from blur2blur.assets import demo_photos
from blur2blur.data.images import read_image, write_image
from blur2blur.data.synthetic import blur_with_kernels, draw_motion_kernels
from blur2blur.fileio import atomic_path
from blur2blur.seeding import generator

KNOWN_GAMMA = 2.2
KNOWN_KERNEL_SIZES = (7, 21)
_VERSION = 2


def split_demo_photos() -> tuple[list[Path], list[Path]]:
    """(known-camera photos, unknown-camera photos): every third photo goes to the unknown camera."""
    photos = demo_photos()
    return [p for i, p in enumerate(photos) if i % 3 != 2], [p for i, p in enumerate(photos) if i % 3 == 2]


def known_test_photos() -> list[Path]:
    """The known camera's held-out test scenes: every tenth known-camera photo (6 of 61)."""
    return [p for i, p in enumerate(split_demo_photos()[0]) if i % 10 == 5]


def write_known_pairs(out_dir: str | os.PathLike, photos: list[Path] | None = None, *, seed: int = 0) -> Path:
    """Blur each photo with the known camera into ``out_dir/{blur,sharp}/<stem>.png`` (the "folders" layout).

    ``out_dir/kernels.json`` records each image's kernel (length, angle, direction). Refuses to
    write into a folder that already has a ``blur`` or ``sharp`` subfolder.
    """
    out = Path(out_dir)
    if (out / "blur").exists() or (out / "sharp").exists():
        raise FileExistsError(f"{out} already holds blur/ or sharp/; refusing to write over them")
    photos = split_demo_photos()[0] if photos is None else photos
    records = {}
    for i, path in enumerate(photos):
        sharp, _ = read_image(path)
        kernels, params = draw_motion_kernels(1, generator(seed, i), KNOWN_KERNEL_SIZES)
        blurry = blur_with_kernels(sharp[None], kernels, gamma=KNOWN_GAMMA)[0]
        write_image(sharp, out / "sharp" / f"{path.stem}.png")
        write_image(blurry, out / "blur" / f"{path.stem}.png")
        records[path.stem] = {**params[0], "gamma": KNOWN_GAMMA, "photo": path.name}
    (out / "kernels.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return out


def demo_known_pairs(cache: str | os.PathLike | None = None) -> Path:
    """The demo's known-blur pairs, built in the cache on first use.

    Returns a folder with ``train/`` and ``test/`` (every tenth known-camera photo), each in the
    "folders" layout (``blur/``, ``sharp/``).
    """
    from blur2blur.hub import cache_dir

    root = Path(cache) if cache else cache_dir() / "demo"
    target = root / f"known-pairs-v{_VERSION}"
    if (target / "test" / "kernels.json").exists():
        return target
    with atomic_path(target) as tmp:   # a folder: it appears whole
        test = set(known_test_photos())
        write_known_pairs(tmp / "train", [p for p in split_demo_photos()[0] if p not in test], seed=0)
        write_known_pairs(tmp / "test", known_test_photos(), seed=1)
        if target.exists():  # an incomplete earlier attempt
            shutil.rmtree(target)
    return target


def write_known_camera_set(sharp_paths: list[Path], out_dir: str | os.PathLike, *, variants: int = 1,
                           seed: int = 0, camera_noise: str = "auto") -> list[tuple[Path, Path]]:
    """A known-blur set K made by the demo's known camera itself: its blur put on each sharp image.

    K as the kernel extractor F should make it, without F's error: a diagnostic for simulated
    benchmarks (a real known dataset such as GoPro has no such function). The camera look of
    the sharp images is put back after blurring as ``known-set make`` does (`camera_noise`:
    auto/match/off). Writes ``out_dir/<stem>_k<v>.png`` and ``manifest.json``; existing images
    are kept (a rerun resumes), a folder made with other settings is refused.
    Returns (K image, the sharp image it was made from) for every image.
    """
    from blur2blur.data.camera_look import apply_camera_look, estimate_noise
    from blur2blur.known_set import camera_look_for, k_output_names

    out = Path(out_dir)
    sharp_paths = [Path(p) for p in sharp_paths]
    look = camera_look_for(sharp_paths, camera_noise)
    header = {"kind": "known-camera K", "version": _VERSION, "gamma": KNOWN_GAMMA,
              "kernel_sizes": list(KNOWN_KERNEL_SIZES), "variants": variants, "seed": seed,
              "camera_look": look.to_dict() if look else None, "sharp": [str(p) for p in sharp_paths]}
    manifest = out / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text(encoding="utf-8")) != header:
        raise ValueError(f"{out} holds a K set made with other settings; choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(header, indent=1), encoding="utf-8")
    result = []
    for i, (path, names) in enumerate(zip(sharp_paths, k_output_names(sharp_paths, variants, ".png"), strict=True)):
        sharp = None
        for v, name in enumerate(names):
            result.append((out / name, path))
            if (out / name).exists():
                continue
            if sharp is None:
                sharp, _ = read_image(path)
            kernels, _ = draw_motion_kernels(1, generator(seed, i, v), KNOWN_KERNEL_SIZES)
            blurry = blur_with_kernels(sharp[None], kernels, gamma=KNOWN_GAMMA)[0]
            if look is not None:
                present = estimate_noise([blurry]) if look.noise is not None else None
                blurry = apply_camera_look(blurry, look, generator=generator(seed, i, v, 1), present=present)
            write_image(blurry, out / name)
    return result


def demo_camera_sharp() -> list[Path]:
    """Sharp photos of the demo's unknown camera (scenes disjoint from the known pairs)."""
    return split_demo_photos()[1]


__all__ = ["demo_camera_sharp", "demo_known_pairs", "known_test_photos", "split_demo_photos", "write_known_camera_set",
           "write_known_pairs"]
