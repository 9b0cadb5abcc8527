"""Run folders: the one settings check (also for a Python caller of run_fit), the held-out part of B."""

from __future__ import annotations

import dataclasses

import pytest

from blur2blur import runs
from blur2blur.config import with_settings
from blur2blur.data.split import heldout_tail
from blur2blur.fit import FitInputs, run_fit, tiny_config


def test_check_settings_allows_only_resumable_changes(tmp_path):
    cfg = tiny_config()
    runs.check_settings(tmp_path, cfg)                 # no config.yaml yet: fine
    runs.record_settings(tmp_path, cfg)
    longer = with_settings(cfg, {"translator.loop.steps": 5000, "extractor.loop.device": "cpu"})
    runs.check_settings(tmp_path, longer)              # length and device may change
    runs.record_settings(tmp_path, longer)             # and the folder records what it continues with
    runs.check_settings(tmp_path, longer, lambda key: False)
    with pytest.raises(ValueError, match=r"other settings \(translator.lr\); use another --out"):
        runs.check_settings(tmp_path, with_settings(longer, {"translator.lr": 1.0}), advice="use another --out")


def test_run_fit_refuses_a_folder_made_with_other_settings(tmp_path):
    runs.record_settings(tmp_path, tiny_config())
    other = dataclasses.replace(tiny_config(), heldout_fraction=0.5)
    with pytest.raises(ValueError, match="heldout_fraction"):   # before any stage runs
        run_fit(FitInputs([], [], [], []), other, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [runs.CONFIG]


def test_heldout_tail_is_one_rule():
    items = list(range(30))
    assert heldout_tail(items, 0.1) == (items[:27], items[27:])
    assert heldout_tail(items[:9], 0.1) == (items[:9], [])              # fewer than 10: none held out
    assert heldout_tail(items[:9], 0.1, at_least_one=True) == (items[:8], [8])
