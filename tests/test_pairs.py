from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blur2blur.data.images import ImageReadError
from blur2blur.data.pairs import (
    BlurPair,
    PairDatasetError,
    detect_layout,
    find_pairs,
    load_pair,
    middle_sharp,
)


def png(path: Path, value: int = 0, size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


def make_gopro(root: Path) -> None:
    for seq in ("GOPR0001", "GOPR0002"):
        for name in ("000001", "000002"):
            png(root / "train" / seq / "blur" / f"{name}.png", 10)
            png(root / "train" / seq / "blur_gamma" / f"{name}.png", 20)
            png(root / "train" / seq / "sharp" / f"{name}.png", 30)


def test_gopro_pairs_scenes_and_gamma(tmp_path):
    make_gopro(tmp_path)
    assert detect_layout(tmp_path) == "gopro"
    pairs = find_pairs(tmp_path)
    assert len(pairs) == 4
    assert [p.scene for p in pairs] == ["GOPR0001"] * 2 + ["GOPR0002"] * 2
    assert all(p.blurry.parent.name == "blur" for p in pairs)
    gamma = find_pairs(tmp_path, "gopro", gamma_blur=True)
    assert all(p.blurry.parent.name == "blur_gamma" for p in gamma)
    for pair in pairs:   # every pair reads, at matching sizes
        load_pair(pair)


def test_reds(tmp_path):
    for clip in ("000", "001"):
        for f in ("00000000", "00000001", "00000002"):
            png(tmp_path / "train_blur" / clip / f"{f}.png")
            png(tmp_path / "train_sharp" / clip / f"{f}.png")
    assert detect_layout(tmp_path) == "reds"
    pairs = find_pairs(tmp_path)
    assert len(pairs) == 6 and {p.scene for p in pairs} == {"000", "001"}
    assert pairs == sorted(pairs, key=lambda p: (p.scene, str(p.blurry)))


def test_rsblur_prefers_real_blur(tmp_path):
    png(tmp_path / "scene1" / "0001" / "real_blur.png")
    png(tmp_path / "scene1" / "0001" / "avg_blur.png")
    png(tmp_path / "scene1" / "0001" / "gt" / "gt_sharp.png")
    png(tmp_path / "scene2" / "0002" / "avg_blur.png")
    png(tmp_path / "scene2" / "0002" / "gt" / "gt_sharp.png")
    assert detect_layout(tmp_path) == "rsblur"
    pairs = find_pairs(tmp_path)
    assert [(p.blurry.name, p.scene) for p in pairs] == [("real_blur.png", "scene1"), ("avg_blur.png", "scene2")]


def make_rb2v(root: Path) -> None:
    video = root / "train" / "sceneA" / "vid1"
    png(video / "blur" / "0000.png", 100)
    for k, v in enumerate((0, 60, 90)):
        png(video / "sharp" / "0000" / f"{k}.png", v)


def test_rb2v_sequence_middle_and_average(tmp_path):
    make_rb2v(tmp_path)
    assert detect_layout(tmp_path) == "rb2v"
    (pair,) = find_pairs(tmp_path)
    assert pair.scene == "sceneA" and isinstance(pair.sharp, tuple) and len(pair.sharp) == 3
    blurry, mid = load_pair(pair, "middle")
    assert blurry.shape == mid.shape == (3, 8, 8)
    assert torch.allclose(mid, torch.full_like(mid, 60 / 255))
    _, avg = load_pair(pair, "average")
    assert torch.allclose(avg, torch.full_like(avg, 50 / 255))
    assert middle_sharp(pair) == pair.sharp[1]   # the one middle-frame rule (split, experiment, load_pair)


@pytest.mark.parametrize("blur_name,sharp_name", [("blur", "sharp"), ("blurry", "gt"), ("blurred", "sharp")])
def test_folders(tmp_path, blur_name, sharp_name):
    png(tmp_path / blur_name / "a.png")
    png(tmp_path / blur_name / "b.jpg")
    png(tmp_path / sharp_name / "a.png")
    png(tmp_path / sharp_name / "b.png")  # any extension: matched by stem
    assert detect_layout(tmp_path) == "folders"
    pairs = find_pairs(tmp_path)
    assert [p.scene for p in pairs] == ["a", "b"]


def test_blur2blur_layout(tmp_path):
    for d in ("trainA", "trainB", "testA"):
        png(tmp_path / d / "x.png")
    for d in ("trainC", "trainD"):
        png(tmp_path / d / "1.png")
        png(tmp_path / d / "2.png")
    assert detect_layout(tmp_path) == "blur2blur"
    pairs = find_pairs(tmp_path)
    assert [(p.blurry.parent.name, p.sharp.parent.name) for p in pairs] == [("trainC", "trainD")] * 2


def test_missing_partner_names_path(tmp_path):
    png(tmp_path / "blur" / "a.png")
    png(tmp_path / "blur" / "lonely.png")
    png(tmp_path / "sharp" / "a.png")
    with pytest.raises(PairDatasetError, match="lonely.png") as e:
        find_pairs(tmp_path)
    assert str(tmp_path / "blur" / "lonely.png") in str(e.value)


def test_missing_sharp_partner_in_gopro(tmp_path):
    make_gopro(tmp_path)
    (tmp_path / "train" / "GOPR0001" / "sharp" / "000002.png").unlink()
    with pytest.raises(PairDatasetError, match="no sharp partner") as e:
        find_pairs(tmp_path, "gopro")
    assert str(tmp_path / "train" / "GOPR0001" / "blur" / "000002.png") in str(e.value)


def test_size_mismatch(tmp_path):
    pair = BlurPair(png(tmp_path / "b.png", size=(8, 8)), png(tmp_path / "s.png", size=(16, 8)), "x")
    with pytest.raises(PairDatasetError, match="size mismatch") as e:
        load_pair(pair)
    assert str(pair.blurry) in str(e.value) and str(pair.sharp) in str(e.value)


def test_unreadable_file(tmp_path):
    bad = tmp_path / "sharp" / "a.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not a png")
    pair = BlurPair(png(tmp_path / "blur" / "a.png"), bad, "a")
    with pytest.raises(ImageReadError) as e:
        load_pair(pair)
    assert str(bad) in str(e.value)


def test_empty_root(tmp_path):
    with pytest.raises(PairDatasetError, match="could not recognise") as e:
        find_pairs(tmp_path)
    assert str(tmp_path) in str(e.value) and "gopro" in str(e.value)
    (tmp_path / "train").mkdir()
    with pytest.raises(PairDatasetError, match="no pairs found") as e:
        find_pairs(tmp_path, "gopro")
    assert str(tmp_path) in str(e.value)


def test_unknown_layout(tmp_path):
    with pytest.raises(PairDatasetError, match="unknown layout 'nope'") as e:
        find_pairs(tmp_path, "nope")
    assert str(tmp_path) in str(e.value) and "rb2v" in str(e.value)
