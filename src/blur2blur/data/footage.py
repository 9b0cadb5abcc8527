"""Raw footage -> the blurry set B and the sharp set S: score every frame, choose a threshold, keep stretches apart.

A user with a video (or a folder of frames) of one camera gets B and S without sorting by hand:

1. **Score.** Each frame's blur degree (:func:`edge_blur`) is one minus the steepness of its
   sharpest edges in its blurriest direction: a blur widens every edge, so the steepest edges of a
   blurry frame are less steep than those of a sharp frame *whatever the scene*, where measures
   of gradient energy (the variance of the Laplacian, the blur effect) also grow with the amount of
   texture. What still fails on real footage, and what we do about it: a frame with no edges (sky,
   a wall, a lens cap) cannot be judged, so it is not scored and not used; a scene whose sharpest
   edges are soft (fog, water) still scores blurrier, and a moving subject in front of a still
   camera leaves the background sharp, so the decision is made per *stretch* of time, not per
   frame, and the report shows every score so a wrong threshold can be seen and overridden.
2. **Stretches.** Each source (a video, or the frames of one folder in name order) is cut into
   scenes where the colour histograms of consecutive frames differ by more than `cut` (total
   variation distance, which a pan or a blur barely moves but a scene change does), and every
   scene into near-equal stretches of at most `stretch` frames.
3. **Threshold.** Otsu's threshold on the scores of all scored frames (the cut that best
   separates two groups, :func:`choose_threshold`), unless one is given; its
   *separation* (between-group share of the score variance, 0-1) says how two-sided the scores are.
4. **Sides.** A stretch goes wholly to B or S by the majority of its frames (a tie: to neither),
   so B and S never share a stretch. A frame is then dropped when it disagrees with its stretch
   (a sharp frame in a blurry stretch), lies within `margin` of the threshold (ambiguous), or
   lies within `gap` frames of a stretch of the other side in the same scene (nearly the same
   view on both sides, which the paper's unpaired B and S must not share).

:func:`sort_footage` writes ``OUT/blurry`` and ``OUT/sharp`` (PNG frames named after their source
and frame index), ``OUT/report/sort.json`` (every frame's score, stretch and fate) and the report
page (:mod:`blur2blur.report.footage`). A rerun of the same inputs and settings resumes an
interrupted sort and does nothing after a finished one; any other non-empty folder is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blur2blur.data.images import IMAGE_EXTENSIONS, expand_inputs, read_image, write_image
from blur2blur.data.video import VIDEO_EXTENSIONS, VideoReadError, is_video, read_frames
from blur2blur.fileio import atomic_write_text
from blur2blur.ops import centre_crop

BLURRY, SHARP = "blurry", "sharp"   # the folders of B and S under the output folder
REPORT = "report"                   # the report folder: settings, scores, sort.json, index.html
SETTINGS_FILE, SCORES_FILE, SORT_FILE = "settings.json", "scores.json", "sort.json"
_HIST_BINS = 8                      # per channel, for scene cuts
_SCORE_CROP = 768                   # a frame is scored on its centre crop of at most this size (speed)
_EDGE_REACH = 10                    # pixels either side over which an edge's range is taken
_EDGE_STEP = 0.08                   # the luminance range (0-1) that makes an edge
_MIN_EDGE_PIXELS = 100              # fewer edge pixels in every direction: too flat to judge
_MIN_GROUP_GAP = 0.1                # blur degree between the means of the two groups below which we warn


@dataclass(frozen=True)
class SortSettings:
    """How footage is sorted (recorded in the output folder; a rerun must use the same)."""

    stride: int = 1                   # use every stride-th frame of a video
    limit: int | None = None          # at most this many frames per video (after the stride)
    stretch: int = 60                 # the longest stretch, in used frames (60 = 2 s of 30 fps video)
    cut: float = 0.3                  # histogram distance (0-1) between consecutive frames that starts a scene
    gap: int = 5                      # frames dropped each side where B and S stretches meet within a scene
    margin: float = 0.02              # frames with |score - threshold| below this are dropped
    threshold: float | None = None    # None: Otsu's threshold on the scores

    def __post_init__(self) -> None:
        if self.stride < 1 or self.stretch < 1 or self.gap < 0 or (self.limit is not None and self.limit < 1):
            raise ValueError("stride, stretch and limit must be >= 1 and gap >= 0")
        if not 0 < self.cut <= 1 or self.margin < 0:
            raise ValueError("cut must be in (0, 1] and margin >= 0")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be a blur degree in [0, 1], got {self.threshold}")


@dataclass
class Source:
    """One piece of footage: a video, or the image files of one folder (in name order)."""

    name: str                 # unique among the inputs; prefixes the output names
    path: Path                # the video, or the folder
    files: list[Path] = field(default_factory=list)  # the frames of a folder; empty for a video

    @property
    def is_video(self) -> bool:
        return not self.files


@dataclass
class Frame:
    """One used frame: where it comes from, its measurements and what the sort decided."""

    source: str               # Source.name
    index: int                # frame index in the video, or position in the folder
    name: str                 # output file name
    score: float | None       # blur degree in [0, 1]; None when too flat to score
    edges: float              # the share of the scored crop's pixels on an edge (0-1; 0 for a flat frame)
    change: float | None      # histogram distance to the previous frame of the source (None for its first)
    file: str | None = None   # the image file, for a folder's frame
    stretch: int = -1
    side: str | None = None   # BLURRY, SHARP, or None (dropped)
    reason: str = ""          # why it was dropped


@dataclass
class Stretch:
    """Consecutive frames of one scene of one source, assigned wholly to one side (or none)."""

    id: int
    source: str
    scene: int                # scene number within all inputs
    first: int                # positions in the frame list, inclusive
    last: int
    side: str | None = None
    median_score: float | None = None
    blurry_votes: int = 0
    sharp_votes: int = 0


# ----------------------------------------------------------------------------- inputs


def footage_sources(inputs: Sequence[str | os.PathLike]) -> list[Source]:
    """The sources of `inputs` (videos, folders of frames, image files, globs): each video is one,
    the image files of one folder are one. Raises FileNotFoundError naming an input with no frames."""
    files = expand_inputs(list(inputs), IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    sources: list[Source] = []
    by_folder: dict[Path, Source] = {}
    used: set[str] = set()

    def unique(name: str) -> str:
        base, k = name, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        return name

    for f in files:
        if is_video(f):
            sources.append(Source(unique(f.stem), f))
            continue
        folder = f.parent.resolve()
        if folder not in by_folder:
            by_folder[folder] = Source(unique(folder.name or "frames"), f.parent)
            sources.append(by_folder[folder])
        by_folder[folder].files.append(f)
    return sources


def source_frames(source: Source, stride: int = 1, limit: int | None = None
                  ) -> Iterator[tuple[int, torch.Tensor, Path | None]]:
    """Yield ``(index, (3, H, W) frame in [0, 1], image file or None)`` of `source`, in order.

    Videos use every `stride`-th frame, at most `limit`; a folder's frames are all used (they were
    chosen by hand). Errors name the file (VideoReadError, ImageReadError).
    """
    if source.is_video:
        for index, frame in read_frames(source.path, stride=stride, limit=limit):
            yield index, frame, None
    else:
        for index, f in enumerate(source.files):
            yield index, read_image(f)[0], f


def _frame_name(source: Source, index: int, file: Path | None) -> str:
    # Videos: <video stem>_f<frame index>; folders: <folder>__<file stem>, so a frame can be found again.
    return f"{source.name}_f{index:06d}.png" if file is None else f"{source.name}__{file.stem}.png"


# ----------------------------------------------------------------------------- measuring


def _colour_histogram(img: torch.Tensor) -> torch.Tensor:
    """(3 * _HIST_BINS,) per-channel histograms of a 64x64 area-downscaled copy, each summing to 1."""
    small = F.interpolate(img[None].float(), size=(64, 64), mode="area")[0].clamp(0, 1)
    return torch.cat([torch.histc(c, bins=_HIST_BINS, min=0, max=1) / c.numel() for c in small])


# The four directions an edge is crossed in: (row step, column step).
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def edge_blur(img: torch.Tensor, *, reach: int = _EDGE_REACH, min_step: float = _EDGE_STEP
              ) -> tuple[float | None, float]:
    """(blur degree in [0, 1], edge share in [0, 1]) of a (3, H, W) frame in [0, 1]; the degree is None
    when the frame has too few edges to judge (a flat frame).

    Along each of four directions, every pixel's luminance step to its neighbour is divided by the
    luminance range within `reach` pixels along that direction (where that range is at least
    `min_step`: a real edge). A step edge blurred over w pixels gives about 1/w at its steepest,
    whatever its contrast, so the 99th percentile measures the *width of the sharpest edges*,
    independently of how much texture or contrast the scene has. The blurriest direction counts
    (a motion blur widens the edges across its path, not those along it). Degree = 1 - that
    steepness: about 0.2-0.5 for sharp frames, rising towards 1 with the blur. It *detects* blur
    rather than grading it: beyond about 10 pixels the degree grows little and not always in order
    (the 9- and 15-pixel lines score alike), which is all a split into blurry and sharp needs.

    Why not the curriculum's :func:`~blur2blur.data.curriculum.blur_degree` (the blur effect): that
    ratio of gradient energies still depends on the scene (smooth scenes score blurrier), which is
    harmless when ordering the frames of one set but not when one threshold has to separate
    frames of different scenes. On the 91 bundled photos against themselves blurred by a 9-pixel
    line (random angle, noise 0.01), Otsu's threshold told them apart for 90.7% of the images with
    the blur effect and 96.7% with this measure.
    """
    weights = torch.tensor([0.2125, 0.7154, 0.0721]).view(3, 1, 1)
    luma = (centre_crop(img.float().clamp(0, 1), _SCORE_CROP) * weights).sum(0).numpy().astype(np.float64)
    h, w = luma.shape
    if min(h, w) <= 2 * reach + 1:
        raise ValueError(f"frame {w}x{h} is too small to score (needs more than {2 * reach + 1} pixels a side)")

    def shifted(k: int, dy: int, dx: int) -> np.ndarray:
        # The inner region (reach pixels in from every side) moved k steps along (dy, dx): always inside.
        return luma[reach + k * dy:h - reach + k * dy, reach + k * dx:w - reach + k * dx]

    steepness, edge_share = [], 0.0
    for dy, dx in _DIRECTIONS:
        centre = shifted(0, dy, dx)
        high, low = centre.copy(), centre.copy()
        for k in range(-reach, reach + 1):
            np.maximum(high, shifted(k, dy, dx), out=high)
            np.minimum(low, shifted(k, dy, dx), out=low)
        spread = high - low
        step = np.abs(shifted(1, dy, dx) - centre)
        edges = spread >= min_step
        edge_share = max(edge_share, float(edges.mean()))
        if edges.sum() >= _MIN_EDGE_PIXELS:
            steepness.append(float(np.percentile(step[edges] / spread[edges], 99)))
    if not steepness:
        return None, edge_share
    return float(np.clip(1 - min(steepness), 0, 1)), edge_share


def score_footage(sources: Sequence[Source], settings: SortSettings, *, progress: bool = True) -> list[Frame]:
    """Every used frame of `sources` with its blur degree, edge share and change from the previous frame."""
    from tqdm.auto import tqdm

    frames: list[Frame] = []
    bar = tqdm(desc="scoring frames", unit="frame", disable=not progress, dynamic_ncols=True)
    try:
        for source in sources:
            previous, count = None, 0
            for index, img, file in source_frames(source, settings.stride, settings.limit):
                try:
                    score, edges = edge_blur(img)
                except ValueError as e:  # too small to score
                    raise ValueError(f"{file or source.path}: frame {index}: {e}") from None
                hist = _colour_histogram(img)
                change = None if previous is None else float((hist - previous).abs().sum() / 6)  # 0-1 per channel
                frames.append(Frame(source.name, index, _frame_name(source, index, file), score, edges, change,
                                    None if file is None else str(file)))
                previous, count = hist, count + 1
                bar.update()
            if count == 0:
                raise VideoReadError(f"{source.path}: holds no frames")
    finally:
        bar.close()
    return frames


# ----------------------------------------------------------------------------- deciding


def split_stretches(frames: Sequence[Frame], settings: SortSettings) -> list[Stretch]:
    """Cut `frames` (in source order) into scenes at a source change or a `cut`, each scene into
    near-equal stretches of at most `settings.stretch` frames; sets each frame's ``stretch``."""
    scenes: list[list[int]] = []
    for i, f in enumerate(frames):
        new = i == 0 or f.source != frames[i - 1].source or f.change is None or f.change > settings.cut
        if new:
            scenes.append([])
        scenes[-1].append(i)
    stretches: list[Stretch] = []
    for scene_id, members in enumerate(scenes):
        parts = math.ceil(len(members) / settings.stretch)
        for chunk in np.array_split(np.array(members), parts):
            s = Stretch(len(stretches), frames[chunk[0]].source, scene_id, int(chunk[0]), int(chunk[-1]))
            for i in chunk:
                frames[i].stretch = s.id
            stretches.append(s)
    return stretches


