"""Weight files from the internet: one registry, one cache, checksums always verified.

    >>> from blur2blur import hub
    >>> path = hub.fetch("vgg19")            # cached file, or a verified download
    >>> hub.cache_dir()                      # where files live

Cache folder: ``$BLUR2BLUR_CACHE``, else ``$XDG_CACHE_HOME/blur2blur``, else
``~/.cache/blur2blur``. A file is downloaded to a temporary file in that folder, its sha256
checked, then renamed into place (atomic: an interrupted download never leaves a file that
looks complete). ``BLUR2BLUR_OFFLINE=1`` forbids downloads; the error then says which URL to
fetch by hand and the exact path to put it at.

Files torchvision already downloaded (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``) are used in place when their checksum matches.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from blur2blur.fileio import atomic_path

log = logging.getLogger(__name__)

_HEX = re.compile(r"^[0-9a-f]+$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightFile:
    """A downloadable weight file.

    ``sha256`` is the full hex digest, or a prefix of at least 8 hex digits where only that is
    published (torchvision names its files ``<name>-<first 8 hex of sha256>.pth``), or None
    where nothing is published (the download is then used unverified, with a warning).
    """

    name: str
    url: str
    sha256: str | None
    filename: str
    description: str = ""
    source: str = ""  # licence and provenance, in words
    size: int | None = None  # bytes, when known (only for messages)

    def __post_init__(self):
        if self.sha256 is not None:
            h = self.sha256.lower()
            if not _HEX.match(h) or not 8 <= len(h) <= 64:
                raise ValueError(f"{self.name}: sha256 must be 8 to 64 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", h)


class DownloadError(RuntimeError):
    """A weight file could not be obtained."""


class OfflineError(DownloadError):
    """No network (or downloads disabled) and the file is not in the cache."""


class ChecksumError(DownloadError):
    """A file's sha256 differs from the registered one."""


REGISTRY: dict[str, WeightFile] = {}


def register(entry: WeightFile) -> WeightFile:
    """Add `entry` to the registry (a name can be registered once)."""
    if entry.name in REGISTRY and REGISTRY[entry.name] != entry:
        raise ValueError(f"weight file {entry.name!r} is registered twice")
    REGISTRY[entry.name] = entry
    return entry


