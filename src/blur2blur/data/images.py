"""Reading and writing image files as float tensors, with a stated policy for every pixel format.

Networks see ``(3, H, W)`` float32 RGB in [0, 1]. What we do with each kind of file:

=================  ==========================================================================
file               policy
=================  ==========================================================================
8-bit RGB          divided by 255
16-bit PNG / TIFF  read at full depth (divided by 65535), written back as 16-bit
grayscale (L, I)   replicated to 3 channels for the network; written back as grayscale
                   (mean of the 3 output channels)
RGBA / LA          colour is processed, alpha is kept untouched and re-attached on write
palette (P)        expanded to RGB (RGBA if the palette has transparency)
CMYK, YCbCr        converted to RGB
float TIFF         values clipped to [0, 1] (a warning says how many were outside)
EXIF orientation   applied on read; outputs are written upright without the tag
several frames     animated GIF/WebP/PNG and multi-page TIFF are refused (ImageReadError naming
                   the frame count): a still result of one frame would silently lose the rest.
                   Multi-picture JPEG (MPO, as some cameras write) is read as its primary image
NaN / Inf          refused on read (float TIFF) and on write (ImageReadError / ValueError)
=================  ==========================================================================

Pillow reads 16-bit RGB PNGs only as 8-bit, so those go through pypng, and 16-bit/float
TIFFs through tifffile; everything else through Pillow.
"""

from __future__ import annotations

import errno
import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")


class ImageReadError(ValueError):
    """A file could not be read as an image (the message names the file and the reason)."""


@dataclass
class ImageInfo:
    """What is needed to write a result back in the form of its input."""

    path: Path
    bit_depth: int  # 8 or 16 (float TIFFs are reported as 16)
    grayscale: bool
    alpha: torch.Tensor | None  # (H, W) in [0, 1], or None


