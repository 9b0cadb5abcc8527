"""`fit` checks its inputs before the first stage trains: bad images named and skipped, VGG and disk checked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from helpers import FIT_TINY as TINY
from helpers import write_blur_pairs
from typer.testing import CliRunner

from blur2blur import assets, validate
from blur2blur.config import load_config
from blur2blur.data.pairs import find_pairs
from blur2blur.fit import FitConfig, FitInputs, tiny_config
from blur2blur.hub import OfflineError
from blur2blur.validate import validate_fit_inputs


def _noise(path, h, w, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit_pairs")
    write_blur_pairs(root / "P", assets.demo_photos()[:2], size=160)
    return find_pairs(root / "P", "folders")


@pytest.fixture
def camera(tmp_path):
    b = [_noise(tmp_path / "B" / f"{i}.png", 130, 150, i) for i in range(3)]
    s = [_noise(tmp_path / "S" / f"{i}.png", 140, 160, 10 + i) for i in range(3)]
    return b, s


def _cfg(*items: str) -> FitConfig:
    return load_config(FitConfig, None, ["translator.vgg_weights=random", "translator.crop=96",
                                         "deblurrer.crop=64", *items], base=tiny_config())


def test_bad_images_are_listed_by_name_and_skipped(camera, pairs, tmp_path):
    b, s = camera
    thin = _noise(tmp_path / "B" / "thin.png", 256, 3)                  # the image that crashed stage 4
    (tmp_path / "B" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    tiny_s = _noise(tmp_path / "S" / "tiny.png", 40, 40)
    inputs = FitInputs([*b, thin, tmp_path / "B" / "broken.png"], [*s, tiny_s], pairs, [])
    with pytest.warns(UserWarning) as caught:
        checked = validate_fit_inputs(inputs, _cfg(), tmp_path / "run")
    assert checked.blurry == b and checked.sharp == s and checked.known_train == list(pairs)
    text = "\n".join(str(w.message) for w in caught)
    assert "B (--blurry): skipping 2 of 5 image(s)" in text
    assert "thin.png: 3x256 is smaller than the 96px translator crop (translator.crop) needs" in text
    assert "broken.png: cannot read as an image" in text
    assert "S (--sharp): skipping 1 of 4" in text and "tiny.png: 40x40 is smaller than the 96px" in text


def test_a_set_left_empty_is_refused(camera, pairs, tmp_path):
    _, s = camera
    thin = _noise(tmp_path / "B" / "thin.png", 256, 3)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"no usable image left in B \(--blurry\)"):
        validate_fit_inputs(FitInputs([thin], s, pairs, []), _cfg(), tmp_path / "run")


def test_pairs_smaller_than_the_training_crop_are_skipped(camera, pairs, tmp_path):
    b, s = camera
    skipped = r"(?s)known-blur pairs P: skipping 2 of 2 .*160x160 is smaller than the 256px"
    with pytest.warns(UserWarning, match=skipped):
        with pytest.raises(ValueError, match="no usable image left in the known-blur pairs P"):
            validate_fit_inputs(FitInputs(b, s, pairs, []), _cfg("deblurrer.crop=256"), tmp_path / "run")
    # a given deblurrer and K: the pairs are not trained on, so not checked
    given = FitInputs(b, s, pairs, [], deblurrer=tmp_path / "d.safetensors", known_set=s)
    assert validate_fit_inputs(given, _cfg("deblurrer.crop=256"), tmp_path / "run").known_train == pairs


def test_missing_vgg_weights_fail_now_when_offline(camera, pairs, tmp_path, monkeypatch):
    b, s = camera
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    paper = "translator.perceptual=paper"  # the tiny preset's lowpass term needs no weights
    with pytest.raises(OfflineError, match="(?s)vgg19 weights are not in the cache.*translator.perceptual=lowpass"):
        validate_fit_inputs(FitInputs(b, s, pairs, []), _cfg("translator.vgg_weights=imagenet", paper),
                            tmp_path / "run")
    validate_fit_inputs(FitInputs(b, s, pairs, []), _cfg("translator.vgg_weights=imagenet",
                                                         "translator.perceptual=pixel"), tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="translator.vgg_weights: .*nope.pth: no such file"):
        validate_fit_inputs(FitInputs(b, s, pairs, []), _cfg(f"translator.vgg_weights={tmp_path / 'nope.pth'}",
                                                             paper), tmp_path / "run")
    validate_fit_inputs(FitInputs(b, s, pairs, []), _cfg("translator.vgg_weights=imagenet",
                                                         "translator.perceptual=lowpass"), tmp_path / "run")


def test_too_little_disk_is_refused_with_the_numbers(camera, pairs, tmp_path, monkeypatch):
    b, s = camera
    inputs = FitInputs(b, s, pairs, [])
    real = validate.shutil.disk_usage
    monkeypatch.setattr(validate.shutil, "disk_usage", lambda p: real(p)._replace(free=10 * 2**20))
    with pytest.raises(ValueError, match=r"run: the stages need about 0\.\d GiB of disk .*, 0\.0 GiB is free"):
        validate_fit_inputs(inputs, _cfg("deblurrer.arch_args={width: 64}"), tmp_path / "run")
    monkeypatch.setattr(validate.shutil, "disk_usage", lambda p: real(p)._replace(free=2**40))
    validate_fit_inputs(inputs, _cfg(), tmp_path / "run")


def test_fit_stops_before_the_first_stage(tmp_path):
    from blur2blur.cli import app

    write_blur_pairs(tmp_path / "P", assets.demo_photos()[:2], size=160)
    _noise(tmp_path / "B" / "thin.png", 256, 3)
    _noise(tmp_path / "S" / "0.png", 128, 160)
    res = CliRunner().invoke(app, ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "S"),
                                   "--known-pairs", str(tmp_path / "P"), "--out", str(tmp_path / "run"), *TINY])
    assert res.exit_code == 2, res.output
    assert "no usable image left in B (--blurry)" in res.output
    assert not (tmp_path / "run" / "extractor.safetensors").exists()
    assert not (tmp_path / "run" / "extractor-run").exists()