def get_entry(name: str) -> WeightFile:
    """The registered :class:`WeightFile` called `name`; the error lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


# ImageNet VGGs from torchvision (BSD-3-Clause code; weights trained by the torchvision team on
# ImageNet-1k, whose terms restrict use to non-commercial research).
register(WeightFile(
    name="vgg19",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    # Only the 8-digit prefix in the file name is published; the full digest was not found in
    # any source we could check, so the prefix is what we verify (as torchvision does).
    sha256="dcbb9e9d",
    filename="vgg19-dcbb9e9d.pth",
    description="VGG19 ImageNet classifier (torchvision IMAGENET1K_V1, about 548 MB); blur2blur uses its `features`",
    source="torchvision (BSD-3-Clause code); ImageNet-trained weights, non-commercial research terms",
))
register(WeightFile(
    name="vgg16",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    # Full digest as recorded, with the file size, by a third-party project that pins this file;
    # its first 8 digits match the published prefix in the file name.
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    filename="vgg16-397923af.pth",
    description="VGG16 ImageNet classifier (torchvision IMAGENET1K_V1): the official Blur2Blur perceptual loss",
    source="torchvision (BSD-3-Clause code); ImageNet-trained weights, non-commercial research terms",
    size=553433881,
))
register(WeightFile(
    name="restormer_motion_deblurring",
    url="https://github.com/swz30/Restormer/releases/download/v1.0/motion_deblurring.pth",
    sha256=None,  # no digest is published; the file is used unverified (a warning shows its hash)
    filename="restormer_motion_deblurring.pth",
    description="Restormer trained on GoPro for single-image motion deblurring ({'params': state_dict})",
    source="swz30/Restormer v1.0 GitHub release; code and weights under the Restormer licence",
))


# --------------------------------------------------------------------------- paths and hashes


def cache_dir() -> Path:
    """``$BLUR2BLUR_CACHE``, else ``$XDG_CACHE_HOME/blur2blur``, else ``~/.cache/blur2blur``."""
    if os.environ.get("BLUR2BLUR_CACHE"):
        return Path(os.environ["BLUR2BLUR_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "blur2blur"
    return Path.home() / ".cache" / "blur2blur"


def cached_path(name_or_entry: str | WeightFile) -> Path:
    """Where the file is (or will be) in our cache."""
    entry = get_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    return cache_dir() / entry.filename


def _torch_hub_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "torch")
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def offline() -> bool:
    """True when ``BLUR2BLUR_OFFLINE`` is set to 1/true/yes/on."""
    return os.environ.get("BLUR2BLUR_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(actual: str, expected: str | None) -> bool:
    return expected is None or actual.startswith(expected)


def _expected_text(expected: str) -> str:
    return expected if len(expected) == 64 else f"{expected}... (published prefix)"


# --------------------------------------------------------------------------- fetching


def fetch(name_or_entry: str | WeightFile, *, allow_download: bool = True, progress: bool = True) -> Path:
    """Path of a verified local copy of a weight file, downloading it if needed.

    Looks in :func:`cache_dir` (then in torchvision's cache); a file whose checksum does not
    match raises :class:`ChecksumError` (delete it to download again). Otherwise downloads,
    unless `allow_download` is False or ``BLUR2BLUR_OFFLINE=1`` (then :class:`OfflineError`,
    naming the URL and the exact path to place the file at).
    """
    entry = get_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    target = cached_path(entry)

    if target.is_file():
        actual = sha256_file(target)
        if not _matches(actual, entry.sha256):
            raise ChecksumError(
                f"{target} has sha256 {actual}, expected {_expected_text(entry.sha256)}: it is not the "
                f"{entry.name} weight file (or it is damaged). Delete it to download {entry.url} again")
        if entry.sha256 is None:
            log.debug("%s: no published checksum; using %s (sha256 %s)", entry.name, target, actual)
        return target

    # torchvision users often have the ImageNet files already; use them where they match.
    foreign = _torch_hub_dir() / entry.filename
    if entry.sha256 is not None and foreign.is_file() and _matches(sha256_file(foreign), entry.sha256):
        log.info("using %s from the torch hub cache: %s", entry.name, foreign)
        return foreign

    if not allow_download or offline():
        why = "BLUR2BLUR_OFFLINE is set" if offline() else "downloads are disabled"
        raise OfflineError(
            f"{entry.name} weights are not in the cache and {why}. Offline? Download {entry.url} "
            f"yourself and place it at {target}" + _size_hint(entry))
    return _download(entry, target, progress)


def _size_hint(entry: WeightFile) -> str:
    return f" ({entry.size / 1e6:.0f} MB)" if entry.size else ""


def _download(entry: WeightFile, target: Path, progress: bool) -> Path:
    from tqdm.auto import tqdm

    request = urllib.request.Request(entry.url, headers={"User-Agent": "blur2blur"})
    digest = hashlib.sha256()
    # Whatever goes wrong, atomic_path never leaves a partial file behind.
    with atomic_path(target, suffix=".part") as tmp:
        try:
            with open(tmp, "xb") as out, urllib.request.urlopen(request, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or entry.size
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=entry.filename,
                          disable=not progress, leave=False) as bar:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as e:
            raise DownloadError(
                f"downloading {entry.url} failed: the server answered {e.code} {e.reason}. Download it "
                f"yourself and place it at {target}") from e
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise OfflineError(
                f"could not download {entry.url} ({reason}). Offline? Download {entry.url} yourself and "
                f"place it at {target}" + _size_hint(entry)) from e

        actual = digest.hexdigest()
        if not _matches(actual, entry.sha256):
            raise ChecksumError(
                f"the file downloaded from {entry.url} has sha256 {actual}, expected "
                f"{_expected_text(entry.sha256)}; it was deleted. Try again, or download it yourself and "
                f"place it at {target} after checking it")
        if entry.sha256 is None:
            log.warning("%s: no published checksum to verify the download against; its sha256 is %s",
                        entry.name, actual)
    log.info("downloaded %s to %s", entry.url, target)
    return target


__all__ = [
    "REGISTRY",
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "WeightFile",
    "cache_dir",
    "cached_path",
    "fetch",
    "get_entry",
    "offline",
    "register",
    "sha256_file",
]
