"""The report of a fit (``RUN/report/index.html``): did the translator learn, and what does the model do?

A person opens it after ``blur2blur fit`` to judge the result without reading logs:

* one plain-language verdict on the translator (:func:`blur2blur.experiment.checks.translator_verdict`,
  the experiment's own wording) and the signals it rests on;
* the camera's own images (held-out ones first) whole and in crops chosen by detail: y, G(y),
  D'(y), D'(G(y));
* the known-blur set K next to the sharp images S it was made from;
* every stage's training curves, one chart per logged quantity;
* the settings, folded away.

Whatever is missing (a stage not trained here, official weights, a given K) is said on the page;
building the page never raises into the fit that asked for it (see :func:`write_fit_report`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from blur2blur import runs
from blur2blur.report.html import ReportCrop, ReportTable, ReportVerdict, log_records, read_jsonl_curves, write_report

REPORT = "report"          # the report's folder in a run folder
CAMERA_IMAGES = 2          # images of B shown
CROPS_PER_IMAGE = 2        # detail crops of each
KNOWN_PAIRS = 3            # (S, K) pairs shown
CROP = 128                 # crop side, in image pixels
THUMB = 480                # longest side of a whole image on the page
GAIN_WINDOW = 256          # side of the windows D' on K is measured on
GAIN_PAIRS = 4             # (K, S) pairs it is measured on
STAGES = (("extractor", "kernel extractor F"), ("deblurrer", "deblurrer D'"), ("translator", "translator G"))


def logged_quantities(log: Path) -> list[str]:
    """Every numeric quantity of a training log as ``"<kind>/<name>"`` (train, eval), in first-seen order."""
    keys: dict[str, None] = {}
    for record in log_records(log):
        for k, v in record.items():
            # "pairs": how many pairs an evaluation used, a count, not a curve
            if k not in ("step", "time", "kind", "pairs") and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys[f"{record.get('kind', 'train')}/{k}"] = None
    return list(keys)


def last_heldout_signals(log: Path) -> dict[str, float]:
    """The translator's last held-out evaluation in its training log (for a run whose training did not
    finish, so its checkpoint holds none); empty without one."""
    if not log.exists():
        return {}
    keys = ("d_acc_b_vs_k", "d_acc_heldout", "drift_psnr")
    curves = read_jsonl_curves(log, [f"eval/{k}" for k in keys])
    return {k: curves[f"eval/{k}"][-1][1] for k in keys if curves[f"eval/{k}"]}


def log_charts(log: Path, title: str) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """One chart per quantity of a training log, each titled ``"<title>: <quantity>"``: losses of
    different scales never share an axis."""
    curves = {}
    for key in logged_quantities(log):
        kind, name = key.split("/", 1)
        label = name if kind == "train" else f"{name} (held-out)"
        curves[f"{title}: {label}"] = {label: read_jsonl_curves(log, [key])[key]}
    return curves


def stage_curves(run: Path, notes: list[str]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """:func:`log_charts` of every stage trained in `run`; a note for each that was not."""
    curves = {}
    for stage, title in STAGES:
        log = run / f"{stage}-run" / "log.jsonl"
        if not log.exists():
            notes.append(f"No training curves of the {title}: it was not trained in this run folder "
                         f"({log.relative_to(run)} is missing), e.g. given as a file.")
            continue
        curves.update(log_charts(log, title))
    return curves


def signals_table(signals: dict) -> ReportTable:
    """The numbers the verdict rests on, each with what it means."""
    def pct(key: str) -> str | None:
        return None if signals.get(key) is None else f"{100 * signals[key]:.0f}%"

    def db(key: str, sign: str = "") -> str | None:
        return None if signals.get(key) is None else f"{signals[key]:{sign}.2f} dB"

    from blur2blur.train.translator import CHANCE_ACCURACY, IDENTITY_DRIFT_DB

    rows = [["D tells K from the camera's blur B", pct("d_acc_b_vs_k"),
             f"held-out crops; 50% is guessing, below {100 * CHANCE_ACCURACY:.0f}% G has no target"],
            ["D tells K from G(B)", pct("d_acc_heldout"), "held-out crops; falls as G learns to look like K"],
            ["drift PSNR(G(y), y)", db("drift_psnr"),
             f"how much G changes the images; {IDENTITY_DRIFT_DB:.0f} dB or more: G is still the identity"],
            ["D' on its own blur", db("deblurrer_gain_own", "+"), "gain over the blurry input, held-out known pairs"],
            ["D' on K", db("deblurrer_gain_on_k", "+"),
             "gain over K against the S it was made from; should be about D' on its own blur"]]
    return ReportTable("Signals", ["signal", "value", "what it means"], rows)


def _load_models(run: Path, deblurrer_path: Path | None):
    """(translator G, deblurrer D') of the run as networks, or None for each that is missing."""
    from blur2blur.models import load_any, load_checkpoint

    composed = run / runs.COMPOSED
    if composed.exists():
        model = load_checkpoint(composed).eval()
        return model.translator, model.deblurrer
    g = load_checkpoint(run / runs.TRANSLATOR).eval() if (run / runs.TRANSLATOR).exists() else None
    d = load_any(deblurrer_path).eval() if deblurrer_path is not None and deblurrer_path.exists() else None
    return g, d


@torch.no_grad()
def _through(net, x: torch.Tensor) -> torch.Tensor:
    from blur2blur.inference import restore

    return restore(net, x[None], tile=512)[0]


@torch.no_grad()
def camera_crops(blurry: Sequence[Path], g, d, notes: list[str]) -> list[ReportCrop]:
    """Each shown image of B whole, then its most detailed windows: y, G(y), D'(y), D'(G(y))."""
    from blur2blur.data.images import read_image
    from blur2blur.report.crops import cut, detail_windows, enlarged, shrunk

    if g is None or d is None:
        notes.append("The camera's images are shown without G(y), D'(y) and D'(G(y)): "
                     + ("the translator G" if g is None else "the deblurrer D'") + " is missing.")
    crops = []
    for path in blurry[:CAMERA_IMAGES]:
        y = read_image(path)[0]
        images = {"y (the camera's image)": y}
        if g is not None:
            images["G(y) (with the known blur)"] = _through(g, y)
        if d is not None:
            images["D'(y) (deblurred directly)"] = _through(d, y)
        if g is not None and d is not None:
            images["D'(G(y)) (Blur2Blur)"] = _through(d, images["G(y) (with the known blur)"])
        crops.append(ReportCrop(f"{path.name}: whole image", {k: shrunk(v, THUMB) for k, v in images.items()}))
        for top, left, side in detail_windows(y, CROP, CROPS_PER_IMAGE):
            window = (top, left, side)
            crops.append(ReportCrop(f"{path.name}: detail at ({left}, {top}), {side} px",
                                    {k: enlarged(cut(v, window)) for k, v in images.items()}))
    return crops


def known_set_crops(pairs: Sequence[tuple[Path, Path]]) -> list[ReportCrop]:
    """Each shown image of S next to its K, whole and in the most detailed window of S."""
    from blur2blur.data.images import read_image
    from blur2blur.report.crops import cut, detail_windows, enlarged, shrunk

    crops = []
    for k_path, s_path in pairs[:KNOWN_PAIRS]:
        s, k = read_image(s_path)[0], read_image(k_path)[0]
        (window,) = detail_windows(s, CROP, 1)
        crops.append(ReportCrop(f"{s_path.name} and its K", {
            "S (sharp)": shrunk(s, THUMB), "K (S with the known blur)": shrunk(k, THUMB),
            "S, detail": enlarged(cut(s, window)), "K, detail": enlarged(cut(k, window))}))
    return crops


@torch.no_grad()
def deblurrer_gain_on_known_set(d, pairs: Sequence[tuple[Path, Path]]) -> float | None:
    """Mean PSNR gain of D' over K against the S each K was made from, on the most detailed window of each
    of a few pairs (dB); None without pairs."""
    from blur2blur.data.images import read_image
    from blur2blur.metrics import psnr
    from blur2blur.report.crops import cut, detail_windows

    gains = []
    for k_path, s_path in pairs[:GAIN_PAIRS]:
        s, k = read_image(s_path)[0], read_image(k_path)[0]
        if s.shape != k.shape:
            continue
        (window,) = detail_windows(s, GAIN_WINDOW, 1)
        ks, ss = cut(k, window), cut(s, window)
        gains.append(psnr(_through(d, ks), ss) - psnr(ks, ss))
    gains = [v for v in gains if math.isfinite(v)]
    return sum(gains) / len(gains) if gains else None


def _part(what: str, make, notes: list[str], default):
    """``make()``, or `default` with a warning on the page when it fails: one broken part (an unreadable
    image, a checkpoint from another version) leaves the rest of the report."""
    try:
        return make()
    except Exception as e:  # the page says what went wrong; the fit that asked for it goes on
        notes.append(f"WARNING: {what} could not be shown ({type(e).__name__}: {e}).")
        return default


def _shown_blurry(blurry: Sequence[Path], heldout_fraction: float) -> tuple[list[Path], str]:
    from blur2blur.data.split import heldout_tail

    train, held = heldout_tail(list(blurry), heldout_fraction)
    if held:
        return held + train, "held out from G's training"
    return list(train), "G trained on them (too few images of B to hold some out)"


def write_fit_report(run_dir: str | os.PathLike, inputs, cfg) -> Path:
    """Write ``run_dir/report/`` (page and images) for a fit with `inputs` (FitInputs) and `cfg` (FitConfig),
    replacing any earlier report whole, atomically; return the page. Missing parts are said on the page."""
    from blur2blur.config import to_dict
    from blur2blur.experiment.checks import checkpoint_heldout, known_set_sources, translator_signals, \
        translator_verdict
    from blur2blur.fileio import atomic_folder

    run = Path(run_dir)
    notes: list[str] = []
    deblurrer_path = Path(inputs.deblurrer) if inputs.deblurrer else run / runs.DEBLURRER
    signals = dict(translator_signals(run)) or last_heldout_signals(run / "translator-run" / "log.jsonl")
    if signals and not (run / runs.TRANSLATOR).exists():
        notes.append("The translator's training did not finish: the signals are its last held-out evaluation.")
    own = checkpoint_heldout(deblurrer_path).get("gain_db")
    if own is not None:
        signals["deblurrer_gain_own"] = own
    else:
        notes.append("D' on its own blur: not known (the deblurrer was given without a recorded held-out "
                     "evaluation, or is missing).")
    g, d = _part("the trained networks", lambda: _load_models(run, deblurrer_path), notes, (None, None))
    k_pairs = [] if inputs.known_set is not None else _part(
        "the known-blur set K", lambda: known_set_sources(run, [Path(p) for p in inputs.sharp]), notes, [])
    if d is not None and k_pairs:
        gain = _part("D' on K", lambda: deblurrer_gain_on_known_set(d, k_pairs), notes, None)
        if gain is not None:
            signals["deblurrer_gain_on_k"] = gain
    if not k_pairs:
        notes.append("K is not shown next to S and D' on K is not measured: " + (
            "K was given (--known-set), so which image of S each K shows is unknown." if inputs.known_set is not None
            else "no K image of this run matches a whole image of S."))
    tone, text = translator_verdict(signals)

    blurry, which = _shown_blurry(inputs.blurry, cfg.heldout_fraction)
    crops = (_part("the camera's images", lambda: camera_crops(blurry, g, d, notes), notes, [])
             + _part("K next to S", lambda: known_set_crops(k_pairs), notes, []))
    notes.insert(0, f"Inputs: {len(inputs.blurry)} blurry images B, {len(inputs.sharp)} sharp images S, "
                    f"{len(inputs.known_train)} known pairs. The camera images shown: {which}. Crops are the most "
                    f"detailed {CROP}-pixel windows, enlarged without smoothing where smaller.")
    curves = _part("the training curves", lambda: stage_curves(run, notes), notes, {})
    with atomic_folder(run / REPORT) as tmp:
        write_report(tmp, title=f"Blur2Blur fit: {run.resolve().name}", tables=[signals_table(signals)],
                     crops=crops, curves=curves, settings=to_dict(cfg), notes=notes, zoom=0,
                     verdicts=[ReportVerdict(text, tone)])
    return run / REPORT / "index.html"


__all__ = ["REPORT", "camera_crops", "deblurrer_gain_on_known_set", "known_set_crops", "last_heldout_signals",
           "log_charts", "logged_quantities",
           "signals_table", "stage_curves", "write_fit_report"]
