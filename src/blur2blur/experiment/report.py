"""The experiment's HTML report: the tables, side-by-side crops of every row, training curves, settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from blur2blur.data.pairs import BlurPair
from blur2blur.evaluate import evaluation_samples
from blur2blur.experiment.cameras import camera_data
from blur2blur.experiment.config import ExperimentConfig
from blur2blur.experiment.rows import FIT_ROWS, ROW_TABLE
from blur2blur.experiment.tables import gap_closed, signed, summary_table


@torch.no_grad()
def _crops(cfg: ExperimentConfig, results: dict, out: Path, test_pairs: dict[str, list[BlurPair]]) -> list:
    from blur2blur.inference import restore
    from blur2blur.metrics import psnr
    from blur2blur.report import ReportCrop

    crops = []
    for name, cam in results["cameras"].items():
        models = {row: ROW_TABLE[row].load(Path(p)) for row, p in cam["models"].items()}
        if name not in test_pairs:
            spec = next(c for c in cfg.cameras if c.name == name)
            test_pairs[name] = camera_data(cfg, spec, out / "cameras" / name, cfg.ratio).test_pairs
        ecfg = dataclasses.replace(cfg.eval, crops_per_image=1)
        for i, sample in enumerate(evaluation_samples(test_pairs[name], ecfg)):
            if i >= cfg.report_crops:
                break
            images = {"blurry": sample.blurry}
            for row, model in models.items():
                if row == "blur2blur":
                    images["G(y)"] = model.translate(sample.blurry[None])[0]
                images[ROW_TABLE[row].title] = restore(model, sample.blurry[None])[0]
            images["sharp"] = sample.sharp
            scores = {k: f"{psnr(v, sample.sharp):.2f} dB" for k, v in images.items() if k != "sharp"}
            crops.append(ReportCrop(f"{name} / {sample.name}", images, scores))
    return crops


def write_experiment_report(cfg: ExperimentConfig, results: dict, out: Path,
                            test_pairs: dict[str, list[BlurPair]] | None = None) -> Path:
    """``out/report/index.html``: the tables, side-by-side crops, training curves and the settings.

    `test_pairs`: each camera's test pairs, as the run found them (missing ones are found again).
    """
    from blur2blur.config import to_dict
    from blur2blur.report import ReportTable, read_jsonl_curves, write_report

    k = results["known"]["summary"]
    tables = [ReportTable("Known camera: D' on its own held-out blur", ["input", "PSNR", "SSIM", "samples"],
                          [["blurry", k["psnr_input"], k["ssim_input"], k["samples"]],
                           ["D'", k["psnr"], k["ssim"], k["samples"]]], highlight="PSNR")]
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
                                  highlight="PSNR"))
        if cam["ablation"]:
            tables.append(ReportTable(f"Camera {name}: B:S ratio ablation", ["B : S", "PSNR", "SSIM", "D acc K vs B"],
                                      [[f"{r} : {1 - float(r):.2f}", a["summary"]["psnr"], a["summary"]["ssim"],
                                        a["signals"].get("d_acc_b_vs_k")] for r, a in cam["ablation"].items()],
                                      highlight="PSNR"))
        log = out / "cameras" / name / "fit" / "translator-run" / "log.jsonl"
        if log.exists():
            curves[f"{name}: translator losses"] = read_jsonl_curves(log, ["loss_d", "loss_g_adv", "loss_rec"])
            curves[f"{name}: discriminator accuracy (training batches)"] = read_jsonl_curves(log, ["d_acc"])
            curves[f"{name}: drift PSNR(G(y), y)"] = read_jsonl_curves(log, ["drift_psnr"])
    crops = _crops(cfg, results, out, dict(test_pairs or {}))
    return write_report(out / "report", title=results["name"], tables=tables, crops=crops,
                        curves=curves, settings=to_dict(cfg), notes=results["notes"], overwrite=True)


__all__ = ["write_experiment_report"]