def choose_threshold(scores: Sequence[float]) -> tuple[float, float]:
    """(threshold, separation in [0, 1]: the share of the score variance between the two groups).

    Otsu's method, on the scores themselves rather than a histogram of them (binning can put the cut
    inside a tight group of frames): of all the cuts between consecutive distinct scores, the one
    that maximises the variance between the lower and the higher group. The threshold is midway
    across that cut, so it sits in the gap between the groups.
    """
    values = np.sort(np.asarray(scores, dtype=np.float64))
    if len(values) < 2 or values[0] == values[-1]:
        raise ValueError(f"cannot choose a threshold from {len(values)} score(s) that do not differ; "
                         "give one (--threshold)")
    n = np.arange(1, len(values))                        # size of the lower group for a cut after each value
    low_mean = np.cumsum(values)[:-1] / n
    high_mean = (values.sum() - np.cumsum(values)[:-1]) / (len(values) - n)
    between = n * (len(values) - n) / len(values) ** 2 * (low_mean - high_mean) ** 2
    between[values[1:] == values[:-1]] = -1              # no cut between equal scores
    cut = int(np.argmax(between))
    return float((values[cut] + values[cut + 1]) / 2), float(between[cut] / values.var())


def assign_sides(frames: Sequence[Frame], stretches: Sequence[Stretch], threshold: float,
                 settings: SortSettings) -> None:
    """Give each stretch a side by its majority and each frame its side or the reason it is dropped."""
    for s in stretches:
        scores = [f.score for f in frames[s.first:s.last + 1] if f.score is not None]
        s.blurry_votes = sum(v > threshold for v in scores)
        s.sharp_votes = len(scores) - s.blurry_votes
        s.median_score = float(np.median(scores)) if scores else None
        if s.blurry_votes != s.sharp_votes:
            s.side = BLURRY if s.blurry_votes > s.sharp_votes else SHARP
    near_border: set[int] = set()
    for a, b in zip(stretches, stretches[1:]):
        if a.scene == b.scene and a.side and b.side and a.side != b.side:
            near_border.update(range(max(a.first, a.last + 1 - settings.gap), a.last + 1))
            near_border.update(range(b.first, min(b.last, b.first + settings.gap - 1) + 1))
    for i, f in enumerate(frames):
        s = stretches[f.stretch]
        f.side, f.reason = None, ""
        if f.score is None:
            f.reason = "too flat to score"
        elif s.side is None:
            f.reason = "its stretch is evenly split"
        elif (f.score > threshold) != (s.side == BLURRY):
            f.reason = "disagrees with its stretch"
        elif abs(f.score - threshold) < settings.margin:
            f.reason = "too close to the threshold"
        elif i in near_border:
            f.reason = "next to a stretch of the other side"
        else:
            f.side = s.side


