"""The fit's report on fabricated run folders: the verdict, the charts, missing parts, never failing the fit."""

from __future__ import annotations

import json

import pytest

from blur2blur.experiment.checks import translator_verdict
from blur2blur.fit import FitInputs, tiny_config, write_report_quietly
from blur2blur.report.fit import write_fit_report

CHANCE = {"d_acc_b_vs_k": 0.52, "d_acc_heldout": 0.51, "drift_psnr": 31.0}
IDENTITY = {"d_acc_b_vs_k": 0.85, "d_acc_heldout": 0.84, "drift_psnr": 100.0}
LEARNED = {"d_acc_b_vs_k": 0.82, "d_acc_heldout": 0.58, "drift_psnr": 29.5}


def _fabricated_run(tmp_path, evals: dict) -> tuple:
    """A run folder holding only the translator's training log: losses of very different scales and
    held-out evaluations ending in `evals`."""
    run = tmp_path / "run"
    (run / "translator-run").mkdir(parents=True)
    lines = []
    for step in range(10, 210, 10):
        lines.append({"step": step, "kind": "train", "time": 0.0, "loss_d": 1.3 - step / 400,
                      "gp": 10.0 ** (-step / 40), "d_acc": 0.5 + step / 1000})
    for step in (100, 200):
        lines.append({"step": step, "kind": "eval", "time": 0.0, **evals})
    (run / "translator-run" / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return run, FitInputs([], [], [], [])


@pytest.mark.parametrize(("signals", "tone", "says"), [
    (CHANCE, "bad", "did not learn: its discriminator told the known blur K from the camera's blur only 52%"),
    (IDENTITY, "bad", "did not learn: G still returns its input"),
    (LEARNED, "good", "The translator learned"),
    ({}, "unsure", "No verdict"),
])
def test_the_verdict_says_what_the_signals_show(signals, tone, says):
    got_tone, text = translator_verdict(signals)
    assert got_tone == tone and says in text
    assert "\n" not in text  # one line


def test_a_poor_known_set_turns_a_learned_verdict_bad():
    tone, text = translator_verdict({**LEARNED, "deblurrer_gain_own": 3.0, "deblurrer_gain_on_k": 0.2})
    assert tone == "bad" and "K does not carry the known blur" in text


@pytest.mark.parametrize(("evals", "says"), [(CHANCE, "did not learn"), (IDENTITY, "G still returns its input"),
                                             (LEARNED, "The translator learned")])
def test_the_page_from_fabricated_logs(tmp_path, evals, says):
    run, inputs = _fabricated_run(tmp_path, evals)
    page = write_fit_report(run, inputs, tiny_config()).read_text(encoding="utf-8")
    verdict = page.split('<p class="verdict', 1)[1].split("</p>", 1)[0]
    assert says in verdict.replace("&#x27;", "'")
    # One chart per quantity: the losses of different scales never share an axis; gp spans decades: log axis.
    assert page.count('<svg class="chart') == 3 + 3  # loss_d, gp, d_acc + the three held-out signals
    assert 'aria-label="translator G: gp"' in page and "gp (log scale)" in page
    # What is missing is said, not skipped silently.
    for missing in ("No training curves of the kernel extractor F", "No training curves of the deblurrer D",
                    "did not finish", "without G(y), D&#x27;(y) and D&#x27;(G(y))"):
        assert missing in page, missing


def test_a_failing_report_never_fails_the_fit(tmp_path, monkeypatch, capsys):
    import blur2blur.report.fit as fit_report

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(fit_report, "write_fit_report", broken)
    assert write_report_quietly(tmp_path, FitInputs([], [], [], []), tiny_config()) is None
    assert "the report was not written (OSError: disk on fire)" in capsys.readouterr().err
