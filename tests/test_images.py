"""Image reading/writing policy: bit depths, grayscale, alpha, palettes, EXIF orientation, bad files."""

from __future__ import annotations

import numpy as np
import png
import pytest
import tifffile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from blur2blur.data.images import ImageReadError, expand_inputs, read_image, write_image


def rgb8(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**16), ext=st.sampled_from([".png", ".bmp",
                                                                                                    ".tif"]))
def test_8bit_round_trip_is_exact(tmp_path_factory, h, w, seed, ext):
    d = tmp_path_factory.mktemp("rt")
    arr = rgb8(h, w, seed)
    Image.fromarray(arr).save(d / f"a{ext}")
    img, info = read_image(d / f"a{ext}")
    assert img.shape == (3, h, w) and img.dtype == torch.float32 and info.bit_depth == 8
    write_image(img, d / f"b{ext}", info)
    assert np.array_equal(np.asarray(Image.open(d / f"b{ext}").convert("RGB")), arr)


def test_16bit_png_is_read_at_full_depth_and_written_back_16bit(tmp_path):
    arr = np.random.default_rng(1).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    png.Writer(6, 4, greyscale=False, bitdepth=16).write(open(tmp_path / "a.png", "wb"), arr.reshape(4, 18).tolist())
    img, info = read_image(tmp_path / "a.png")
    assert info.bit_depth == 16
    torch.testing.assert_close(img, torch.from_numpy(arr.astype(np.float32) / 65535).permute(2, 0, 1))
    write_image(img, tmp_path / "b.png", info)
    _, _, rows, meta = png.Reader(filename=str(tmp_path / "b.png")).asDirect()
    assert meta["bitdepth"] == 16
    assert np.array_equal(np.vstack([np.asarray(r) for r in rows]).reshape(4, 6, 3), arr)


def test_16bit_tiff_round_trip(tmp_path):
    arr = np.random.default_rng(2).integers(0, 65536, (5, 3, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", arr, photometric="rgb")
    img, info = read_image(tmp_path / "a.tif")
    assert info.bit_depth == 16
    write_image(img, tmp_path / "b.tiff", info)
    assert np.array_equal(tifffile.imread(tmp_path / "b.tiff"), arr)


def test_float_tiff_is_clipped_with_a_warning(tmp_path):
    arr = np.full((4, 4, 3), 0.5, np.float32)
    arr[0, 0, 0] = 1.5
    tifffile.imwrite(tmp_path / "f.tif", arr, photometric="rgb")
    with pytest.warns(UserWarning, match="1 float values outside"):
        img, _ = read_image(tmp_path / "f.tif")
    assert img.max() == 1.0


def test_grayscale_is_replicated_and_written_back_gray(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    img, info = read_image(tmp_path / "g.png")
    assert info.grayscale and img.shape == (3, 4, 5)
    assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])
    write_image(img, tmp_path / "out.png", info)
    back = Image.open(tmp_path / "out.png")
    assert back.mode == "L" and np.array_equal(np.asarray(back), gray)


def test_16bit_grayscale_png(tmp_path):
    gray = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    png.Writer(4, 3, greyscale=True, bitdepth=16).write(open(tmp_path / "g.png", "wb"), gray.tolist())
    img, info = read_image(tmp_path / "g.png")
    assert info.grayscale and info.bit_depth == 16
    assert abs(img[0, 2, 3].item() - 55000 / 65535) < 1e-6


def test_rgba_alpha_is_kept(tmp_path):
    arr = np.dstack([rgb8(), np.linspace(0, 255, 35).reshape(5, 7).astype(np.uint8)])
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    img, info = read_image(tmp_path / "a.png")
    assert img.shape == (3, 5, 7) and info.alpha is not None
    write_image(1 - img, tmp_path / "b.png", info)
    out = np.asarray(Image.open(tmp_path / "b.png"))
    assert out.shape == (5, 7, 4)
    assert np.array_equal(out[..., 3], arr[..., 3])
    assert np.array_equal(out[..., :3], 255 - arr[..., :3])


def test_palette_image_is_expanded(tmp_path):
    Image.fromarray(rgb8()).convert("P").save(tmp_path / "p.png")
    img, info = read_image(tmp_path / "p.png")
    assert img.shape == (3, 5, 7) and not info.grayscale


def test_exif_orientation_is_applied(tmp_path):
    arr = rgb8(4, 6)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "o.jpg", exif=exif.tobytes(), quality=100)
    img, _ = read_image(tmp_path / "o.jpg")
    assert img.shape == (3, 6, 4)  # upright: width and height swapped


def test_exif_orientation_on_16bit_png(tmp_path):
    arr = np.random.default_rng(3).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    png.Writer(6, 4, greyscale=False, bitdepth=16).write(open(tmp_path / "a.png", "wb"), arr.reshape(4, 18).tolist())
    plain, _ = read_image(tmp_path / "a.png")
    # add an eXIf chunk by re-saving through Pillow is lossy for 16 bit; so check the helper directly
    from blur2blur.data.images import _apply_orientation

    rotated, _ = _apply_orientation(plain, None, 6)
    assert rotated.shape == (3, 6, 4)
    # orientation 6 = rotate clockwise: the top-left pixel comes from the bottom-left
    assert torch.equal(rotated[:, 0, 0], plain[:, -1, 0])


@pytest.mark.parametrize("content,name", [(b"not an image", "x.png"), (b"\x89PNG\r\n\x1a\n\0\0\0", "cut.png"),
                                          (b"", "empty.jpg"), (b"II*\0garbage", "bad.tif")])
def test_unreadable_files_name_the_file(tmp_path, content, name):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=name.replace(".", r"\.")):
        read_image(tmp_path / name)


def test_truncated_jpeg_is_reported(tmp_path):
    Image.fromarray(rgb8(64, 64)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_write_never_overwrites_by_default(tmp_path):
    Image.fromarray(rgb8()).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(FileExistsError):
        write_image(torch.zeros(3, 5, 7), tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes() == before


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    for n in ["b.png", "a.jpg", "c.txt"]:
        (tmp_path / n).write_bytes(b"x")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "d.png").write_bytes(b"x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.jpg", "b.png"]
    assert [p.name for p in expand_inputs([str(tmp_path / "**" / "*.png")])] == ["b.png", "d.png"]
    assert [p.name for p in expand_inputs([tmp_path / "a.jpg", tmp_path])] == ["a.jpg", "b.png"]  # de-duplicated
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        expand_inputs([tmp_path / "nothing.png"])
    with pytest.raises(FileNotFoundError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.webp")])
    with pytest.raises(FileNotFoundError, match="holds no images"):
        (tmp_path / "empty").mkdir()
        expand_inputs([tmp_path / "empty"])