def decide(frames: list[Frame], settings: SortSettings) -> dict:
    """Stretches, threshold and sides for scored `frames` (changed in place); the decision as a dict."""
    scored = [f.score for f in frames if f.score is not None]
    if not scored:
        raise ValueError("no frame has edges enough to be scored (all too flat)")
    separation = None
    if settings.threshold is None:
        threshold, separation = choose_threshold(scored)
        method = "otsu"
    else:
        threshold, method = settings.threshold, "given"
    stretches = split_stretches(frames, settings)
    assign_sides(frames, stretches, threshold, settings)
    low = [v for v in scored if v <= threshold]
    high = [v for v in scored if v > threshold]
    means = [float(np.mean(low)) if low else None, float(np.mean(high)) if high else None]
    warnings = []
    # Otsu splits any scores in two, even those of footage that is all sharp: a normal distribution of
    # scores gives a separation of 2/pi = 0.64. Real blur moved our test frames' scores by 0.25 or more.
    if low and high and (means[1] - means[0] < _MIN_GROUP_GAP or (separation is not None and separation < 0.75)):
        warnings.append(f"the scores do not fall into two clear groups (means {means[0]:.3f} and {means[1]:.3f}"
                        + (f", separation {separation:.2f}" if separation is not None else "") + "): the footage "
                        "looks all sharp or all blurry, and the split may be noise; check the contact sheets, or "
                        "give --threshold")
    for side, name in ((BLURRY, "B"), (SHARP, "S")):
        if not any(f.side == side for f in frames):
            warnings.append(f"{name} is empty: no frame was kept as {side}")
    return {"threshold": threshold, "threshold_method": method, "separation": separation, "group_means": means,
            "warnings": warnings, "stretches": [dataclasses.asdict(s) for s in stretches]}


