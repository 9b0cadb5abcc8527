"""Video in and out (PyAV): frames, stride/limit, errors named by file, `deblur` on a video."""

from __future__ import annotations

from fractions import Fraction

import pytest
from typer.testing import CliRunner

from blur2blur.data.video import VideoReadError, VideoWriter, extract_frames, read_frames, video_info
from helpers import make_video


def test_round_trip_keeps_size_rate_and_frames(tmp_path):
    path = make_video(tmp_path / "v.mp4")
    info = video_info(path)
    assert (info["width"], info["height"], info["fps"]) == (64, 48, Fraction(12))
    frames = list(read_frames(path))
    assert [i for i, _ in frames] == list(range(6))
    assert frames[2][1].shape == (3, 48, 64)
    assert abs(frames[2][1][:, 24, :32].mean().item() - 0.8) < 0.05  # content survived the codec
    assert [i for i, _ in read_frames(path, stride=2, limit=2)] == [0, 2]


def test_odd_sizes_are_kept(tmp_path):
    path = make_video(tmp_path / "odd.mp4", h=33, w=47)
    assert next(read_frames(path))[1].shape == (3, 33, 47)


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoReadError, match="bad.mp4"):
        list(read_frames(bad))
    with pytest.raises(FileExistsError):
        VideoWriter(make_video(tmp_path / "v.mp4"), 10, 8, 8)


def test_extract_frames(tmp_path):
    written = extract_frames(make_video(tmp_path / "v.mp4"), tmp_path / "frames", stride=3)
    assert [p.name for p in written] == ["v_f000000.png", "v_f000003.png"]


def test_deblur_a_video_and_save_translated(tmp_path):
    from blur2blur.cli import app
    from blur2blur.models import create_model, save_checkpoint
    from blur2blur.models.composed import ComposedDeblurrer
    from blur2blur.train.translator import init_identity

    video = make_video(tmp_path / "in.mp4", n=4)
    g = init_identity(create_model("b2b_translator", num_res=1, base_channel=8))
    d = create_model("nafnet", width=8, enc_blk_nums=[1], middle_blk_num=1, dec_blk_nums=[1])
    run = tmp_path / "run"
    save_checkpoint(ComposedDeblurrer.from_parts(g, d), run / "blur2blur.safetensors")
    res = CliRunner().invoke(app, ["deblur", "--run", str(run), str(video), "--out", str(tmp_path / "out"),
                                   "--save-translated"])
    assert res.exit_code == 0, res.output
    for path in (tmp_path / "out" / "in.mp4", tmp_path / "out" / "translated" / "in.mp4"):
        info = video_info(path)
        assert (info["width"], info["height"], info["fps"]) == (64, 48, Fraction(12))
        assert len(list(read_frames(path))) == 4
    assert not list((tmp_path / "out").glob(".*partial*"))
