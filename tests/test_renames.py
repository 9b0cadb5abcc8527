"""Renamed modules keep their old import path for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_pipeline_is_deblur_files_under_its_old_name():
    from blur2blur import deblur_files

    sys.modules.pop("blur2blur.pipeline", None)
    with pytest.warns(DeprecationWarning, match="blur2blur.deblur_files"):
        old = importlib.import_module("blur2blur.pipeline")
    assert old.deblur_files is deblur_files.deblur_files and old.plan_outputs is deblur_files.plan_outputs


def test_experiment_names_import_as_before():
    from blur2blur.experiment import (ROWS, CameraSpec, ExperimentConfig, demo_config, gap_closed, markdown,
                                      run_experiment, simulated_camera, summary_table, warnings_for,
                                      write_experiment_report)

    assert ROWS[0] == "blurry" and callable(run_experiment) and callable(write_experiment_report)
    assert isinstance(demo_config(quick=True), ExperimentConfig) and CameraSpec().name == "phone_like"
    assert all(callable(f) for f in (gap_closed, markdown, simulated_camera, summary_table, warnings_for))


def test_train_kernels_is_train_extractor_under_its_old_names():
    from blur2blur.data.split import split_by_scene
    from blur2blur.train import extractor

    sys.modules.pop("blur2blur.train.kernels", None)
    with pytest.warns(DeprecationWarning, match="blur2blur.train.extractor"):
        old = importlib.import_module("blur2blur.train.kernels")
    assert old.KernelTrainConfig is extractor.ExtractorConfig and old.KernelTrainer is extractor.ExtractorTrainer
    assert old.PRESETS is extractor.PRESETS and old.tiny_config is extractor.tiny_config
    assert old.reblur_psnr is extractor.reblur_psnr and old.ExtractorArch is extractor.ExtractorArch
    assert old.split_by_scene is split_by_scene  # an older home of it, kept importable


def test_known_blur_is_known_set_under_its_old_names():
    from blur2blur import known_set

    sys.modules.pop("blur2blur.data.known_blur", None)
    with pytest.warns(DeprecationWarning, match="blur2blur.known_set"):
        old = importlib.import_module("blur2blur.data.known_blur")
    assert old.TransferConfig is known_set.KnownSetConfig and old.transfer_to_folder is known_set.make_known_set
    assert old.TransferItem is known_set.KnownSetItem and old.TransferResult is known_set.KnownSetResult
    assert old.reblur is known_set.reblur and old.load_manifest is known_set.load_manifest
    assert old.regenerate is known_set.regenerate and old.k_output_names is known_set.k_output_names
