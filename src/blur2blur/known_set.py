"""The known-blur set K: the camera's own sharp images, re-blurred with kernels of known pairs.

Paper Sec. 3.3. For a sharp image s of the camera, draw a known (sharp, blurry) pair, encode
its blur with the kernel extractor F and apply that kernel to s. K then carries the known
domain's blur and the camera's look, so the translator's discriminator compares blur only.

Two ways to get K:

* :func:`make_known_set` writes K once (``blur2blur known-set make``), with a manifest
  line per image that records every choice (which pair, which window, which flip/rotation,
  which seed); :func:`regenerate` rebuilds any image from its line. Existing outputs are kept,
  so an interrupted run resumes.

Rules that matter:

* kernel maps are never flipped or rotated (the extractor has no such symmetry); the known
  pair is augmented *before* encoding instead;
* the re-blurring network wants multiples of 128: images are padded and cropped back, and a
  known window smaller than the sharp image gives a kernel map that is tiled periodically;
* output is clamped to [0, 1];
* re-blurring averages the camera's noise away and removes its JPEG blocking, which leaves
  a non-blur difference between K and the camera's blurry images B. With ``camera_noise``
  "match" (or "auto", when S is visibly noisy or JPEG-compressed) the camera's noise level and
  JPEG quality, estimated from S, are put back after blurring (see
  :mod:`blur2blur.data.camera_look`). Use it for phone, webcam and low-light footage; leave it
  off for clean, losslessly stored images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from blur2blur.config import limits
from blur2blur.data.camera_look import CameraLook, apply_camera_look, estimate_camera_look, estimate_noise
from blur2blur.data.datasets import ImageCache, apply_dihedral, random_crop_box, random_dihedral
from blur2blur.data.images import read_image, write_image
from blur2blur.data.pairs import BlurPair, load_pair
from blur2blur.fileio import atomic_write_text
from blur2blur.models.kernel_wizard import APPLY_MULTIPLE, KernelWizard
from blur2blur.ops import pad_right_bottom
from blur2blur.seeding import generator, mix_seed

MANIFEST = "manifest.jsonl"
MANIFEST_VERSION = 1


@dataclass
class KnownSetConfig:
    """How `known-set make` builds K (the defaults write one full-size K image per sharp image)."""

    variants: int = field(default=1, metadata=limits(minimum=1))  # K images per sharp image, each its own pair
    crop: int | None = field(default=None, metadata=limits(minimum=1))  # None: whole image; N: random N x N crop
    seed: int = 0
    augment_known: bool = True        # random flip/rotation of the known pair before encoding
    camera_noise: Literal["auto", "match", "off"] = "auto"
    tile: int | None = field(default=None, metadata=limits(minimum=128))  # re-blur in tiles (multiple of 128)
    sharp_mode: str = "middle"        # known pairs with a sharp sequence: middle frame or average


@dataclass
class KnownSetItem:
    """Every choice behind one K image (a manifest line); boxes are [top, left, height, width]."""

    output: str
    sharp: str
    sharp_box: list[int]
    pair_blurry: str
    pair_sharp: list[str]
    pair_dihedral: list[bool]         # hflip, vflip, transpose, applied before the window is cut
    pair_box: list[int]
    seed: int                         # kernel sampling (VAE extractors) and camera noise

    def pair(self) -> BlurPair:
        sharp = tuple(Path(p) for p in self.pair_sharp)
        return BlurPair(Path(self.pair_blurry), sharp[0] if len(sharp) == 1 else sharp, None)


# ----------------------------------------------------------------------------- re-blurring


def tile_kernel_map(kernel: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Repeat a (B, C, h, w) kernel map periodically and cut it to (B, C, height, width)."""
    h, w = kernel.shape[-2:]
    reps = (-(-height // h), -(-width // w))
    return kernel.repeat(1, 1, *reps)[..., :height, :width]


def apply_kernel_tiled(wizard: KernelWizard, sharp: torch.Tensor, kernel: torch.Tensor, tile: int | None = None
                       ) -> torch.Tensor:
    """Re-blur `sharp` (B, 3, H, W) with a kernel map covering its padded canvas; returns (B, 3, H, W).

    With `tile` (a multiple of 128), the canvas is processed in tiles, each seen with a margin
    of 128 pixels of context that is cut off afterwards, so memory follows the tile size.
    """
    m = APPLY_MULTIPLE
    h, w = sharp.shape[-2:]
    ch, cw = kernel.shape[-2] * m, kernel.shape[-1] * m
    if tile is None or (ch <= tile and cw <= tile):
        return wizard.apply_kernel_padded(sharp, kernel)
    if tile % m:
        raise ValueError(f"tile must be a multiple of {m}, got {tile}")
    canvas = pad_right_bottom(sharp, ch, cw, "reflect")
    out = torch.empty_like(canvas)
    for y in range(0, ch, tile):
        for x in range(0, cw, tile):
            y0, x0 = max(0, y - m), max(0, x - m)
            y1, x1 = min(ch, y + tile + m), min(cw, x + tile + m)
            part = wizard.apply_kernel(canvas[..., y0:y1, x0:x1], kernel[..., y0 // m:y1 // m, x0 // m:x1 // m])
            ty, tx = min(tile, ch - y), min(tile, cw - x)
            out[..., y:y + ty, x:x + tx] = part[..., y - y0:y - y0 + ty, x - x0:x - x0 + tx]
    return out[..., :h, :w]


@torch.no_grad()
def reblur(wizard: KernelWizard, sharp: torch.Tensor, known_sharp: torch.Tensor, known_blurry: torch.Tensor, *,
           gen: torch.Generator | None = None, tile: int | None = None) -> torch.Tensor:
    """Blur `sharp` (B, 3, H, W) the way `known_sharp` became `known_blurry` (B or 1, 3, h, w); any sizes.

    The known pair's kernel map is tiled when it covers less than the sharp image. Returns
    (B, 3, H, W) clamped to [0, 1].
    """
    mean, sigma = wizard.encode_padded(known_sharp, known_blurry)
    kernel = wizard.sample_kernel(mean, sigma, gen) if wizard.use_vae else mean
    kh, kw = (s // APPLY_MULTIPLE for s in wizard.padded_size(*sharp.shape[-2:]))
    kernel = tile_kernel_map(kernel, kh, kw)
    if kernel.shape[0] != sharp.shape[0]:
        kernel = kernel.expand(sharp.shape[0], -1, -1, -1)
    return apply_kernel_tiled(wizard, sharp, kernel, tile).clamp(0, 1)


# ----------------------------------------------------------------------------- planning


def plan_item(index: int, variant: int, sharp_path: Path, sharp_hw: tuple[int, int], pairs: Sequence[BlurPair],
              pair_hw, cfg: KnownSetConfig, output: str) -> KnownSetItem:
    """Draw every choice for K image (`index`, `variant`) from its own seed.

    `pair_hw(pair) -> (H, W)` gives a known pair's size (decoding it if needed).
    """
    g = generator(cfg.seed, index, variant)
    pair = pairs[int(torch.randint(len(pairs), (1,), generator=g))]
    h, w = sharp_hw
    if cfg.crop:
        if min(h, w) < cfg.crop:
            raise ValueError(f"{sharp_path}: {w}x{h} is smaller than the {cfg.crop}px crop")
        y, x = random_crop_box(h, w, cfg.crop, g)
        sharp_box = [y, x, cfg.crop, cfg.crop]
    else:
        sharp_box = [0, 0, h, w]
    dihedral = list(random_dihedral(g)) if cfg.augment_known else [False, False, False]
    ph, pw = pair_hw(pair)
    if dihedral[2]:
        ph, pw = pw, ph
    wh, ww = min(sharp_box[2], ph), min(sharp_box[3], pw)
    py = int(torch.randint(ph - wh + 1, (1,), generator=g))
    px = int(torch.randint(pw - ww + 1, (1,), generator=g))
    sharp_paths = pair.sharp if isinstance(pair.sharp, tuple) else (pair.sharp,)
    return KnownSetItem(output=output, sharp=str(sharp_path), sharp_box=sharp_box, pair_blurry=str(pair.blurry),
                        pair_sharp=[str(p) for p in sharp_paths], pair_dihedral=dihedral, pair_box=[py, px, wh, ww],
                        seed=mix_seed(cfg.seed, index, variant, 2))


def camera_look_for(sharp_paths: Sequence[str | os.PathLike], mode: str) -> CameraLook | None:
    """The camera look to put back on K after blurring (``KnownSetConfig.camera_noise``), or None.

    "match": always the look estimated from S; "auto": only when it is noticeable; "off": None.
    """
    if mode not in ("auto", "match", "off"):
        raise ValueError(f"camera_noise must be 'auto', 'match' or 'off', got {mode!r}")
    if mode == "off":
        return None
    estimated = estimate_camera_look(sharp_paths)
    return estimated if (mode == "match" or estimated.is_noticeable()) else None


def _cut(x: torch.Tensor, box: Sequence[int]) -> torch.Tensor:
    y, x0, h, w = box
    return x[..., y:y + h, x0:x0 + w]


def synthesize(item: KnownSetItem, wizard: KernelWizard, *, sharp: torch.Tensor | None = None,
               known: tuple[torch.Tensor, torch.Tensor] | None = None, look: CameraLook | None = None,
               tile: int | None = None, sharp_mode: str = "middle") -> torch.Tensor:
    """The K image of `item`: (3, h, w) in [0, 1]. Decoded images may be passed in to skip reading."""
    device = next(wizard.parameters()).device
    if sharp is None:
        sharp = read_image(item.sharp)[0]
    if known is None:
        known = load_pair(item.pair(), sharp_mode)
    kb, ks = (apply_dihedral(t, *item.pair_dihedral) for t in known)
    kb, ks = _cut(kb, item.pair_box), _cut(ks, item.pair_box)
    s = _cut(sharp, item.sharp_box)
    g = torch.Generator(device=device).manual_seed(item.seed)
    out = reblur(wizard, s[None].to(device), ks[None].to(device), kb[None].to(device), gen=g, tile=tile)[0].cpu()
    if look is not None:
        present = estimate_noise([out]) if look.noise is not None else None
        out = apply_camera_look(out, look, generator=torch.Generator().manual_seed(item.seed), present=present)
    return out


# ----------------------------------------------------------------------------- K folder


def _read_manifest(path: Path) -> tuple[dict | None, dict[str, dict]]:
    if not path.exists():
        return None, {}
    header, items = None, {}
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines) and not text.endswith("\n"):
                break  # a line cut short by an interrupted run: its image is made again
            raise ValueError(f"{path}:{n}: not JSON ({e}); the file is damaged") from None
        if rec.get("kind") == "header":
            header = rec
        elif rec.get("kind") == "item":
            items[rec["output"]] = rec
    return header, items


def load_manifest(k_dir: str | os.PathLike) -> tuple[dict, list[KnownSetItem]]:
    """(header, items) of a K folder written by :func:`make_known_set`."""
    header, items = _read_manifest(Path(k_dir) / MANIFEST)
    if header is None:
        raise FileNotFoundError(f"{Path(k_dir) / MANIFEST}: no manifest header; not a K folder")
    fields = KnownSetItem.__dataclass_fields__
    return header, [KnownSetItem(**{k: v for k, v in rec.items() if k in fields}) for rec in items.values()]


def k_output_names(sharp_paths: Sequence[Path], variants: int, ext: str) -> list[list[str]]:
    """K's file names: ``<stem>_k<variant><ext>`` per sharp image (prefixed by its index when stems clash)."""
    stems = [p.stem for p in sharp_paths]
    clash = len(set(stems)) != len(stems)
    return [[(f"{i:05d}_" if clash else "") + f"{stem}_k{j}{ext}" for j in range(variants)]
            for i, stem in enumerate(stems)]


@dataclass
class KnownSetResult:
    out_dir: Path
    written: int
    skipped: int
    look: CameraLook | None


def make_known_set(wizard: KernelWizard, pairs: Sequence[BlurPair], sharp_paths: Sequence[str | os.PathLike],
                   out_dir: str | os.PathLike, cfg: KnownSetConfig | None = None, *,
                   extractor_info: dict[str, Any] | None = None, progress: bool = True) -> KnownSetResult:
    """Write K into `out_dir` (PNG, one per sharp image and variant) with ``manifest.jsonl``.

    Resumes: images already listed in the manifest and present are skipped. Refuses a folder
    made with different settings, a file it did not write, and an `out_dir` that holds inputs.
    """
    from tqdm.auto import tqdm

    cfg = cfg or KnownSetConfig()
    if cfg.variants < 1:
        raise ValueError(f"variants must be >= 1, got {cfg.variants}")
    if not pairs:
        raise ValueError("no known pairs")
    sharp_paths = [Path(p) for p in sharp_paths]
    if not sharp_paths:
        raise ValueError("no sharp images")
    out = Path(out_dir)
    inputs = {p.resolve().parent for p in sharp_paths} | {Path(p.blurry).resolve().parent for p in pairs}
    if out.resolve() in inputs:
        raise ValueError(f"{out} holds input images; choose another output folder for K")

    look = camera_look_for(sharp_paths, cfg.camera_noise)
    header = {"kind": "header", "version": MANIFEST_VERSION, "config": asdict(cfg),
              "extractor": extractor_info or {}, "camera_look": look.to_dict() if look else None,
              "n_sharp": len(sharp_paths), "n_pairs": len(pairs)}
    manifest = out / MANIFEST
    old_header, done = _read_manifest(manifest)
    if old_header is not None:
        differs = [k for k in ("version", "config", "extractor", "camera_look", "n_sharp", "n_pairs")
                   if old_header.get(k) != json.loads(json.dumps(header[k]))]
        if differs:
            raise ValueError(f"{out} holds a K set made with other settings ({', '.join(differs)} differ); "
                             "choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    names = k_output_names(sharp_paths, cfg.variants, ".png")
    for name in (n for row in names for n in row):
        # In a K folder of these settings an unlisted image of ours is an interrupted run's (written, not
        # yet listed): it is made again. Anywhere else it is somebody's file.
        if (out / name).exists() and name not in done and old_header is None:
            raise FileExistsError(f"{out / name} exists but is not in {manifest}; refusing to overwrite it")
    text = manifest.read_text(encoding="utf-8") if manifest.exists() else ""
    if text and not text.endswith("\n"):
        # Drop a last line cut short by an interruption, so that appending starts on a line of its own.
        kept = text.rsplit("\n", 1)[0]
        atomic_write_text(manifest, kept + "\n" if kept else "")

    pair_cache = ImageCache(64)

    def known_of(pair: BlurPair) -> tuple[torch.Tensor, torch.Tensor]:
        return pair_cache.get(pair.blurry, lambda: load_pair(pair, cfg.sharp_mode))

    written = skipped = 0
    with open(manifest, "a", encoding="utf-8") as log:
        if old_header is None:
            log.write(json.dumps(header) + "\n")
        todo = [(i, j) for i in range(len(sharp_paths)) for j in range(cfg.variants)]
        for i, j in tqdm(todo, desc="known blur", unit="img", disable=not progress):
            name = names[i][j]
            if name in done and (out / name).exists():
                skipped += 1
                continue
            sharp = read_image(sharp_paths[i])[0]
            item = plan_item(i, j, sharp_paths[i], tuple(sharp.shape[-2:]), pairs,
                             lambda p: tuple(known_of(p)[0].shape[-2:]), cfg, name)
            k = synthesize(item, wizard, sharp=sharp, known=known_of(item.pair()), look=look, tile=cfg.tile)
            write_image(k, out / name, overwrite=True)  # listed and missing, or unlisted (see above)
            log.write(json.dumps({"kind": "item", **asdict(item)}) + "\n")
            log.flush()
            written += 1
    return KnownSetResult(out, written, skipped, look)


def regenerate(k_dir: str | os.PathLike, output: str, wizard: KernelWizard, tile: int | None = None) -> torch.Tensor:
    """Rebuild K image `output` of a K folder from its manifest line: (3, h, w) in [0, 1]."""
    header, items = load_manifest(k_dir)
    by_name = {it.output: it for it in items}
    if output not in by_name:
        raise KeyError(f"{output} is not listed in {Path(k_dir) / MANIFEST}")
    look = CameraLook.from_dict(header["camera_look"]) if header.get("camera_look") else None
    return synthesize(by_name[output], wizard, look=look, tile=tile,
                      sharp_mode=header["config"].get("sharp_mode", "middle"))


__all__ = [
    "MANIFEST",
    "KnownSetConfig",
    "KnownSetItem",
    "KnownSetResult",
    "apply_kernel_tiled",
    "camera_look_for",
    "k_output_names",
    "load_manifest",
    "make_known_set",
    "plan_item",
    "reblur",
    "regenerate",
    "synthesize",
    "tile_kernel_map",
]
