"""The figures that say whether a comparison means anything, and the warnings on them.

D' must gain on its own (known) blur, or nothing can help it; a Blur2Blur fit is only a test of
the method when its discriminator tells K from B by blur (held out, and on the same scenes) and
when D' gains on K (what G hands it). At chance, the Blur2Blur row is invalid, not negative.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from blur2blur import runs
from blur2blur.data.pairs import BlurPair
from blur2blur.evaluate import evaluate_stored
from blur2blur.experiment.cameras import CameraData
from blur2blur.experiment.config import ExperimentConfig
from blur2blur.experiment.rows import FIT_ROWS, ROW_TABLE
from blur2blur.train.translator import CHANCE_ACCURACY, IDENTITY_DRIFT_DB

MIN_KNOWN_GAIN_DB = 2.0   # below this D' leaves no headroom: the comparison is not meaningful


def checkpoint_heldout(path: Path) -> dict[str, float]:
    """The held-out evaluation a trained network's checkpoint records (``blur2blur.train.loop.train_and_save``);
    empty when the file is missing or not one of ours (official weights record none)."""
    from blur2blur.models.checkpoint import read_state_dict

    if not path.exists():
        return {}
    return dict(read_state_dict(path)[1].get("header", {}).get("info", {}).get("heldout") or {})


def translator_signals(fit_run: Path) -> dict[str, float]:
    """The translator's held-out signals stored in its checkpoint (d_acc_b_vs_k, d_acc_heldout, drift_psnr)."""
    return checkpoint_heldout(fit_run / runs.TRANSLATOR)


def known_set_sources(fit_run: Path, sharp: list[Path]) -> list[tuple[Path, Path]]:
    """(K image, the image of S it was made from) for each whole-image K of a fit run, from K's manifest.

    K images cut from a window of their sharp image (``known_set.crop``) are left out: they are not
    aligned with a whole image of S.
    """
    from PIL import Image

    from blur2blur.known_set import load_manifest

    k_dir = fit_run / "K"
    if not (k_dir / "manifest.jsonl").exists():
        return []
    # The manifest's paths are as `fit` was given them (maybe relative to another working directory):
    # match on the last three path components.
    by_tail = {Path(p).parts[-3:]: p for p in sharp}
    out = []
    for item in load_manifest(k_dir)[1]:
        source = by_tail.get(Path(item.sharp).parts[-3:])
        if source is None or not (k_dir / item.output).exists():
            continue
        with Image.open(source) as im:
            whole = item.sharp_box == [0, 0, im.height, im.width]
        if whole:
            out.append((k_dir / item.output, source))
    return sorted(out)


def same_scene_accuracy(cfg: ExperimentConfig, data: CameraData, known_set: list[tuple[Path, Path]],
                        fit_run: Path) -> float | None:
    """D's accuracy on K vs the camera's own blurry shots of the *same* scenes of S, in [0, 1].

    K is S re-blurred, so the scenes of K are those of S, while B shows other scenes. With few scenes D
    can tell K from B by what they show instead of how they are blurred; then it is near chance here,
    however well it separates K from B, and G learns a content or colour shift, not the blur.
    `known_set`: :func:`known_set_sources` of the run. None when it is empty or the run has no training
    state (or the camera has no blurry shots of S's scenes).
    """
    from blur2blur.train.translator import discriminator_accuracy, load_discriminator

    path = fit_run / "eval-same-scene.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["d_acc_same_scene"]
    run_dir = fit_run / "translator-run"
    if not known_set or not data.sharp_blurry or not (run_dir / "checkpoints").is_dir():
        return None
    blurry_of = dict(zip(data.sharp, data.sharp_blurry, strict=True))
    real = [k for k, _ in known_set]
    fake = [blurry_of[source] for _, source in known_set]
    disc = load_discriminator(run_dir, cfg.fit.translator)
    acc = discriminator_accuracy(disc, real, fake, cfg.fit.translator.crop, cfg.fit.translator.disc_scales)
    path.write_text(json.dumps({"d_acc_same_scene": acc, "pairs": len(real)}), encoding="utf-8")
    return acc