def _png_bit_depth(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(29)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 25:
        return None
    return head[24]  # IHDR bit depth


def _read_png16(path: Path) -> np.ndarray:
    import png

    width, height, rows, meta = png.Reader(filename=str(path)).asDirect()
    planes = meta["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
    return arr


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        pages = sum(1 for page in tif.pages if not page.is_reduced)  # thumbnails are not frames
        if pages > 1:
            raise ImageReadError(f"{path}: a multi-page TIFF with {pages} pages; blur2blur reads still images "
                                 "only (save the pages as separate files)")
        arr = tif.asarray()
    if arr.ndim == 3 and arr.shape[0] in (1, 2, 3, 4) and arr.shape[-1] not in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) TIFF
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ImageReadError(f"{path}: unsupported TIFF layout with shape {arr.shape}")
    return arr


def _to_unit_float(arr: np.ndarray, path: Path) -> tuple[np.ndarray, int]:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16
    if np.issubdtype(arr.dtype, np.floating):
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ImageReadError(f"{path}: {bad} sample values are NaN or infinite")
        outside = int(((arr < 0) | (arr > 1)).sum())
        if outside:
            warnings.warn(f"{path}: {outside} float values outside [0, 1] were clipped", stacklevel=3)
        return np.clip(arr.astype(np.float32), 0, 1), 16
    if arr.dtype == bool:
        return arr.astype(np.float32), 8
    raise ImageReadError(f"{path}: unsupported sample type {arr.dtype}")


def read_image(path: str | os.PathLike) -> tuple[torch.Tensor, ImageInfo]:
    """Read one image file as a ``(3, H, W)`` float32 RGB tensor in [0, 1], plus its :class:`ImageInfo`.

    Raises :class:`ImageReadError` (naming the file) when the file is missing, damaged or
    not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            arr = _read_tiff(path)
            exif_orient = _pil_orientation(path)
        elif suffix == ".png" and _png_bit_depth(path) == 16:
            arr = _read_png16(path)
            exif_orient = _pil_orientation(path)
        else:
            with Image.open(path) as im:
                frames = getattr(im, "n_frames", 1)
                if frames > 1 and im.format != "MPO":
                    raise ImageReadError(f"{path}: an animated or multi-frame image ({im.format}, {frames} frames); "
                                         "blur2blur reads still images only (convert it to a video, or "
                                         "extract the frames)")
                im.load()
                im = ImageOps.exif_transpose(im)
                im = _normalise_mode(im)
                arr = np.asarray(im)
                if arr.ndim == 2:
                    arr = arr[..., None]
            exif_orient = 1
    except ImageReadError:
        raise
    except Exception as e:  # Pillow/tifffile/pypng raise many different error types
        raise ImageReadError(f"{path}: cannot read as an image ({type(e).__name__}: {e})") from e

    values, depth = _to_unit_float(arr, path)
    channels = values.shape[-1]
    alpha = None
    if channels in (2, 4):
        alpha = torch.from_numpy(np.ascontiguousarray(values[..., -1]))
        values = values[..., :-1]
    grayscale = values.shape[-1] == 1
    if grayscale:
        values = np.repeat(values, 3, axis=-1)
    elif values.shape[-1] != 3:
        raise ImageReadError(f"{path}: unsupported channel count {channels}")
    img = torch.from_numpy(np.ascontiguousarray(values.transpose(2, 0, 1)))
    if exif_orient != 1:
        img, alpha = _apply_orientation(img, alpha, exif_orient)
    return img, ImageInfo(path, depth, grayscale, alpha)


def _normalise_mode(im: Image.Image) -> Image.Image:
    if im.mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return im.convert("RGB")
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return Image.fromarray(np.asarray(im, dtype=np.uint16))
    if im.mode == "I":  # 32-bit integer grayscale, as Pillow opens some 16-bit files
        return Image.fromarray(np.clip(np.asarray(im), 0, 65535).astype(np.uint16))
    if im.mode in ("RGB", "RGBA", "L", "LA", "F"):
        return im
    return im.convert("RGB")


def _pil_orientation(path: Path) -> int:
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1


def _apply_orientation(img: torch.Tensor, alpha: torch.Tensor | None, orientation: int):
    # EXIF orientation codes 2-8 as flips and quarter turns (same as PIL.ImageOps.exif_transpose).
    def tr(t: torch.Tensor) -> torch.Tensor:
        h, w = -2, -1
        return {
            2: lambda: t.flip(w),
            3: lambda: t.rot90(2, (h, w)),
            4: lambda: t.flip(h),
            5: lambda: t.transpose(h, w),
            6: lambda: t.rot90(-1, (h, w)),
            7: lambda: t.rot90(2, (h, w)).transpose(h, w),
            8: lambda: t.rot90(1, (h, w)),
        }.get(orientation, lambda: t)().contiguous()

    return tr(img), (tr(alpha) if alpha is not None else None)


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary name an output is written under before it is renamed to `path` (same folder).

    ``photo.png -> .photo.partial.png``: hidden, keeps the extension (the writers pick the format
    from it), and is never taken for a finished output. A rerun writes over a leftover one.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_image(img: torch.Tensor, path: str | os.PathLike, info: ImageInfo | None = None,
                *, overwrite: bool = False) -> Path:
    """Write a ``(3, H, W)`` tensor in [0, 1] (clamped) to `path`, in the form of its input.

    With `info`, the bit depth, grayscale-ness and alpha of the input are restored (16-bit
    goes to PNG or TIFF only). Refuses to replace an existing file unless `overwrite`, and
    refuses NaN/Inf values (they would silently become black). The file is written under
    :func:`partial_path` and renamed when complete, so `path` is either whole or absent.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; refusing to overwrite it")
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"write_image expects a (3, H, W) tensor, got {tuple(img.shape)}")
    x = img.detach().float().cpu()
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{path}: not written: {bad} of {x.numel()} values are NaN or infinite")
    x = x.clamp(0, 1)
    depth, gray, alpha = (info.bit_depth, info.grayscale, info.alpha) if info else (8, False, None)
    suffix = path.suffix.lower()
    if depth == 16 and suffix not in (".png", ".tif", ".tiff"):
        depth = 8  # JPEG/WebP/BMP hold 8 bits only
    planes = [x.mean(0, keepdim=True)] if gray else [x]
    if alpha is not None and alpha.shape == x.shape[1:]:
        planes.append(alpha[None].float().clamp(0, 1))
    arr = torch.cat(planes).permute(1, 2, 0).numpy()
    scale, dtype = (65535.0, np.uint16) if depth == 16 else (255.0, np.uint8)
    arr = np.round(arr * scale).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        _encode(arr, tmp, depth, suffix)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _encode(arr: np.ndarray, path: Path, depth: int, suffix: str) -> None:
    # arr: (H, W, C) uint8 or uint16; `suffix` (the final name's) picks the format.
    if depth == 16 and suffix in (".tif", ".tiff"):
        import tifffile

        c = arr.shape[-1]
        tifffile.imwrite(str(path), arr if c > 1 else arr[..., 0], photometric="minisblack" if c < 3 else "rgb",
                         extrasamples=["unassalpha"] if c in (2, 4) else None)
    elif depth == 16:
        import png

        h, w, c = arr.shape
        greyscale, has_alpha = c in (1, 2), c in (2, 4)
        with open(path, "wb") as f:
            png.Writer(w, h, greyscale=greyscale, alpha=has_alpha, bitdepth=16).write(
                f, arr.reshape(h, w * c).tolist())
    else:
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
        im = Image.fromarray(arr if arr.shape[-1] > 1 else arr[..., 0], mode=mode)
        if suffix in (".jpg", ".jpeg"):
            im = im.convert("L" if mode in ("L", "LA") else "RGB")
            im.save(path, quality=95)
        else:
            im.save(path)


