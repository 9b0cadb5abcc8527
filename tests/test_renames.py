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


# ----------------------------------------------------------------------------- fit's config keys
# FitConfig.kernels is FitConfig.extractor and FitConfig.transfer is FitConfig.known_set: the old keys are read as
# the new ones (FitConfig.RENAMED_KEYS) in --set items, YAML files and recorded run folders.


def _renamed(caught) -> set[str]:
    return {str(w.message).split(": ")[-1] for w in caught}


RENAMED = {"config key 'kernels' is renamed 'extractor'; the old name goes in the next release",
           "config key 'transfer' is renamed 'known_set'; the old name goes in the next release"}


def test_old_fit_keys_in_set_items_and_settings():
    from blur2blur.config import load_config, with_settings
    from blur2blur.fit import FitConfig, tiny_config

    with pytest.warns(DeprecationWarning) as caught:
        cfg = load_config(FitConfig, None, ["kernels.loop.steps=7", "transfer.variants=3"], base=tiny_config())
    assert _renamed(caught) == RENAMED
    assert cfg.extractor.loop.steps == 7 and cfg.known_set.variants == 3
    assert cfg == with_settings(tiny_config(), {"extractor.loop.steps": 7, "known_set.variants": 3})
    with pytest.warns(DeprecationWarning) as caught:
        assert with_settings(tiny_config(), {"transfer": {"variants": 3}, "kernels.loop.steps": 7}) == cfg
    assert _renamed(caught) == RENAMED


def test_old_fit_keys_in_a_yaml_file(tmp_path):
    from blur2blur.config import ConfigError, load_config
    from blur2blur.fit import FitConfig, tiny_config

    path = tmp_path / "fit.yaml"
    path.write_text("kernels:\n  lr: 0.5\n  loop: {steps: 7}\ntransfer:\n  variants: 3\n")
    with pytest.warns(DeprecationWarning) as caught:
        cfg = load_config(FitConfig, path, base=tiny_config())
    assert _renamed(caught) == RENAMED and all(str(w.message).startswith(f"{path}: ") for w in caught)
    tiny = tiny_config()
    assert (cfg.extractor.lr, cfg.extractor.loop.steps, cfg.known_set.variants) == (0.5, 7, 3)
    assert cfg.extractor.arch == tiny.extractor.arch and cfg.extractor.crop == tiny.extractor.crop  # merged key by key
    path.write_text("kernels: {lr: 0.5}\nextractor: {lr: 0.1}\n")
    with pytest.raises(ConfigError, match="'kernels' is the old name of 'extractor'"), pytest.warns(DeprecationWarning):
        load_config(FitConfig, path, base=tiny_config())


def test_old_fit_keys_inside_the_experiment_config():
    from blur2blur.config import load_config
    from blur2blur.experiment import ExperimentConfig, demo_config

    with pytest.warns(DeprecationWarning) as caught:
        cfg = load_config(ExperimentConfig, None, ["fit.transfer.variants=5", "fit.kernels.lr=0.5"],
                          base=demo_config(quick=True))
    assert {str(w.message).split(";")[0] for w in caught} == {"config key 'fit.kernels' is renamed 'fit.extractor'",
                                                             "config key 'fit.transfer' is renamed 'fit.known_set'"}
    assert cfg.fit.known_set.variants == 5 and cfg.fit.extractor.lr == 0.5


def test_a_run_folder_recorded_with_the_old_keys_resumes(tmp_path):
    import warnings

    from blur2blur import runs
    from blur2blur.config import with_settings
    from blur2blur.fit import tiny_config

    cfg = tiny_config()
    saved = runs.record_settings(tmp_path, cfg)
    text = saved.read_text()
    assert "\nextractor:\n" in text and "\nknown_set:\n" in text
    saved.write_text(text.replace("\nextractor:\n", "\nkernels:\n").replace("\nknown_set:\n", "\ntransfer:\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read silently: the user did not write these keys
        runs.check_settings(tmp_path, cfg)
        runs.check_settings(tmp_path, with_settings(cfg, {"extractor.loop.steps": 9}))  # resumable, as before
    with pytest.raises(ValueError, match=r"other settings \(known_set.variants\)"):
        runs.check_settings(tmp_path, with_settings(cfg, {"known_set.variants": 2}))
    runs.record_settings(tmp_path, cfg)
    assert saved.read_text() == text  # the folder now records the new names


def test_old_fit_keys_on_the_command_line(monkeypatch, capsys):
    import yaml

    from blur2blur.cli import main

    monkeypatch.setattr(sys, "argv", ["blur2blur", "fit", "--blurry", "B", "--sharp", "S", "--out", "run",
                                      "--preset", "tiny", "--set", "kernels.loop.steps=7", "--set",
                                      "transfer.variants=3", "--show-config"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    out, err = capsys.readouterr()
    shown = yaml.safe_load(out)
    assert shown["extractor"]["loop"]["steps"] == 7 and shown["known_set"]["variants"] == 3
    assert "kernels" not in shown and "transfer" not in shown
    assert "warning: config key 'kernels' is renamed 'extractor'" in err
    assert "warning: config key 'transfer' is renamed 'known_set'" in err


# ----------------------------------------------------------------------------- the old `kernels` commands


@pytest.mark.parametrize("old, new", [
    (["kernels", "train", "--out", "f.safetensors", "--preset", "tiny", "--show-config"],
     ["extractor", "train", "--out", "f.safetensors", "--preset", "tiny", "--show-config"]),
    (["kernels", "eval", "--extractor", "missing.safetensors"], ["extractor", "eval", "--extractor",
                                                                 "missing.safetensors"]),
    (["kernels", "transfer", "--extractor", "missing.pth", "--pairs", ".", "--out", "K"],
     ["known-set", "make", "--extractor", "missing.pth", "--pairs", ".", "--out", "K"]),
], ids=["train", "eval", "transfer"])
def test_old_kernels_commands_run_the_new_ones_with_a_notice(old, new, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from blur2blur.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    was, now = runner.invoke(app, old), runner.invoke(app, new)
    assert (was.exit_code, was.stdout) == (now.exit_code, now.stdout)
    notice = f"warning: `blur2blur {' '.join(old[:2])}` is renamed `blur2blur {' '.join(new[:2])}`; the old name " \
             "goes in the next release\n"
    assert was.stderr == notice + now.stderr and notice not in now.stderr


def test_old_kernels_commands_are_hidden_from_the_help():
    from typer.testing import CliRunner

    from blur2blur.cli import app

    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "extractor" in shown and "known-set" in shown and "kernels" not in shown