def fit_signals(cfg: ExperimentConfig, data: CameraData, fit_run: Path, known_set: list[tuple[Path, Path]],
                deblurrer: Path, desc: str) -> dict[str, float]:
    """A Blur2Blur fit's checks: the translator's held-out signals, D's accuracy on the same scenes and
    D' on K (`known_set`: (K image, its source in S); empty: the first only)."""
    signals = translator_signals(fit_run)
    if known_set:
        same = same_scene_accuracy(cfg, data, known_set, fit_run)
        if same is not None:
            signals["d_acc_same_scene"] = same
        # Blur2Blur hands D' images like K; D' must gain on K about as much as on its own blur.
        on_k = evaluate_stored(fit_run / "eval-deblurrer-on-K.json", lambda: ROW_TABLE["direct"].load(deblurrer),
                               [BlurPair(k, src, src.stem) for k, src in known_set], cfg.eval, desc=f"{desc}: D' on K")
        signals["deblurrer_gain_on_k"] = on_k["summary"]["gain_over_input"]
    return signals


def learning_curve(cfg: ExperimentConfig, fit_run: Path, deblurrer: Path, test_pairs: list[BlurPair],
                   direct: dict, upper: dict | None, desc: str) -> list[dict]:
    """D'(G(y)) on the camera's test pairs at every translator checkpoint a fit kept, oldest first.

    Each point: ``{step, psnr, d_psnr, improved, gap_closed}``: D'(G(y))'s mean PSNR, its paired
    difference from D' direct (`direct`: that row's evaluation) and share of samples improved, and the
    gap closed ``d_psnr / (upper - direct)`` (None without the upper bound's evaluation `upper`). How
    many points there are is the translator's ``loop.keep_checkpoints``; each is evaluated once
    (``fit_run/eval-curve/step_*.json``).
    """
    from blur2blur.evaluate import paired_difference
    from blur2blur.models.composed import ComposedDeblurrer
    from blur2blur.train.translator import translators_at_checkpoints

    tr = cfg.fit.translator
    headroom = upper["summary"]["psnr"] - direct["summary"]["psnr"] if upper else 0.0
    d_prime = functools.cache(lambda: ROW_TABLE["direct"].load(deblurrer))   # read once, when a step needs it
    points = []
    for step, g in translators_at_checkpoints(fit_run / "translator-run", tr.arch, tr.arch_args):
        res = evaluate_stored(fit_run / "eval-curve" / f"step_{step:07d}.json",
                              lambda g=g: ComposedDeblurrer.from_parts(g, d_prime()).eval(),
                              test_pairs, cfg.eval, desc=f"{desc}: translator step {step}")
        diff = paired_difference(res, direct)
        points.append({"step": step, "psnr": res["summary"]["psnr"], "d_psnr": diff["psnr"],
                       "improved": diff["improved"], "gap_closed": diff["psnr"] / headroom if headroom else None})
    return points


def _fit_warnings(where: str, sig: dict, known_gain: float, extractor_k: bool) -> list[str]:
    """Warnings on one Blur2Blur fit's checks (`extractor_k`: its K was made by the extractor F)."""
    notes = []
    acc, on_k, same = (sig.get(k) for k in ("d_acc_b_vs_k", "deblurrer_gain_on_k", "d_acc_same_scene"))
    if acc is not None and acc < CHANCE_ACCURACY:
        notes.append(f"WARNING: {where}the discriminator tells K from B only {100 * acc:.0f}% of the time on "
                     "held-out crops: G had no adversarial target, so the Blur2Blur row is invalid, not negative.")
    if extractor_k and on_k is not None and on_k < known_gain / 2:
        notes.append(f"WARNING: {where}D' gains {on_k:+.2f} dB on the known-blur set K (against the sharp "
                     f"images K was made from) but {known_gain:+.2f} dB on its own blur: K does "
                     "not carry the known blur, so translating B into K cannot help D'. The kernel extractor "
                     "is the weak link (train it longer, or use official weights).")
    if acc is not None and acc >= CHANCE_ACCURACY and same is not None and same < CHANCE_ACCURACY:
        notes.append(f"WARNING: {where}the discriminator tells K from B ({100 * acc:.0f}%) but not K from the "
                     f"camera's blur of the same scenes ({100 * same:.0f}%): it separates them by what the scenes "
                     "show, not by blur, so what G learns is not the blur (a colour or content shift); the "
                     "Blur2Blur row is invalid, not negative. S (and B) need more scenes.")
    return notes


