"""The experiment's results as tables: one line per row, paired differences, the gap closed, Markdown."""

from __future__ import annotations

import copy
from typing import Any

from blur2blur.evaluate import paired_difference
from blur2blur.experiment.checks import warnings_for
from blur2blur.experiment.rows import FIT_ROWS, ROW_TITLES


def summary_table(camera: dict) -> list[dict[str, Any]]:
    """One line per row: PSNR/SSIM means, paired differences against D' direct, share improved."""
    rows = camera["rows"]
    base = rows.get("direct")
    lines = []
    for name, result in rows.items():
        s = result["summary"]
        line = {"row": name, "method": ROW_TITLES[name], "psnr": s["psnr"], "ssim": s["ssim"], "samples": s["samples"]}
        if base is not None and name != "direct":
            d = paired_difference(result, base)
            line.update(d_psnr=d["psnr"], d_ssim=d["ssim"], improved=d["improved"])
        lines.append(line)
    return lines


def gap_closed(camera: dict) -> float | None:
    """(Blur2Blur - direct) / (upper bound - direct) in PSNR, where all three rows exist."""
    rows = camera["rows"]
    if not {"direct", "blur2blur", "upper"} <= rows.keys():
        return None
    direct, b2b, upper = (rows[k]["summary"]["psnr"] for k in ("direct", "blur2blur", "upper"))
    return (b2b - direct) / (upper - direct) if upper != direct else None


def signed(x: float) -> str:
    """A difference with its sign, two decimals; a tie (|x| < 0.005) reads +0.00, never -0.00."""
    return f"{x:+.2f}" if round(x, 2) != 0 else "+0.00"


def curve_point(point: dict) -> str:
    """One point of a learning curve as text: ``step: +0.12 dB (8%)``."""
    gap = point["gap_closed"]
    return f"{point['step']}: {signed(point['d_psnr'])} dB" + ("" if gap is None else f" ({round(100 * gap) or 0}%)")


def markdown(results: dict) -> str:
    """The results as Markdown tables (one per camera, plus the ablation)."""
    out = [f"# {results['name']}", ""]
    k = results["known"]["summary"]
    out += [f"Known camera, D' on its own held-out blur: {k['psnr_input']:.2f} -> {k['psnr']:.2f} dB "
            f"({k['gain_over_input']:+.2f} dB, {k['samples']} samples).", ""]
    for name, cam in results["cameras"].items():
        out += [f"## {name}", "", "| method | PSNR | SSIM | ΔPSNR vs direct (paired) | improved vs direct |",
                "|---|---|---|---|---|"]
        for line in summary_table(cam):
            d = signed(line["d_psnr"]) if "d_psnr" in line else "–"
            imp = f"{100 * line['improved']:.0f}%" if "improved" in line else "–"
            out.append(f"| {line['method']} | {line['psnr']:.2f} | {line['ssim']:.4f} | {d} | {imp} |")
        gap = gap_closed(cam)
        out.append("")
        for row in FIT_ROWS:
            sig = cam.get(row.signals_key) or {}
            if sig:
                out.append(f"{row.title}, held-out checks: D accuracy K vs B "
                           f"{sig.get('d_acc_b_vs_k', float('nan')):.2f}, K vs G(B) "
                           f"{sig.get('d_acc_heldout', float('nan')):.2f}, K vs the camera's blur of the same scenes "
                           f"{sig.get('d_acc_same_scene', float('nan')):.2f}, drift PSNR(G(y), y) "
                           f"{sig.get('drift_psnr', float('nan')):.2f} dB. D' on K: "
                           f"{sig.get('deblurrer_gain_on_k', float('nan')):+.2f} dB.")
        if gap is not None:
            out.append(f"Gap closed by Blur2Blur: {round(100 * gap) or 0}% of (upper bound - direct).")
        for row, points in (cam.get("curves") or {}).items():
            if points:
                out.append(f"Learning curve of {ROW_TITLES[row]} (translator step: ΔPSNR vs direct"
                           f"{', gap closed' if points[0]['gap_closed'] is not None else ''}): "
                           + ", ".join(curve_point(p) for p in points) + ".")
        if cam["ablation"]:
            out += ["", "| B:S ratio | PSNR | SSIM | D acc K vs B |", "|---|---|---|---|"]
            for ratio, ab in cam["ablation"].items():
                out.append(f"| {ratio} : {1 - float(ratio):.2f} | {ab['summary']['psnr']:.2f} | "
                           f"{ab['summary']['ssim']:.4f} | {ab['signals'].get('d_acc_b_vs_k', float('nan')):.2f} |")
        out.append("")
    notes = warnings_for(results)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


def compact(results: dict) -> dict:
    """results.json keeps summaries and paired differences; per-image rows stay in cameras/*/eval/."""
    slim = copy.deepcopy(results)
    slim["known"] = results["known"]["summary"]
    for cam in slim["cameras"].values():
        cam["table"] = summary_table({"rows": cam["rows"]})
        cam["gap_closed"] = gap_closed(cam)
        cam["rows"] = {k: v["summary"] for k, v in cam["rows"].items()}
    return slim


__all__ = ["compact", "curve_point", "gap_closed", "markdown", "signed", "summary_table"]
