"""The experiment's HTML report: a verdict per camera, the tables, side-by-side crops of every row,
training curves, settings."""

from __future__ import annotations

from pathlib import Path

import torch

from blur2blur.data.pairs import BlurPair
from blur2blur.experiment.cameras import camera_data
from blur2blur.experiment.checks import MIN_KNOWN_GAIN_DB, translator_verdict
from blur2blur.experiment.config import ExperimentConfig
from blur2blur.experiment.rows import FIT_ROWS, ROW_TABLE
from blur2blur.experiment.tables import gap_closed, signed, summary_table

CONTEXT = 32  # pixels around a crop the models also see, so its borders are restored as in a whole image


@torch.no_grad()
def _crops(cfg: ExperimentConfig, results: dict, out: Path, test_pairs: dict[str, list[BlurPair]]) -> list:
    """For each of the first test pairs of each camera, its most detailed window of the sharp image
    (at least 128 px) through every row, the sharp reference first, each scored against it."""
    from blur2blur.data.pairs import load_pair
    from blur2blur.inference import restore
    from blur2blur.metrics import psnr
    from blur2blur.report import ReportCrop
    from blur2blur.report.crops import MIN_SHOWN, detail_windows

    crops = []
    for name, cam in results["cameras"].items():
        models = {row: ROW_TABLE[row].load(Path(p)) for row, p in cam["models"].items()}
        if name not in test_pairs:
            spec = next(c for c in cfg.cameras if c.name == name)
            test_pairs[name] = camera_data(cfg, spec, out / "cameras" / name, cfg.ratio).test_pairs
        for pair in test_pairs[name][:cfg.report_crops]:
            blurry, sharp = load_pair(pair)
            top, left, side = detail_windows(sharp, max(MIN_SHOWN, cfg.eval.crop or 0), 1)[0]
            h, w = sharp.shape[-2:]
            t0, l0 = max(0, top - CONTEXT), max(0, left - CONTEXT)
            context = blurry[:, t0:min(h, top + side + CONTEXT), l0:min(w, left + side + CONTEXT)][None]

            def window(x: torch.Tensor, t0: int = t0, l0: int = l0, top: int = top, left: int = left,
                       side: int = side) -> torch.Tensor:
                return x[..., top - t0:top - t0 + side, left - l0:left - l0 + side]

            images = {"sharp (reference)": sharp[:, top:top + side, left:left + side],
                      "blurry input": window(context[0])}
            for row, model in models.items():
                if row == "blur2blur":
                    images["G(y)"] = window(restore(model.translator, context)[0])  # padded to its size rule
                images[ROW_TABLE[row].title] = window(restore(model, context)[0])
            ref = images["sharp (reference)"]
            scores = {k: f"{psnr(v, ref):.2f} dB" for k, v in images.items() if k != "sharp (reference)"}
            crops.append(ReportCrop(f"{name} / {Path(pair.blurry).stem}: the most detailed {side}-px window",
                                    images, scores))
    return crops


def experiment_verdicts(results: dict) -> list:
    """One plain-language line per camera (did Blur2Blur beat D' direct, and did its translator learn), after
    a line on D's headroom when it has too little."""
    from blur2blur.report import ReportVerdict

    verdicts = []
    known_gain = results["known"]["summary"]["gain_over_input"]
    if known_gain < MIN_KNOWN_GAIN_DB:
        verdicts.append(ReportVerdict(f"No comparison here means much: D' gains only {known_gain:+.2f} dB on its "
                                      "own known blur, too little headroom for any method to show.", "bad"))
    for name, cam in results["cameras"].items():
        line = next((x for x in summary_table(cam) if x["row"] == "blur2blur"), None)
        if line is None or "d_psnr" not in line:
            verdicts.append(ReportVerdict(f"{name}: no Blur2Blur result against D' direct to judge.", "unsure"))
            continue
        tone, why = translator_verdict({**(cam.get("signals") or {}), "deblurrer_gain_own": known_gain})
        better = line["d_psnr"] > 0 and line["improved"] > 0.5
        text = (f"{name}: Blur2Blur {'beats' if better else 'does not beat'} D' direct "
                f"({signed(line['d_psnr'])} dB, {100 * line['improved']:.0f}% of test samples better). {why}")
        verdicts.append(ReportVerdict(text, "good" if better and tone == "good" else
                                      "bad" if not better or tone == "bad" else "unsure"))
    return verdicts