def is_partial(path: Path) -> bool:
    """Whether `path` is a temporary :func:`partial_path` name (a write that has not finished)."""
    return path.name.startswith(".") and Path(path.name[1:]).stem.endswith(".partial")


def _folder_images(folder: Path, extensions) -> list[Path]:
    # Files of `folder` with an image extension; what is left out, and why, is said in a warning.
    found = []
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() not in extensions:
            continue
        if is_partial(f):
            warnings.warn(f"{f}: skipped: an unfinished output of an interrupted run", stacklevel=3)
            continue
        try:
            f.stat()  # follows symlinks: a loop or a dangling link fails here
        except OSError as e:
            what = "a symlink loop" if e.errno == errno.ELOOP else \
                "a broken symlink" if f.is_symlink() else e.strerror
            warnings.warn(f"{f}: skipped: {what}", stacklevel=3)
            continue
        if f.is_file():
            found.append(f)
        else:
            warnings.warn(f"{f}: skipped: not a file", stacklevel=3)
    return found


def expand_inputs(inputs: list[str | os.PathLike], extensions=IMAGE_EXTENSIONS) -> list[Path]:
    """Turn files, folders (not recursive) and glob patterns into a sorted, de-duplicated file list.

    Raises FileNotFoundError naming an input that matches nothing. Entries of a folder that
    cannot be used (symlink loops, broken links, unfinished outputs) are skipped with a warning.
    """
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = _folder_images(p, extensions)
            if not found:
                raise FileNotFoundError(f"{p}: folder holds no images ({', '.join(extensions)})")
            files += found
        elif p.is_file():
            files.append(p)
        elif glob.has_magic(str(item)):
            found = sorted(Path(f) for f in glob.glob(str(item), recursive=True)
                           if Path(f).is_file() and not is_partial(Path(f)))
            if not found:
                raise FileNotFoundError(f"{item}: pattern matches no file")
            files += found
        elif p.is_symlink():
            raise FileNotFoundError(f"{item}: a broken symlink or a symlink loop")
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    seen, unique = set(), []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
