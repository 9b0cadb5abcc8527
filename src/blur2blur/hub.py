"""Official weight files: one registry, one cache, checksums verified where published.

    >>> from blur2blur import hub
    >>> path = hub.fetch("vgg19")            # cached file, or a verified download
    >>> hub.cache_dir()                      # where files live
    >>> [hub.check(e) for e in hub.REGISTRY.values()]   # what `blur2blur weights` shows

Every official checkpoint the toolkit loads has an entry: where it is published, its file name,
its sha256 where one is published, the architecture (:func:`blur2blur.models.create_model` name
and arguments) it loads into, and what it is for. Files published only on a web page (Google
Drive) cannot be downloaded reliably by a program: their error says which page to download from
and the exact path to put the file at. Where no checksum is published, :func:`check` verifies
instead that the file's tensors fit the entry's architecture and arguments.

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
from dataclasses import dataclass, field
from pathlib import Path

from blur2blur.fileio import atomic_path

log = logging.getLogger(__name__)

_HEX = re.compile(r"^[0-9a-f]+$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightFile:
    """An official weight file.

    ``url`` is where the file is published: the file itself when ``direct`` (a GitHub release,
    download.pytorch.org), else the page a person downloads it from (Google Drive). ``filename``
    is the publisher's file name, and the file's name in :func:`cache_dir`.

    ``sha256`` is the full hex digest, or a prefix of at least 8 hex digits where only that is
    published (torchvision names its files ``<name>-<first 8 hex of sha256>.pth``), or None
    where nothing is published (a download is then used unverified, with a warning).

    ``arch`` and ``arch_args`` name the registered architecture the file loads into and the
    constructor arguments its tensors imply (None: not compared, e.g. VGG's truncated stacks).
    """

    name: str
    url: str
    sha256: str | None
    filename: str
    description: str = ""
    source: str = ""  # licence and provenance, in words
    size: int | None = None  # bytes, when known (only for messages)
    direct: bool = True
    arch: str | None = None
    arch_args: dict | None = field(default=None, hash=False)

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


# The official checkpoints, in the order a user meets them: deblurrers D', the blur-kernel
# extractor F, the perceptual loss's VGG. Links are the ones each project's README gives; none of
# these projects publishes a checksum except torchvision (the 8-digit prefix in its file names).

_NAFNET_BLOCKS = {"img_channel": 3, "middle_blk_num": 1, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1]}
_NAFNET_SOURCE = "megvii-research/NAFNet, docs/{doc} (Google Drive; Baidu mirror); MIT licence"
_NAFNET_USE = ("NAFNet deblurrer trained on {data}: a known-blur deblurrer D' (`fit --deblurrer`, "
               "`deblur --model`)")

register(WeightFile(
    name="nafnet_gopro_width32",
    url="https://drive.google.com/file/d/1Fr2QadtDCEXg6iwWX8OzeZLbHOx2t5Bj/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="NAFNet-GoPro-width32.pth",
    description=_NAFNET_USE.format(data="GoPro (width 32)"),
    source=_NAFNET_SOURCE.format(doc="GoPro.md"),
    arch="nafnet_local",
    arch_args={**_NAFNET_BLOCKS, "width": 32},
))
register(WeightFile(
    name="nafnet_gopro_width64",
    url="https://drive.google.com/file/d/1S0PVRbyTakYY9a82kujgZLbMihfNBLfC/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="NAFNet-GoPro-width64.pth",
    description=_NAFNET_USE.format(data="GoPro (width 64)"),
    source=_NAFNET_SOURCE.format(doc="GoPro.md"),
    arch="nafnet_local",
    arch_args={**_NAFNET_BLOCKS, "width": 64},
))
register(WeightFile(
    name="nafnet_reds_width64",
    url="https://drive.google.com/file/d/14D4V4raNYIOhETfcuuLI3bGLB-OYIv6X/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="NAFNet-REDS-width64.pth",
    description=_NAFNET_USE.format(data="REDS (width 64; NAFNet publishes no REDS width-32 model)"),
    source=_NAFNET_SOURCE.format(doc="REDS.md"),
    arch="nafnet_local",
    arch_args={**_NAFNET_BLOCKS, "width": 64},
))
register(WeightFile(
    name="restormer_motion_deblurring",
    url="https://github.com/swz30/Restormer/releases/download/v1.0/motion_deblurring.pth",
    sha256=None,  # no checksum published; a download is used unverified (a warning shows its hash)
    filename="motion_deblurring.pth",
    description="Restormer trained on GoPro for single-image motion deblurring: a known-blur deblurrer D'",
    source="swz30/Restormer v1.0 GitHub release (also its Motion_Deblurring README's Google Drive folder); "
           "see the repository's LICENSE.md",
    arch="restormer",
    arch_args={"inp_channels": 3, "out_channels": 3, "dim": 48, "num_blocks": [4, 6, 6, 8],
               "num_refinement_blocks": 4, "heads": [1, 2, 4, 8], "ffn_expansion_factor": 2.66, "bias": False,
               "LayerNorm_type": "WithBias", "dual_pixel_task": False},
))
register(WeightFile(
    name="mimo_unet_gopro",
    url="https://drive.google.com/file/d/1EQJoQj3YMLFfzrbgzWMD3Xj96RqLdIlx/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="MIMO-UNet.pkl",
    description="MIMO-UNet trained on GoPro: a known-blur deblurrer D'",
    source="chosj95/MIMO-UNet README, section Model (Google Drive); the repository has no licence file",
    arch="mimo_unet",
    arch_args={"num_res": 8, "base_channel": 32},
))
register(WeightFile(
    name="mimo_unet_plus_gopro",
    url="https://drive.google.com/file/d/166sufeHcdDTgXHNbCRzTC4T6DzuflB5m/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="MIMO-UNetPlus.pkl",
    description="MIMO-UNet+ trained on GoPro: a known-blur deblurrer D'",
    source="chosj95/MIMO-UNet README, section Model (Google Drive); the repository has no licence file",
    arch="mimo_unet_plus",
    arch_args={"num_res": 20, "base_channel": 32},
))

_KERNEL_WIZARD_ARGS = {"input_nc": 3, "nf": 64, "front_RBs": 10, "back_RBs": 20, "N_frames": 1, "kernel_dim": 512,
                       "KernelExtractor": {"norm": "none", "use_sharp": True, "n_blocks": 4,
                                           "padding_type": "reflect", "use_dropout": False},
                       "Adapter": {"norm": "none", "use_dropout": False}}
_KERNEL_WIZARD_SOURCE = ("VinAIResearch/blur-kernel-space-exploring README, Model Zoo (Google Drive); "
                         "BSD-style VinAI licence")

register(WeightFile(
    name="kernel_wizard_gopro_wovae",
    url="https://drive.google.com/file/d/1xUvRmusWa0PaFej1Kxu11Te33v0JvEeL/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="GOPRO_woVAE.pth",
    description="blur-kernel extractor F trained on GoPro, without VAE: the one Blur2Blur uses to build K "
                "(`fit --extractor`, `known-set make --extractor`, `extractor train --init`)",
    source=_KERNEL_WIZARD_SOURCE,
    arch="kernel_wizard",
    arch_args={**_KERNEL_WIZARD_ARGS, "use_vae": False},
))
register(WeightFile(
    name="kernel_wizard_gopro_wvae",
    url="https://drive.google.com/file/d/1vRoDpIsrTRYZKsOMPNbPcMtFDpCT6Foy/view",
    direct=False,
    sha256=None,  # no checksum published
    filename="GOPRO_wVAE.pth",
    description="blur-kernel extractor F trained on GoPro, with VAE (the kernel space can be sampled); "
                "loads wherever an extractor is taken",
    source=_KERNEL_WIZARD_SOURCE,
    arch="kernel_wizard",
    arch_args={**_KERNEL_WIZARD_ARGS, "use_vae": True},
))

# ImageNet VGGs from torchvision (BSD-3-Clause code; weights trained by the torchvision team on
# ImageNet-1k, whose terms restrict use to non-commercial research). Downloaded when first needed.
register(WeightFile(
    name="vgg19",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    # Only the 8-digit prefix in the file name is published; the full digest was not found in
    # any source we could check, so the prefix is what we verify (as torchvision does).
    sha256="dcbb9e9d",
    filename="vgg19-dcbb9e9d.pth",
    description="VGG19 ImageNet classifier (torchvision IMAGENET1K_V1, about 548 MB): the paper's "
                "perceptual loss of the translator (translator.perceptual=paper) uses its `features`",
    source="torchvision (BSD-3-Clause code); ImageNet-trained weights, non-commercial research terms",
    arch="vgg19",
))
register(WeightFile(
    name="vgg16",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    # Full digest as recorded, with the file size, by a third-party project that pins this file;
    # its first 8 digits match the published prefix in the file name.
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    filename="vgg16-397923af.pth",
    description="VGG16 ImageNet classifier (torchvision IMAGENET1K_V1): the official Blur2Blur code's "
                "perceptual loss (translator.perceptual=reference)",
    source="torchvision (BSD-3-Clause code); ImageNet-trained weights, non-commercial research terms",
    size=553433881,
    arch="vgg16",
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

    if not entry.direct:
        raise DownloadError(f"{entry.name} weights are not at {target}. " + how_to_get(entry))
    if not allow_download or offline():
        why = "BLUR2BLUR_OFFLINE is set" if offline() else "downloads are disabled"
        raise OfflineError(f"{entry.name} weights are not in the cache and {why}. Offline? " + how_to_get(entry))
    return _download(entry, target, progress)


def how_to_get(entry: WeightFile) -> str:
    """One sentence: where to download `entry` from and the exact path to place it at."""
    where = f"Download {entry.url}" if entry.direct else f"Download {entry.filename} from {entry.url}"
    return f"{where} yourself and place it at {cached_path(entry)}" + _size_hint(entry) + \
        (f"; source: {entry.source}" if entry.source else "")


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


# --------------------------------------------------------------------------- what is on disk

# States of a weight file on this machine, as `blur2blur weights` shows them.
VERIFIED = "verified"        # its sha256 matches the published one
FITS = "fits"                # no checksum is published; its tensors fit the entry's architecture
MISMATCH = "mismatch"        # present, but not this entry's file (or damaged)
MISSING = "missing"          # not on disk


@dataclass(frozen=True)
class WeightStatus:
    """Where a registered weight file is (or is expected), its state and a sentence on it."""

    entry: WeightFile
    path: Path
    state: str
    detail: str


def check(name_or_entry: str | WeightFile) -> WeightStatus:
    """Look at one registered file on disk (never downloads).

    A present file is verified by its sha256 where one is published; otherwise by reading it: its
    tensors must fit ``entry.arch`` with ``entry.arch_args`` (so a width-64 file at a width-32
    path is caught). A missing one's detail says where to download it and the exact path.
    """
    entry = get_entry(name_or_entry) if isinstance(name_or_entry, str) else name_or_entry
    target = cached_path(entry)
    if not target.is_file():
        foreign = _torch_hub_dir() / entry.filename
        if entry.sha256 is not None and foreign.is_file() and _matches(sha256_file(foreign), entry.sha256):
            return WeightStatus(entry, foreign, VERIFIED, "in the torch hub cache; sha256 matches")
        return WeightStatus(entry, target, MISSING, how_to_get(entry))
    if entry.sha256 is not None:
        actual = sha256_file(target)
        if _matches(actual, entry.sha256):
            return WeightStatus(entry, target, VERIFIED, "sha256 matches")
        return WeightStatus(entry, target, MISMATCH, f"sha256 {actual}, expected {_expected_text(entry.sha256)}: "
                            f"not the {entry.name} file, or damaged. " + how_to_get(entry))
    problem = _tensors_problem(entry, target)
    if problem is None:
        return WeightStatus(entry, target, FITS, f"no checksum published; its tensors fit {entry.arch}")
    return WeightStatus(entry, target, MISMATCH, f"no checksum published, and {problem}: not the {entry.name} "
                        "file. " + how_to_get(entry))


def _tensors_problem(entry: WeightFile, path: Path) -> str | None:
    # Why the file at `path` is not `entry`'s weights, judged by its tensors; None when they fit.
    from blur2blur.models import CheckpointError, get_spec, read_state_dict

    if entry.arch is None:
        return None
    try:
        sd, _ = read_state_dict(path)
    except (CheckpointError, OSError, RuntimeError, ValueError) as e:
        return f"it cannot be read as weights ({e})"
    spec = get_spec(entry.arch)
    found = spec.infer_config(sd) if spec.infer_config else {}
    if found is None:
        return f"its tensors do not fit {entry.arch}"
    differ = {k: found.get(k) for k, v in (entry.arch_args or {}).items() if found.get(k) != v}
    if differ:
        return f"its tensors fit {entry.arch} with " + ", ".join(f"{k}={v!r}" for k, v in differ.items()) + \
            " instead of " + ", ".join(f"{k}={entry.arch_args[k]!r}" for k in differ)
    return None


def resolve(path_or_name: str | os.PathLike) -> Path:
    """The file a weights argument means: an existing path as given, else a registered name's file.

    ``--model nafnet_gopro_width32`` loads the cached NAFNet-GoPro-width32.pth (downloaded where the
    publisher allows; else :class:`DownloadError` naming the page and the exact path). Anything else
    is returned as a path, so that the loader's "no such file" error names it.
    """
    path = Path(path_or_name)
    if path.exists() or str(path_or_name) not in REGISTRY:
        return path
    return fetch(str(path_or_name))


__all__ = [
    "FITS",
    "MISMATCH",
    "MISSING",
    "REGISTRY",
    "VERIFIED",
    "ChecksumError",
    "DownloadError",
    "OfflineError",
    "WeightFile",
    "WeightStatus",
    "cache_dir",
    "cached_path",
    "check",
    "fetch",
    "get_entry",
    "how_to_get",
    "offline",
    "register",
    "resolve",
    "sha256_file",
]
