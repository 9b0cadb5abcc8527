"""`blur2blur demo --quick` end to end, and the experiment's tables and warnings on made-up results."""

from __future__ import annotations

import html.parser
import json

import pytest
from typer.testing import CliRunner

from blur2blur.cli import app
from blur2blur.experiment import ExperimentConfig, gap_closed, markdown, summary_table, warnings_for


def _result(psnrs: dict[str, list[float]], inputs: list[float]) -> dict:
    rows = {}
    for row, values in psnrs.items():
        images = [{"name": f"i{k}", "psnr": v, "ssim": 0.5, "psnr_input": inputs[k], "ssim_input": 0.4}
                  for k, v in enumerate(values)]
        n = len(values)
        rows[row] = {"images": images, "summary": {
            "samples": n, "psnr": sum(values) / n, "ssim": 0.5, "psnr_input": sum(inputs) / n, "ssim_input": 0.4,
            "gain_over_input": (sum(values) - sum(inputs)) / n,
            "improved_over_input": sum(v > i for v, i in zip(values, inputs)) / n}}
    return rows


def test_tables_paired_differences_gap_and_warnings():
    inputs = [20.0, 22.0, 24.0]
    rows = _result({"direct": [21.0, 23.0, 25.0], "blur2blur": [23.0, 24.0, 24.5], "upper": [25.0, 26.0, 27.0]},
                   inputs)
    cam = {"rows": rows, "signals": {"d_acc_b_vs_k": 0.55}, "ablation": {}, "sizes": {}}
    table = {line["row"]: line for line in summary_table(cam)}
    assert table["blur2blur"]["d_psnr"] == pytest.approx((2 + 1 - 0.5) / 3)
    assert table["blur2blur"]["improved"] == pytest.approx(2 / 3)
    assert "d_psnr" not in table["direct"]
    # (B2B - direct) / (upper - direct) on the means: (23.833 - 23) / (26 - 23)
    assert gap_closed(cam) == pytest.approx((71.5 / 3 - 23) / 3)
    known = {"summary": {"gain_over_input": 1.2, "psnr": 25.0, "psnr_input": 23.8, "samples": 3}}
    notes = warnings_for({"known": known, "cameras": {"cam": cam}})
    assert any("D' gains only +1.20 dB" in n for n in notes)
    assert any("invalid, not negative" in n for n in notes)
    assert any("only 3 test samples" in n for n in notes)
    text = markdown({"name": "t", "known": known, "cameras": {"cam": cam}})
    assert "| D' + Blur2Blur | 23.83 | 0.5000 | +0.83 | 67% |" in text
    tie = _result({"direct": [21.0, 23.0, 25.0], "blur2blur": [21.0, 23.0, 24.99]}, inputs)
    assert "| D' + Blur2Blur | 23.00 | 0.5000 | +0.00 | 0% |" in markdown(
        {"name": "t", "known": known, "cameras": {"cam": {**cam, "rows": tie}}})
    # D separates K from B, but not K from the camera's blur of the same scenes: it used content.
    cam["signals"] = {"d_acc_b_vs_k": 0.9, "d_acc_same_scene": 0.52}
    notes = warnings_for({"known": known, "cameras": {"cam": cam}})
    assert not any("no adversarial target" in n for n in notes)
    assert any("not K from the camera's blur of the same scenes (52%)" in n for n in notes)
    assert "same scenes 0.52" in markdown({"name": "t", "known": known, "cameras": {"cam": cam}})
    cam["signals"]["d_acc_same_scene"] = 0.8
    assert not any("same scenes" in n for n in warnings_for({"known": known, "cameras": {"cam": cam}}))
    # D' must gain on K (what G feeds it) about as much as on its own blur.
    cam["signals"]["deblurrer_gain_on_k"] = -0.43
    notes = warnings_for({"known": known, "cameras": {"cam": cam}})
    assert any("D' gains -0.43 dB on the known-blur set K" in n and "+1.20 dB on its own" in n for n in notes)
    assert "D' on K: -0.43 dB" in markdown({"name": "t", "known": known, "cameras": {"cam": cam}})
    cam["signals"]["deblurrer_gain_on_k"] = 0.9
    assert not any("known-blur set K" in n for n in warnings_for({"known": known, "cameras": {"cam": cam}}))
    # The diagnostic row with K made by the known camera: its own checks, named after it; D' on that K
    # says nothing about the extractor, so no extractor warning.
    cam["rows"]["blur2blur_true_k"] = cam["rows"]["blur2blur"]
    cam["signals_true_k"] = {"d_acc_b_vs_k": 0.52, "deblurrer_gain_on_k": -0.5}
    notes = warnings_for({"known": known, "cameras": {"cam": cam}})
    assert any(n.startswith("WARNING: cam (blur2blur_true_k): the discriminator tells K from B only 52%")
               for n in notes)
    assert not any("known-blur set K" in n for n in notes)
    text = markdown({"name": "t", "known": known, "cameras": {"cam": cam}})
    assert "| D' + Blur2Blur, true K (diagnostic) | 23.83 |" in text
    assert "true K (diagnostic), held-out checks: D accuracy K vs B 0.52" in text