def translator_verdict(signals: dict) -> tuple[str, str]:
    """``(tone, sentence)``: whether a fit's translator learned, in plain words, from its held-out signals
    (``d_acc_b_vs_k``, ``drift_psnr``, and when known ``d_acc_heldout``, ``d_acc_same_scene``,
    ``deblurrer_gain_on_k`` with ``deblurrer_gain_own``). `tone`: "good", "bad" or "unsure". The fit's
    report and the experiment's say the same thing through this one function."""
    acc, drift, fooled, same = (signals.get(k) for k in ("d_acc_b_vs_k", "drift_psnr", "d_acc_heldout",
                                                          "d_acc_same_scene"))
    if acc is None or drift is None:
        return "unsure", ("No verdict: the translator's held-out signals are missing (it did not finish, or was "
                          "trained without held-out images), so whether it learned is unknown.")
    if acc < CHANCE_ACCURACY:
        tone, text = "bad", (f"The translator did not learn: its discriminator told the known blur K from the "
                             f"camera's blur only {100 * acc:.0f}% of the time on held-out crops (50% is guessing), "
                             "so G had nothing to aim at and D'(G(y)) is no better than D'(y).")
    elif same is not None and same < CHANCE_ACCURACY:
        tone, text = "bad", (f"The translator did not learn the blur: its discriminator tells K from B "
                             f"({100 * acc:.0f}%) but not from the camera's blur of the same scenes "
                             f"({100 * same:.0f}%), so it goes by scene content and G learns a content or colour "
                             "shift. S and B need more scenes.")
    elif drift >= IDENTITY_DRIFT_DB:
        tone, text = "bad", (f"The translator did not learn: G still returns its input (PSNR(G(y), y) "
                             f"{drift:.0f} dB), although its discriminator tells K from the camera's blur "
                             f"({100 * acc:.0f}%); D'(G(y)) is just D'(y).")
    else:
        after = f", after which it tells G(y) from K {100 * fooled:.0f}% of the time" if fooled is not None else ""
        tone, text = "good", (f"The translator learned: its discriminator tells K from the camera's blur "
                              f"({100 * acc:.0f}% on held-out crops) and G changes the images (PSNR(G(y), y) "
                              f"{drift:.1f} dB){after}.")
    on_k, own = signals.get("deblurrer_gain_on_k"), signals.get("deblurrer_gain_own")
    if on_k is not None and own is not None and on_k < own / 2:
        tone = "bad"
        text += (f" But D' gains {on_k:+.2f} dB on K against {own:+.2f} dB on its own blur: K does not carry the "
                 "known blur, so translating into K cannot help D' (the kernel extractor is the weak link).")
    return tone, text


def warnings_for(results: dict) -> list[str]:
    """The notes on a whole ``results`` dict: D' headroom, each fit's checks, too few test samples."""
    notes = []
    known = results["known"]["summary"]
    if known["gain_over_input"] < MIN_KNOWN_GAIN_DB:
        notes.append(f"WARNING: D' gains only {known['gain_over_input']:+.2f} dB on its own (known) blur; below "
                     f"{MIN_KNOWN_GAIN_DB} dB it leaves too little headroom for a meaningful comparison.")
    for name, cam in results["cameras"].items():
        for row in FIT_ROWS:
            if row.name in cam["rows"]:
                notes += _fit_warnings(f"{name}: " if row.name == "blur2blur" else f"{name} ({row.name}): ",
                                       cam.get(row.signals_key, {}), known["gain_over_input"], row.k_from_extractor)
        n = cam["rows"][next(iter(cam["rows"]))]["summary"]["samples"]
        if n < 30:
            notes.append(f"{name}: only {n} test samples; use at least 30 for a comparison.")
    return notes


__all__ = ["CHANCE_ACCURACY", "MIN_KNOWN_GAIN_DB", "checkpoint_heldout", "fit_signals", "known_set_sources",
           "learning_curve",
           "same_scene_accuracy", "translator_signals", "translator_verdict", "warnings_for"]
