"""Running the experiment: every row of every camera into one resumable run folder, then the results."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from blur2blur.evaluate import evaluate_stored
from blur2blur.experiment.cameras import CameraData, camera_data, known_camera_pairs
from blur2blur.experiment.checks import fit_signals, learning_curve, translator_signals, warnings_for
from blur2blur.experiment.config import ADDABLE_SETTINGS, CameraSpec, ExperimentConfig
from blur2blur.experiment.models import CameraRun, blur2blur_fit, known_models, log
from blur2blur.experiment.report import write_experiment_report
from blur2blur.experiment.rows import FIT_ROWS, ROW_TABLE
from blur2blur.experiment.tables import compact, markdown


def _run_camera(cfg: ExperimentConfig, spec: CameraSpec, out: Path, known_train, known_test,
                extractor: Path, deblurrer: Path) -> tuple[dict, CameraData]:
    from blur2blur.models import load_checkpoint

    cam_dir = out / "cameras" / spec.name
    data = camera_data(cfg, spec, cam_dir, cfg.ratio)
    log(f"{spec.name}: |B| = {len(data.blurry)}, |S| = {len(data.sharp)}, {len(data.test_pairs)} test pairs, "
        f"{len(data.train_pairs)} training pairs")
    run = CameraRun(cfg, spec, data, cam_dir, known_train, known_test, extractor, deblurrer)
    results: dict[str, dict] = {}
    models: dict[str, Path] = {}
    for name in cfg.rows:
        row = ROW_TABLE[name]
        if row.build is not None:
            models[name] = row.build(run)
        load = (lambda r=row, p=models.get(name): r.load(p)) if name in models else (lambda: None)  # blurry: input
        results[name] = evaluate_stored(cam_dir / "eval" / f"{name}.json", load, data.test_pairs, cfg.eval,
                                        desc=f"{spec.name}/{name}")
    ablation = {}
    for ratio in cfg.ratios:
        folder = f"fit-ratio-{ratio:.2f}"
        split = camera_data(cfg, spec, cam_dir, ratio)
        final = blur2blur_fit(run, folder, data=split)
        ev = evaluate_stored(cam_dir / folder / "eval.json", lambda f=final: load_checkpoint(f), data.test_pairs,
                             cfg.eval, desc=f"{spec.name}/ratio {ratio}")
        ablation[f"{ratio:.2f}"] = {"summary": ev["summary"], "signals": translator_signals(cam_dir / folder),
                                    "blurry": len(split.blurry), "sharp": len(split.sharp)}
    checks: dict[str, dict] = {"signals": {}}   # "signals": the blur2blur row's (also when it is not run)
    for row in FIT_ROWS:
        if row.name in cfg.rows:
            checks[row.signals_key] = fit_signals(cfg, data, cam_dir / row.fit_folder, row.known_set(run), deblurrer,
                                                  f"{spec.name}/{row.name}")
    # The learning curve of each fit: D'(G(y)) at the translator checkpoints it kept, against D' direct.
    curves = {row.name: learning_curve(cfg, cam_dir / row.fit_folder, deblurrer, data.test_pairs, results["direct"],
                                       results.get("upper"), f"{spec.name}/{row.name}")
              for row in FIT_ROWS if row.name in cfg.rows and "direct" in results}
    return {"rows": results, "models": {k: str(v) for k, v in models.items()},
            **checks, "curves": curves, "ablation": ablation,
            "sizes": {"B": len(data.blurry), "S": len(data.sharp), "test_pairs": len(data.test_pairs),
                      "train_pairs": len(data.train_pairs)}}, data


def run_camera(cfg: ExperimentConfig, spec: CameraSpec, out: Path, known_train, known_test,
               extractor: Path, deblurrer: Path) -> dict:
    """Every row of one camera (and the ratio ablation); returns its part of ``results.json``."""
    return _run_camera(cfg, spec, out, known_train, known_test, extractor, deblurrer)[0]


def run_experiment(cfg: ExperimentConfig, out_dir: str | os.PathLike, *, report: bool = True) -> dict:
    """Run (or resume) the whole comparison into `out_dir`; returns the results (also ``results.json``).

    A folder made with other settings is refused; only the rows, ratios, name and report crops may
    change (they add or drop results, never alter one).
    """
    from blur2blur.config import to_dict
    from blur2blur.runs import check_settings, record_settings

    out = Path(out_dir)
    check_settings(out, cfg, lambda key: key in ADDABLE_SETTINGS, what="an experiment")
    record_settings(out, cfg)
    known_train, known_test = known_camera_pairs(cfg)
    extractor, deblurrer = known_models(cfg, out, known_train, known_test)
    known = evaluate_stored(out / "known" / "eval-deblurrer.json", lambda: ROW_TABLE["direct"].load(deblurrer),
                            known_test, cfg.eval, desc="known/direct")
    results: dict[str, Any] = {"name": cfg.name, "config": to_dict(cfg), "known": known, "cameras": {}}
    test_pairs = {}
    for spec in cfg.cameras:
        results["cameras"][spec.name], data = _run_camera(cfg, spec, out, known_train, known_test, extractor,
                                                          deblurrer)
        test_pairs[spec.name] = data.test_pairs
    results["notes"] = warnings_for(results)
    (out / "results.json").write_text(json.dumps(compact(results), indent=1), encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
    if report:
        write_experiment_report(cfg, results, out, test_pairs)
    return results


__all__ = ["run_camera", "run_experiment"]