def test_unknown_rows_and_duplicate_cameras_are_refused():
    with pytest.raises(ValueError, match="unknown rows"):
        ExperimentConfig(rows=["direct", "magic"])
    from blur2blur.experiment import CameraSpec

    with pytest.raises(ValueError, match="names must differ"):
        ExperimentConfig(cameras=[CameraSpec("a"), CameraSpec("a")])
    with pytest.raises(ValueError, match="simulated known camera"):
        ExperimentConfig(rows=["direct", "blur2blur_true_k"], known_pairs="/data/GOPRO")


def test_simulated_camera_scores_against_its_own_tone(tmp_path):
    """The test targets of a simulated camera are its noise-free still shots (webcam_like's gain is in
    them), B is its blurry shots and S its noisy stills of other scenes; "photo" keeps the photos."""
    import torch

    from blur2blur import assets
    from blur2blur.data.camera_sim import simulate_still
    from blur2blur.data.images import read_image, write_image
    from blur2blur.experiment import CameraSpec, simulated_camera

    for p in assets.demo_photos()[:6]:
        write_image(read_image(p)[0][:, :40, :56], tmp_path / "photos" / f"{p.stem}.png")
    cfg = ExperimentConfig(photos=str(tmp_path / "photos"))
    data = simulated_camera(cfg, CameraSpec("w", "webcam_like"), tmp_path / "run", 0.5)
    assert len(data.test_pairs) == 2 and len(data.blurry) + len(data.sharp) == 4
    assert not {p.stem for p in data.blurry} & {p.stem for p in data.sharp}   # B and S: other scenes
    pair = data.test_pairs[0]
    photo = read_image(tmp_path / "photos" / pair.sharp.name)[0]
    target = read_image(pair.sharp)[0]
    torch.testing.assert_close(target, simulate_still(photo, "webcam_like", 0, 0, clean=True), rtol=0, atol=2.5e-3)
    assert float(target.mean()) > float(photo.mean())
    with pytest.raises(ValueError, match="ground_truth"):
        CameraSpec("w", ground_truth="noisy")
    with pytest.raises(ValueError, match="sharp='clean' targets"):   # a run folder's targets never mix
        simulated_camera(cfg, CameraSpec("w", "webcam_like", ground_truth="photo"), tmp_path / "run", 0.5)
    data = simulated_camera(cfg, CameraSpec("w", "webcam_like", ground_truth="photo"), tmp_path / "run2", 0.5)
    torch.testing.assert_close(read_image(data.test_pairs[0].sharp)[0], photo, rtol=0, atol=0)


