"""`blur2blur sort`: simulated footage with known blur is sorted into B and S by whole stretches of time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import FOOTAGE_LUCKY, FOOTAGE_STRETCH, make_footage
from typer.testing import CliRunner

from blur2blur.data.footage import SortSettings, choose_threshold, edge_blur, footage_sources, sort_footage
from blur2blur.data.images import read_image, write_image
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.data.video import VideoReadError, VideoWriter

PHOTOS = Path(__file__).resolve().parent.parent / "src" / "blur2blur" / "assets" / "photos"
PER_STRETCH, LUCKY = FOOTAGE_STRETCH, FOOTAGE_LUCKY
SETTINGS = SortSettings(stretch=PER_STRETCH, gap=2)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """(video, truth): the helpers' simulated clip (:func:`helpers.make_footage`)."""
    root = tmp_path_factory.mktemp("footage")
    return root / "clip.mp4", make_footage(root / "clip.mp4")


def test_edge_blur_orders_by_blur_and_refuses_flat_frames():
    photo = read_image(PHOTOS / "erase__gorilla.webp")[0]
    scores = [edge_blur(blur_with_kernels(photo[None], motion_kernel(n, 30.0, 0.0)[None])[0])[0] if n else
              edge_blur(photo)[0] for n in (0, 5, 9, 15)]
    # Sharp below every blur, 5 px below 15 px (beyond ~10 px the degree saturates: it detects blur).
    assert 0 <= scores[0] < 0.5 < min(scores[1:]) and scores[1] < scores[3] <= 1
    assert edge_blur(torch.full((3, 64, 64), 0.5)) == (None, 0.0)
    with pytest.raises(ValueError, match="too small"):
        edge_blur(torch.rand(3, 16, 16))


def test_threshold_is_otsu_cut_in_the_gap():
    t, separation = choose_threshold([0.30, 0.31, 0.32, 0.60, 0.62])
    assert t == pytest.approx((0.32 + 0.60) / 2) and separation > 0.9
    with pytest.raises(ValueError, match="--threshold"):
        choose_threshold([0.4, 0.4])


def test_known_blur_lands_in_b_and_sharp_in_s_by_whole_stretches(footage, tmp_path):
    video, truth = footage
    out = tmp_path / "sorted"
    report = sort_footage([video], out, SETTINGS, progress=False)
    frames = report["frames"]
    assert len(frames) == len(truth) == report["counts"]["frames"]
    b = [f for f in frames if f["side"] == "blurry"]
    s = [f for f in frames if f["side"] == "sharp"]
    # Accuracy: every kept frame is on its true side (bound: 100%), and at least half of each stretch is kept.
    assert all(truth[f["index"]] for f in b) and not any(truth[f["index"]] for f in s)
    assert len(b) >= 3 * PER_STRETCH / 2 and len(s) >= 2 * PER_STRETCH / 2
    assert not {f["stretch"] for f in b} & {f["stretch"] for f in s}
    assert [st["side"] for st in report["stretches"]] == ["sharp", "blurry", "blurry", "sharp"]
    assert [st["scene"] for st in report["stretches"]] == [0, 0, 1, 2]  # cuts found between the photos only
    assert frames[LUCKY]["reason"] == "disagrees with its stretch"
    border = [f["reason"] for f in frames[PER_STRETCH - 2:PER_STRETCH + 2]]  # sharp meets blurry in one scene
    assert border == ["next to a stretch of the other side"] * 4
    assert report["threshold_method"] == "otsu" and report["separation"] > 0.75 and not report["warnings"]
    names = sorted(p.name for p in (out / "blurry").iterdir())
    assert names == sorted(f["name"] for f in b) and names[0] == "clip_f000014.png"
    assert read_image(out / "sharp" / "clip_f000000.png")[0].shape == (3, 192, 256)
    saved = json.loads((out / "report" / "sort.json").read_text())
    assert saved["threshold"] == report["threshold"] and len(saved["frames"]) == len(truth)
    page = (out / "report" / "index.html").read_text()
    assert "threshold" in page.lower() and "B (blurry)" in page and "S (sharp)" in page
    assert any("histogram" in p.name for p in (out / "report" / "images").iterdir())


