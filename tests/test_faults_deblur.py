"""Faults a user can cause around `deblur` and image/video files: each ends in a clear message and a safe outcome."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from blur2blur.cli import app
from blur2blur.data import images as images_mod
from blur2blur.data.images import ImageReadError, expand_inputs, partial_path, read_image, write_image
from blur2blur.data.video import VideoWriter
from blur2blur.deblur_files import deblur_files, plan_outputs
from blur2blur.devices import pick_device
from blur2blur.inference import auto_tile, bytes_per_pixel
from blur2blur.models import create_model, save_checkpoint
from blur2blur.models.registry import _REGISTRY, IMAGE, ModelSpec

runner = CliRunner()


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)).save(d / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d / "b.png")
    return d


class Scaled(nn.Module):
    """Per-pixel model ``x * gain``; fails like an allocator above `max_pixels` pixels; records input sizes."""

    def __init__(self, gain: float = 1.0, max_pixels: int | None = None):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(float(gain)))
        self.max_pixels = max_pixels
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        if self.max_pixels is not None and x.shape[-2] * x.shape[-1] > self.max_pixels:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 40000000000 bytes. Error code 12 (Cannot allocate memory)")
        return x * self.gain


@pytest.fixture
def scaled():
    _REGISTRY["_test_scaled"] = ModelSpec("_test_scaled", Scaled, IMAGE, 1, "reflect", None, "test")
    try:
        yield lambda **kw: create_model("_test_scaled", **kw).eval()
    finally:
        del _REGISTRY["_test_scaled"]


# --------------------------------------------------------------------------- 1. atomic outputs


def test_an_interrupted_image_write_leaves_neither_a_result_nor_a_temporary(tmp_path, monkeypatch):
    def dies_half_way(arr, path, depth, suffix):
        path.write_bytes(b"\x89PNG\r\n\x1a\n half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(images_mod, "_encode", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_image(torch.rand(3, 8, 8), tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


def test_a_leftover_temporary_is_not_taken_for_a_finished_output(tiny_model, photos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    partial_path(out / "a.png").write_bytes(b"")   # what kill -9 during the write of a.png leaves
    result = runner.invoke(app, ["deblur", str(photos), "--out", str(out), "--model", str(tiny_model)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 image(s)" in result.output and "already there" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert read_image(out / "a.png")[0].shape == (3, 37, 45)


def test_unfinished_outputs_in_an_input_folder_are_skipped_with_a_warning(photos):
    partial_path(photos / "c.png").write_bytes(b"")
    with pytest.warns(UserWarning, match=r"\.c\.partial\.png: skipped: an unfinished output"):
        assert [p.name for p in expand_inputs([photos])] == ["a.png", "b.png"]


def test_a_failed_video_leaves_no_partial_file(tmp_path):
    with pytest.raises(RuntimeError, match="stop"):
        with VideoWriter(tmp_path / "v.mp4", 10, 16, 16) as vw:
            vw.write(torch.rand(3, 16, 16))
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "v.mp4", 10, 16, 16) as vw:
        vw.write(torch.rand(3, 16, 16))
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"] and (tmp_path / "v.mp4").stat().st_size > 0


# --------------------------------------------------------------------------- 2. non-finite values


def test_nan_pixels_in_a_float_tiff_are_refused_by_name(tmp_path):
    arr = np.full((4, 4, 3), 0.5, np.float32)
    arr[1, 2, 0], arr[3, 3, 1] = np.nan, np.inf
    tifffile.imwrite(tmp_path / "f.tif", arr, photometric="rgb")
    with pytest.raises(ImageReadError, match=r"f\.tif: 2 sample values are NaN or infinite"):
        read_image(tmp_path / "f.tif")


def test_write_image_refuses_nan_instead_of_writing_black(tmp_path):
    x = torch.rand(3, 4, 4)
    x[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"a\.png: not written: 1 of 48 values are NaN"):
        write_image(x, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_outputs_nan_is_reported_per_file_and_nothing_is_written(scaled, photos, tmp_path):
    model = scaled(gain=float("nan"))
    result = deblur_files(model, [photos], tmp_path / "out", show_progress=False)
    assert result.written == []
    assert [p.name for p, _ in result.failed] == ["a.png", "b.png"]
    assert "a.png: the model produced 4995 NaN or infinite values" in result.failed[0][1]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------- 3. skipped inputs are named


def test_animated_webp_is_refused_with_its_frame_count(tmp_path):
    frames = [Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ImageReadError, match=r"anim\.webp: an animated or multi-frame image \(WEBP, 3 frames\)"):
        read_image(tmp_path / "anim.webp")


def test_multi_page_tiff_is_refused(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:  # 3 grey pages, which must not pass as one RGB image
        for _ in range(3):
            tif.write(np.zeros((8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(ImageReadError, match=r"pages\.tif: a multi-page TIFF with 3 pages"):
        read_image(tmp_path / "pages.tif")


def test_symlink_loops_and_broken_links_in_a_folder_are_named(photos):
    os.symlink(photos / "loop.png", photos / "loop.png")
    os.symlink(photos / "gone.png", photos / "dangling.png")
    with pytest.warns(UserWarning) as caught:
        found = expand_inputs([photos])
    assert [p.name for p in found] == ["a.png", "b.png"]
    text = "\n".join(str(w.message) for w in caught)
    assert "loop.png: skipped: a symlink loop" in text
    assert "dangling.png: skipped: a broken symlink" in text


# --------------------------------------------------------------------------- 7. memory


def test_auto_tile_follows_the_memory_available():
    per_pixel = 1000.0
    assert auto_tile(100, 100, per_pixel, free_bytes=10**9) is None          # 10 MB needed, 500 MB budget
    side = auto_tile(10_000, 10_000, per_pixel, free_bytes=8 * 10**9)       # 100 MP: 100 GB needed
    assert side is not None and side % 32 == 0
    assert per_pixel * side * side <= 8 * 10**9 / 2                         # a tile fits in the budget
    assert auto_tile(10_000, 10_000, per_pixel, free_bytes=10**6) == 128    # never below the floor


def test_bytes_per_pixel_grows_with_the_network_width():
    narrow = create_model("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1).eval()
    wide = create_model("nafnet", width=32, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1).eval()
    assert 3.5 < bytes_per_pixel(wide) / bytes_per_pixel(narrow) < 4.5


def test_large_images_are_tiled_from_the_memory_available(scaled, tmp_path, monkeypatch):
    import blur2blur.deblur_files as deblur_files_mod

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    model = scaled()
    per_pixel = bytes_per_pixel(model)
    monkeypatch.setattr(deblur_files_mod, "available_memory", lambda device: int(per_pixel * 2 * 160 * 160))
    result = deblur_files(model, [tmp_path / "big.png"], tmp_path / "out", show_progress=False)
    assert [p.name for p in result.written] == ["big.png"]
    assert max(max(s) for s in model.seen) <= 160 and len(model.seen) > 1
    assert torch.equal(read_image(tmp_path / "out" / "big.png")[0], read_image(tmp_path / "big.png")[0])


def test_out_of_memory_shrinks_chosen_tiles_and_a_forced_tile_reports_the_image(scaled, photos, tmp_path):
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(photos / "big.png")
    model = scaled(max_pixels=200 * 200)   # the estimate says it fits; the allocator disagrees
    result = deblur_files(model, [photos], tmp_path / "auto", show_progress=False)
    assert sorted(p.name for p in result.written) == ["a.png", "b.png", "big.png"] and not result.failed
    result = deblur_files(model, [photos], tmp_path / "forced", tile=256, show_progress=False)
    assert sorted(p.name for p in result.written) == ["a.png", "b.png"]
    assert [p.name for p, _ in result.failed] == ["big.png"]
    assert "big.png: does not fit in memory even in tiles" in result.failed[0][1]


# --------------------------------------------------------------------------- 8. bad options


def test_out_naming_an_existing_file_is_refused(tiny_model, photos):
    before = (photos / "a.png").read_bytes()
    result = runner.invoke(app, ["deblur", str(photos / "b.png"), "--out", str(photos / "a.png"),
                                 "--model", str(tiny_model)])
    assert result.exit_code == 2, result.output
    assert "a.png is a file, not a folder" in result.output
    assert (photos / "a.png").read_bytes() == before


@pytest.mark.parametrize("device, message", [("bogus", "unknown device 'bogus'"),
                                             ("cuda:99", "cuda:99"), ("mps", "mps")])
def test_bad_devices_are_refused_with_a_message(tiny_model, photos, tmp_path, device, message):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    result = runner.invoke(app, ["deblur", str(photos), "--out", str(tmp_path / "o"), "--model", str(tiny_model),
                                 "--device", device])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_build_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


# --------------------------------------------------------------------------- 9. outputs stay in --out


@pytest.mark.parametrize("suffix", ["/../../escape", "_x/../../y", "\\..\\x" if os.sep == "\\" else "a/b"])
def test_suffix_cannot_leave_the_output_folder(tiny_model, photos, tmp_path, suffix):
    out = tmp_path / "deep" / "out"
    result = runner.invoke(app, ["deblur", str(photos), "--out", str(out), "--model", str(tiny_model),
                                 "--suffix", suffix])
    assert result.exit_code == 2, result.output
    assert "path separator" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "tiny.safetensors"]


def test_a_clash_folder_named_dotdot_cannot_leave_the_output_folder(tmp_path):
    with pytest.raises(ValueError, match="would leave the output folder"):
        plan_outputs([tmp_path / "a" / ".." / "x.png", tmp_path / "b" / "x.png"], tmp_path / "out")


# --------------------------------------------------------------------------- 11. reruns of finished commands


def test_rerunning_convert_is_success_and_a_different_target_is_refused(tmp_path):
    from conftest import FIXTURE_DIR

    src = FIXTURE_DIR / "restormer_small.ckpt.pth"
    target = tmp_path / "r.safetensors"
    assert runner.invoke(app, ["convert", str(src), str(target)]).exit_code == 0
    stamp = target.stat().st_mtime_ns
    result = runner.invoke(app, ["convert", str(src), str(target)])
    assert result.exit_code == 0 and "already holds restormer_small.ckpt.pth converted" in result.output
    assert target.stat().st_mtime_ns == stamp
    save_checkpoint(create_model("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1),
                    tmp_path / "other.safetensors")
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "other.safetensors")])
    assert result.exit_code == 2 and "refusing to overwrite" in result.output


def test_rerunning_simulate_is_success_and_other_settings_are_refused(photos, tmp_path):
    args = ["simulate", str(photos), "--out", str(tmp_path / "sim"), "--camera", "gopro_like"]
    assert runner.invoke(app, args).exit_code == 0
    stamp = (tmp_path / "sim" / "blur" / "a.png").stat().st_mtime_ns
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sim" / "blur" / "a.png").stat().st_mtime_ns == stamp
    result = runner.invoke(app, [*args, "--seed", "4"])
    assert result.exit_code == 2 and "refusing to write over them" in result.output