# ----------------------------------------------------------------------------- the output folder


def _input_record(sources: Sequence[Source], settings: SortSettings) -> dict:
    # What makes a sort the same sort: the files (by path, size and time) and the settings.
    files = [f for s in sources for f in ([s.path] if s.is_video else s.files)]
    return {"inputs": [{"path": str(f.resolve()), "bytes": f.stat().st_size, "mtime_ns": f.stat().st_mtime_ns}
                       for f in files],
            "settings": dataclasses.asdict(settings)}


def _check_out(out: Path, record: dict) -> bool:
    """Whether `out` holds an earlier sort of the same record (resume); raises FileExistsError for any
    other non-empty folder (or a file)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    saved = out / REPORT / SETTINGS_FILE
    if not saved.is_file():
        raise FileExistsError(f"{out} is not empty and holds no sort; refusing to write into it "
                              "(choose another --out)")
    previous = json.loads(saved.read_text(encoding="utf-8"))
    old, new = previous.get("settings", {}), record["settings"]
    changed = [f"{k}: {old.get(k)!r} there, {v!r} now" for k, v in new.items() if old.get(k) != v]
    if changed:
        raise FileExistsError(f"{out} holds a sort with other settings ({'; '.join(changed)}); refusing to mix "
                              "them (choose another --out)")
    if previous.get("inputs") != record["inputs"]:
        raise FileExistsError(f"{out} holds a sort of other inputs (or the inputs changed since); refusing to "
                              "mix them (choose another --out)")
    return True


def _write_frames(sources: Sequence[Source], frames: Sequence[Frame], out: Path, settings: SortSettings,
                  progress: bool) -> int:
    """Write the frames that have a side (those already there are kept: each was written whole); returns
    how many were written now."""
    from tqdm.auto import tqdm

    wanted = {(f.source, f.index): out / f.side / f.name for f in frames if f.side}
    todo = {k: p for k, p in wanted.items() if not p.exists()}
    written = 0
    with tqdm(total=len(todo), desc="writing frames", unit="frame", disable=not progress,
              dynamic_ncols=True) as bar:
        for source in sources:
            if not any(k[0] == source.name for k in todo):
                continue
            if source.is_video:
                frames_iter = source_frames(source, settings.stride, settings.limit)
            else:  # a folder: read only the files that are wanted
                frames_iter = ((i, None, f) for i, f in enumerate(source.files))
            for index, img, file in frames_iter:
                target = todo.get((source.name, index))
                if target is None:
                    continue
                write_image(img if img is not None else read_image(file)[0], target)
                written += 1
                bar.update()
    return written


def sort_footage(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 settings: SortSettings = SortSettings(), *, progress: bool = True) -> dict:
    """Sort the frames of `inputs` into ``out_dir/blurry`` (B) and ``out_dir/sharp`` (S); return the report.

    The report (also ``out_dir/report/sort.json``): ``threshold``, ``threshold_method`` ("otsu" or
    "given"), ``separation``, ``group_means`` (of the scores at or below and above the threshold),
    ``warnings`` (an empty side; scores that do not form two groups), ``counts``, ``stretches``,
    ``frames`` (each with its score, stretch, side or reason) and ``settings``; ``done_before`` is True
    when the folder already held this finished sort (then nothing is written). Raises FileExistsError
    for a non-empty `out_dir` that is not a sort of the same inputs and settings, FileNotFoundError /
    VideoReadError / ImageReadError naming an input that has no frames or cannot be read.
    """
    out = Path(out_dir)
    sources = footage_sources(inputs)
    record = _input_record(sources, settings)
    resuming = _check_out(out, record)
    report_dir = out / REPORT
    if resuming and (report_dir / SORT_FILE).is_file():
        report = json.loads((report_dir / SORT_FILE).read_text(encoding="utf-8"))
        return {**report, "done_before": True}
    if not (report_dir / SETTINGS_FILE).exists():
        atomic_write_text(report_dir / SETTINGS_FILE, json.dumps(record, indent=1))
    if (report_dir / SCORES_FILE).is_file():  # an interrupted sort: its scores stand
        frames = [Frame(**f) for f in json.loads((report_dir / SCORES_FILE).read_text(encoding="utf-8"))]
    else:
        frames = score_footage(sources, settings, progress=progress)
        atomic_write_text(report_dir / SCORES_FILE, json.dumps([dataclasses.asdict(f) for f in frames]))
    decision = decide(frames, settings)
    _write_frames(sources, frames, out, settings, progress)
    reasons: dict[str, int] = {}
    for f in frames:
        if f.reason:
            reasons[f.reason] = reasons.get(f.reason, 0) + 1
    counts = {"frames": len(frames), "scored": sum(f.score is not None for f in frames),
              BLURRY: sum(f.side == BLURRY for f in frames), SHARP: sum(f.side == SHARP for f in frames),
              "dropped": reasons}
    report = {"settings": record["settings"], "sources": [str(s.path) for s in sources], **decision,
              "counts": counts, "frames": [dataclasses.asdict(f) for f in frames]}
    from blur2blur.report.footage import write_sort_page

    write_sort_page(report_dir, report, out)
    atomic_write_text(report_dir / SORT_FILE, json.dumps(report, indent=1))  # last: it marks a finished sort
    return {**report, "done_before": False}


__all__ = ["BLURRY", "SHARP", "Frame", "SortSettings", "Source", "Stretch", "assign_sides", "choose_threshold",
           "decide", "edge_blur", "footage_sources", "score_footage", "sort_footage", "source_frames",
           "split_stretches"]