def test_threshold_override(footage, tmp_path):
    report = sort_footage([footage[0]], tmp_path / "o", SortSettings(limit=24, stretch=PER_STRETCH, threshold=0.05),
                          progress=False)
    assert report["threshold"] == 0.05 and report["threshold_method"] == "given" and report["separation"] is None
    assert report["counts"]["sharp"] == 0 and report["counts"]["blurry"] > 0
    assert report["warnings"] == ["S is empty: no frame was kept as sharp"]
    assert "S is empty" in (tmp_path / "o" / "report" / "index.html").read_text()


def test_one_sided_footage_is_warned_about(footage, tmp_path):
    # The sharp frames alone (a real clip with no blur): Otsu still splits them, and the sort says so.
    video = tmp_path / "sharp_only.mp4"
    from blur2blur.data.video import read_frames

    with VideoWriter(video, 12, 256, 192) as vw:
        for i, frame in read_frames(footage[0]):
            if not footage[1][i] and i != LUCKY:
                vw.write(frame)
    report = sort_footage([video], tmp_path / "o", SortSettings(stretch=6, gap=0), progress=False)
    assert any("do not fall into two clear groups" in w for w in report["warnings"])


def test_rerun_does_not_redo_or_overwrite(footage, tmp_path, monkeypatch):
    import blur2blur.data.footage as fm

    out = tmp_path / "sorted"
    sort_footage([footage[0]], out, SETTINGS, progress=False)
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(fm, "edge_blur", lambda *a, **k: pytest.fail("a rerun scored the frames again"))
    assert sort_footage([footage[0]], out, SETTINGS, progress=False)["done_before"]
    # An interrupted sort (no sort.json, a frame missing) resumes: only the missing frame is written.
    (out / "report" / "sort.json").unlink()
    missing = sorted((out / "sharp").iterdir())[0]
    missing.unlink()
    assert not sort_footage([footage[0]], out, SETTINGS, progress=False)["done_before"]
    assert missing.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in written.items()
               if p != missing and p.parent.name in ("blurry", "sharp"))
    with pytest.raises(FileExistsError, match="gap: 2 there, 3 now"):
        sort_footage([footage[0]], out, SortSettings(stretch=PER_STRETCH, gap=3), progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("user file")
    with pytest.raises(FileExistsError, match="holds no sort"):
        sort_footage([footage[0]], other, SETTINGS, progress=False)
    assert (other / "mine.txt").read_text() == "user file"


def test_a_folder_of_frames_is_one_source(tmp_path):
    photo = read_image(PHOTOS / "erase__gorilla.webp")[0][:, :128, :128]
    for i in range(4):
        frame = photo if i % 2 else blur_with_kernels(photo[None], motion_kernel(15, 0.0, 0.0)[None])[0]
        write_image(frame, tmp_path / "shots" / f"img{i}.png")
    assert [(s.name, len(s.files)) for s in footage_sources([tmp_path / "shots"])] == [("shots", 4)]
    report = sort_footage([tmp_path / "shots"], tmp_path / "o", SortSettings(stretch=1, gap=0), progress=False)
    assert sorted(p.name for p in (tmp_path / "o" / "blurry").iterdir()) == ["shots__img0.png", "shots__img2.png"]
    assert sorted(p.name for p in (tmp_path / "o" / "sharp").iterdir()) == ["shots__img1.png", "shots__img3.png"]
    assert report["frames"][1]["file"].endswith("img1.png")


def test_bad_input_is_named(tmp_path):
    from blur2blur.cli import app

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoReadError, match="broken.mp4"):
        sort_footage([bad], tmp_path / "o1", progress=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no frames here")
    with pytest.raises(FileNotFoundError, match="empty"):
        sort_footage([tmp_path / "empty"], tmp_path / "o2", progress=False)
    res = CliRunner().invoke(app, ["sort", str(bad), "--out", str(tmp_path / "o3"), "--no-progress"])
    assert res.exit_code == 2 and "broken.mp4" in res.output


def test_sort_command(footage, tmp_path):
    from blur2blur.cli import app

    args = ["sort", str(footage[0]), "--out", str(tmp_path / "o"), "--limit", "24", "--stretch", "12",
            "--gap", "2", "--no-progress"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "threshold" in res.output and "next: blur2blur fit --blurry" in res.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "nothing to do" in again.output
