"""Atomic file writes: a file (or folder) appears whole under its name, or not at all.

Every result the toolkit leaves for a later run to find (configs, checkpoints, manifests,
evaluations, downloads, reports) is written under a temporary name next to its target and
renamed into place when complete, so an interrupted run never leaves a half-written file that
a resumed run would take for a finished one. The temporary name is unique per process, so two
processes writing the same target never write into each other's file.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to `path`; write it in the block, and it replaces `path` at the end.

    If the block raises, the temporary file (or folder) is removed and `path` is left as it was.
    The parent folder is created. Replacing a folder needs the old one gone first (the caller's job).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to `path`; fill it in the block, and it replaces the folder
    `path` (the old one, if any, is moved aside first and removed after). If the block raises, `path`
    is left as it was."""
    path = Path(path)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.mkdir()
        yield tmp
        if path.exists():
            os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write `data` to `path` atomically (flushed to disk first when `fsync`); returns `path`."""
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> Path:
    """Write `text` to `path` atomically (see :func:`atomic_write_bytes`); returns `path`."""
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


__all__ = ["atomic_folder", "atomic_path", "atomic_write_bytes", "atomic_write_text"]