def test_bundled_paper_configs_resolve():
    for name in ("paper_gopro_to_reds", "paper_gopro_to_rsblur", "paper_gopro_to_rb2v_street"):
        res = CliRunner().invoke(app, ["experiment", name, "--out", "unused", "--show-config"])
        assert res.exit_code == 0, res.output
        assert "pairs: /data/" in res.output and "upper" in res.output
    res = CliRunner().invoke(app, ["experiment", "no_such_config", "--out", "unused"])
    assert res.exit_code == 2 and "paper_gopro_to_reds" in res.output


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    rows = ["--set", "rows=[blurry, direct, synthetic, cyclegan, dualgan, blur2blur, blur2blur_true_k, upper]"]
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), *rows])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    cam = results["cameras"]["phone_like"]
    assert set(cam["rows"]) == {"blurry", "direct", "synthetic", "cyclegan", "dualgan", "blur2blur", "blur2blur_true_k",
                                "upper"}
    for summary in cam["rows"].values():   # real numbers, measured on the same samples
        assert 5 < summary["psnr"] < 60 and 0 < summary["ssim"] <= 1 and summary["samples"] == 10
    assert cam["rows"]["blurry"]["psnr"] == pytest.approx(cam["rows"]["blurry"]["psnr_input"])
    assert {"d_acc_b_vs_k", "drift_psnr"} <= cam["signals"].keys()
    assert 0 <= cam["signals"]["d_acc_same_scene"] <= 1
    on_k = json.loads((out / "cameras" / "phone_like" / "fit" / "eval-deblurrer-on-K.json").read_text())
    assert on_k["summary"]["samples"] > 0
    assert cam["signals"]["deblurrer_gain_on_k"] == pytest.approx(on_k["summary"]["gain_over_input"])
    # K made by the known camera: the same checks, and D' gains on it (it is the blur D' was trained on).
    true_k = out / "cameras" / "phone_like" / "fit-true-k"
    assert not (true_k / "K").exists() and len(list((out / "cameras" / "phone_like" / "true-K").glob("*.png"))) > 0
    assert {"d_acc_b_vs_k", "d_acc_same_scene", "deblurrer_gain_on_k"} <= cam["signals_true_k"].keys()
    assert cam["signals_true_k"]["deblurrer_gain_on_k"] > 0.5
    # The learning curves: every kept translator checkpoint scored; the last one is the row's own model.
    for row in ("blur2blur", "blur2blur_true_k"):
        curve = cam["curves"][row]
        assert [p["step"] for p in curve] == [10, 20, 30, 40]
        assert curve[-1]["psnr"] == pytest.approx(cam["rows"][row]["psnr"], abs=1e-6)
        headroom = cam["rows"]["upper"]["psnr"] - cam["rows"]["direct"]["psnr"]
        assert curve[-1]["gap_closed"] == pytest.approx(curve[-1]["d_psnr"] / headroom)
    assert "Learning curve of D' + Blur2Blur (translator step" in (out / "results.md").read_text()
    page = (out / "report" / "index.html").read_text()
    html.parser.HTMLParser().feed(page)
    assert 'aria-label="phone_like: gap closed by D&#x27;(G(y)) (%) vs translator step"' in page
    assert f"{cam['rows']['direct']['psnr']:.2f}" in page
    assert "D&#x27; + Blur2Blur" in page or "D' + Blur2Blur" in page
    assert len(list((out / "report" / "images").glob("*.png"))) >= 2 * 6
    # Rerunning resumes: nothing is retrained and the numbers stay; rows may be dropped or added,
    # any other change of settings is refused.
    fewer = ["--set", "rows=[blurry, direct, synthetic, cyclegan, blur2blur, blur2blur_true_k, upper]"]
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), *fewer])
    assert res.exit_code == 0, res.output
    again = json.loads((out / "results.json").read_text())["cameras"]["phone_like"]["rows"]
    assert again == {k: v for k, v in cam["rows"].items() if k != "dualgan"}
    res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), *fewer, "--set", "eval.crop=32"])
    assert res.exit_code == 2 and "other settings (eval.crop)" in res.output


def test_report_page_verdict_blurry_best_charts_and_folded_settings(tmp_path):
    """The experiment's page on made-up results: a verdict per camera at the top, a best PSNR on the blurry
    input explained, one chart per logged quantity, the settings folded away."""
    from blur2blur.experiment.report import experiment_verdicts, write_experiment_report

    inputs = [24.0, 25.0, 26.0]
    rows = _result({"blurry": inputs, "direct": [23.0, 24.0, 25.0], "blur2blur": [22.5, 23.0, 25.5]}, inputs)
    cam = {"rows": rows, "signals": {"d_acc_b_vs_k": 0.52, "drift_psnr": 100.0}, "ablation": {},
           "sizes": {"B": 3, "S": 3}, "models": {},
           "curves": {"blurry": [], "blur2blur": [{"step": s, "psnr": 24.0, "d_psnr": d, "improved": 0.3,
                                                   "gap_closed": None} for s, d in ((10, -0.5), (20, -0.33))]}}
    known = {"summary": {"gain_over_input": 3.0, "psnr": 27.0, "psnr_input": 24.0, "ssim": 0.8, "ssim_input": 0.7,
                         "samples": 3}}
    results = {"name": "made up", "known": known, "cameras": {"cam": cam}, "notes": []}
    (verdict,) = experiment_verdicts(results)
    assert verdict.tone == "bad" and verdict.text.startswith("cam: Blur2Blur does not beat D' direct (-0.33 dB")
    assert "did not learn" in verdict.text
    log = tmp_path / "cameras" / "cam" / "fit" / "translator-run" / "log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(json.dumps({"step": s, "kind": "train", "time": 0, "loss_d": 1.4, "loss_rec": 0.01,
                                         "loss_g_adv": 0.7 + s / 1000}) for s in (10, 20, 30)) + "\n")
    page = write_experiment_report(ExperimentConfig(), results, tmp_path, {"cam": []}).read_text(encoding="utf-8")
    html.parser.HTMLParser().feed(page)
    assert page.index('<p class="verdict bad">cam: Blur2Blur does not beat') < page.index('id="results"')
    assert "The best PSNR is the blurry input&#x27;s own" in page
    for quantity in ("loss_d", "loss_rec", "loss_g_adv"):
        assert f'aria-label="cam: translator: {quantity}"' in page
    # Without the upper bound the learning curve is the difference from D' direct, in dB.
    assert 'aria-label="cam: ΔPSNR vs direct of D&#x27;(G(y)) (dB) vs translator step"' in page
    assert "Learning curve of D' + Blur2Blur (translator step: ΔPSNR vs direct): 10: -0.50 dB, 20: -0.33 dB." \
        in markdown({**results, "cameras": {"cam": {**cam, "rows": rows}}})
    assert '<details class="settings" id="settings">' in page