def write_experiment_report(cfg: ExperimentConfig, results: dict, out: Path,
                            test_pairs: dict[str, list[BlurPair]] | None = None) -> Path:
    """``out/report/index.html``: the tables, side-by-side crops, training curves and the settings.

    `test_pairs`: each camera's test pairs, as the run found them (missing ones are found again).
    """
    from blur2blur.config import to_dict
    from blur2blur.report import ReportTable, write_report
    from blur2blur.report.fit import log_charts

    k = results["known"]["summary"]
    tables = [ReportTable("Known camera: D' on its own held-out blur", ["input", "PSNR", "SSIM", "samples"],
                          [["blurry", k["psnr_input"], k["ssim_input"], k["samples"]],
                           ["D'", k["psnr"], k["ssim"], k["samples"]]], highlight="PSNR", baseline="blurry")]
    curves = {}
    for name, cam in results["cameras"].items():
        rows = []
        for line in summary_table(cam):
            row = ROW_TABLE[line["row"]]
            sig = (cam.get(row.signals_key) or {}) if row.signals_key else {}
            acc, same = sig.get("d_acc_b_vs_k"), sig.get("d_acc_same_scene")
            d_psnr = signed(line["d_psnr"]) if "d_psnr" in line else None
            rows.append([line["method"], line["psnr"], line["ssim"], d_psnr,
                         None if "improved" not in line else f"{100 * line['improved']:.0f}%", acc, same])
        gap = gap_closed(cam)
        note = f"Gap closed by Blur2Blur: {round(100 * gap) or 0}%." if gap is not None else ""
        for row in FIT_ROWS:
            if "deblurrer_gain_on_k" in (cam.get(row.signals_key) or {}):
                note += f" D' on {row.k_description}: {cam[row.signals_key]['deblurrer_gain_on_k']:+.2f} dB."
        tables.append(ReportTable(f"Camera {name} ({cam['sizes']['B']} B, {cam['sizes']['S']} S, "
                                  f"{cam['rows'][next(iter(cam['rows']))]['summary']['samples']} test samples)",
                                  ["method", "PSNR", "SSIM", "ΔPSNR vs direct", "improved vs direct",
                                   "D acc K vs B (held-out)", "D acc K vs B, same scenes"], rows, note=note,
                                  highlight="PSNR", baseline=ROW_TABLE["blurry"].title))
        if cam["ablation"]:
            tables.append(ReportTable(f"Camera {name}: B:S ratio ablation", ["B : S", "PSNR", "SSIM", "D acc K vs B"],
                                      [[f"{r} : {1 - float(r):.2f}", a["summary"]["psnr"], a["summary"]["ssim"],
                                        a["signals"].get("d_acc_b_vs_k")] for r, a in cam["ablation"].items()],
                                      highlight="PSNR"))
        learning = {ROW_TABLE[row].title: [(p["step"], 100 * p["gap_closed"] if p["gap_closed"] is not None
                                            else p["d_psnr"]) for p in points]
                    for row, points in (cam.get("curves") or {}).items() if points}
        if learning:  # gap closed (%) where the upper bound was run, else the difference from D' direct (dB)
            with_gap = all(p["gap_closed"] is not None for points in cam["curves"].values() for p in points)
            curves[f"{name}: {'gap closed by' if with_gap else 'ΔPSNR vs direct of'} D'(G(y)) "
                   f"({'%' if with_gap else 'dB'}) vs translator step"] = learning
        log = out / "cameras" / name / "fit" / "translator-run" / "log.jsonl"
        if log.exists():  # one chart per quantity: the losses' scales differ by orders of magnitude
            curves.update(log_charts(log, f"{name}: translator"))
    crops = _crops(cfg, results, out, dict(test_pairs or {}))
    return write_report(out / "report", title=results["name"], tables=tables, crops=crops,
                        curves=curves, settings=to_dict(cfg), notes=results["notes"], overwrite=True,
                        verdicts=experiment_verdicts(results))


__all__ = ["experiment_verdicts", "write_experiment_report"]
