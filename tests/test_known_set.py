"""Synthesising the known-blur set K: sizes, ranges, manifest, regeneration, determinism, resume, safety."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from blur2blur import assets
from blur2blur.data.camera_look import estimate_noise
from blur2blur.data.images import read_image, write_image
from blur2blur.data.pairs import find_pairs
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.known_set import (
    MANIFEST,
    KnownSetConfig,
    apply_kernel_tiled,
    load_manifest,
    make_known_set,
    regenerate,
    tile_kernel_map,
)
from blur2blur.models import create_model


def small_wizard(seed: int = 0):
    torch.manual_seed(seed)
    net = create_model("kernel_wizard", nf=4, front_RBs=1, back_RBs=1, kernel_dim=8,
                       KernelExtractor={"n_blocks": 0})
    torch.nn.init.normal_(net.recon_trunk[-1].weight, std=0.05)  # a visible, untrained "blur"
    return net.eval()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("kb")
    photos = assets.demo_photos()
    kernel = motion_kernel(9, 30.0, 0.0)[None]
    for p in photos[:3]:
        sharp = read_image(p)[0][:, :160, :200]
        write_image(sharp, root / "pairs" / "sharp" / f"{p.stem}.png")
        write_image(blur_with_kernels(sharp[None], kernel)[0], root / "pairs" / "blur" / f"{p.stem}.png")
    for p in photos[3:6]:
        write_image(read_image(p)[0][:, :150, :230], root / "camera" / f"{p.stem}.png")  # not multiples of 128
    return find_pairs(root / "pairs", "folders"), sorted((root / "camera").glob("*.png"))


def test_tile_kernel_map_is_periodic():
    k = torch.arange(6.0).reshape(1, 1, 2, 3)
    t = tile_kernel_map(k, 3, 5)
    assert t.shape == (1, 1, 3, 5)
    assert t[0, 0].tolist() == [[0, 1, 2, 0, 1], [3, 4, 5, 3, 4], [0, 1, 2, 0, 1]]


def test_tiled_application_shape_and_identity():
    net = create_model("kernel_wizard", nf=4, front_RBs=1, back_RBs=1, kernel_dim=8,
                       KernelExtractor={"n_blocks": 0})
    torch.nn.init.zeros_(net.recon_trunk[-1].weight)
    torch.nn.init.zeros_(net.recon_trunk[-1].bias)
    x = torch.rand(1, 3, 300, 390)
    kernel = torch.randn(1, 8, 3, 4)
    with torch.no_grad():
        out = apply_kernel_tiled(net, x, kernel, tile=128)
    torch.testing.assert_close(out, x)  # a zero residual: tiles must reassemble the image exactly
    with pytest.raises(ValueError, match="multiple of 128"):
        apply_kernel_tiled(net, x, kernel, tile=100)


def test_make_known_set_writes_k_with_manifest(data, tmp_path):
    pairs, sharp = data
    net = small_wizard()
    res = make_known_set(net, pairs, sharp, tmp_path / "K", KnownSetConfig(variants=3, camera_noise="off"),
                             progress=False)
    assert res.written == 9 and res.skipped == 0
    header, items = load_manifest(tmp_path / "K")
    assert header["config"]["variants"] == 3 and header["camera_look"] is None and len(items) == 9
    for item in items:
        k, _ = read_image(tmp_path / "K" / item.output)
        s, _ = read_image(item.sharp)
        assert k.shape == s.shape and 0 <= k.min() and k.max() <= 1
        assert item.pair_blurry in {str(p.blurry) for p in pairs}
        assert (k - s).abs().mean() > 1e-3  # it was re-blurred
        again = regenerate(tmp_path / "K", item.output, net)
        torch.testing.assert_close((again * 255).round() / 255, k, rtol=0, atol=1.5 / 255)
    assert len({it.pair_blurry for it in items}) > 1  # pairs are drawn, not fixed


def test_crops_and_determinism(data, tmp_path):
    pairs, sharp = data
    net = small_wizard()
    cfg = KnownSetConfig(crop=128, seed=3, camera_noise="off")
    make_known_set(net, pairs, sharp, tmp_path / "a", cfg, progress=False)
    make_known_set(net, pairs, sharp, tmp_path / "b", cfg, progress=False)
    other = KnownSetConfig(crop=128, seed=4, camera_noise="off")
    make_known_set(net, pairs, sharp, tmp_path / "c", other, progress=False)
    names = sorted(p.name for p in (tmp_path / "a").glob("*.png"))
    assert len(names) == 3
    same = [torch.equal(read_image(tmp_path / "a" / n)[0], read_image(tmp_path / "b" / n)[0]) for n in names]
    differ = [torch.equal(read_image(tmp_path / "a" / n)[0], read_image(tmp_path / "c" / n)[0]) for n in names]
    assert all(same) and not all(differ)
    assert read_image(tmp_path / "a" / names[0])[0].shape == (3, 128, 128)


def test_resume_and_refusals(data, tmp_path):
    pairs, sharp = data
    net = small_wizard()
    cfg = KnownSetConfig(camera_noise="off")
    out = tmp_path / "K"
    make_known_set(net, pairs, sharp, out, cfg, progress=False)
    first = sorted(out.glob("*.png"))
    first[0].unlink()  # as if interrupted before this one was written
    res = make_known_set(net, pairs, sharp, out, cfg, progress=False)
    assert (res.written, res.skipped) == (1, 2)
    # Killed after an image was written but before its manifest line was complete: made again.
    out = tmp_path / "K-cut"
    make_known_set(net, pairs, sharp, out, cfg, progress=False)
    lines = (out / MANIFEST).read_text().splitlines(keepends=True)
    cut = json.loads(lines[-1])["output"]
    (out / MANIFEST).write_text("".join(lines[:-1]) + lines[-1][:25])
    reference = read_image(out / cut)[0]
    (out / cut).write_bytes(b"")  # and the image itself cut short
    res = make_known_set(net, pairs, sharp, out, cfg, progress=False)
    assert res.written == 1 and torch.equal(read_image(out / cut)[0], reference)
    assert len(load_manifest(out)[1]) == 3 and (out / MANIFEST).read_text().endswith("\n")
    out = tmp_path / "K"
    with pytest.raises(ValueError, match="other settings"):
        make_known_set(net, pairs, sharp, out, KnownSetConfig(camera_noise="off", seed=9), progress=False)
    with pytest.raises(ValueError, match="holds input images"):
        make_known_set(net, pairs, sharp, sharp[0].parent, cfg, progress=False)
    foreign = tmp_path / "K2"
    foreign.mkdir()
    Image.new("RGB", (8, 8)).save(foreign / first[1].name)
    with pytest.raises(FileExistsError, match="not in"):
        make_known_set(net, pairs, sharp, foreign, cfg, progress=False)
    assert Image.open(foreign / first[1].name).size == (8, 8)  # untouched


def _noisy_camera(tmp_path, ext: str) -> list:
    g = torch.Generator().manual_seed(0)
    paths = []
    for i, p in enumerate(assets.demo_photos()[6:9]):
        img = read_image(p)[0][:, :150, :230]
        img = (img + 0.03 * torch.randn(img.shape, generator=g)).clamp(0, 1)
        path = tmp_path / "camera" / f"n{i}{ext}"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray((img.permute(1, 2, 0) * 255).round().byte().numpy()).save(path, quality=80)
        paths.append(path)
    return paths


def identity_wizard():
    net = small_wizard()
    torch.nn.init.zeros_(net.recon_trunk[-1].weight)
    torch.nn.init.zeros_(net.recon_trunk[-1].bias)
    return net


def test_camera_jpeg_look_is_recorded_and_applied(data, tmp_path):
    pairs, _ = data
    jpegs = _noisy_camera(tmp_path, ".jpg")
    net = identity_wizard()  # K = S: only the camera look can change it
    res = make_known_set(net, pairs, jpegs, tmp_path / "K", KnownSetConfig(camera_noise="auto"), progress=False)
    assert res.look is not None and res.look.jpeg.quality == 80
    header = json.loads((tmp_path / "K" / MANIFEST).read_text().splitlines()[0])
    assert header["camera_look"]["jpeg"]["quality"] == 80
    plain = make_known_set(net, pairs, jpegs, tmp_path / "K0", KnownSetConfig(camera_noise="off"), progress=False)
    assert plain.look is None
    name = sorted(p.name for p in (tmp_path / "K").glob("*.png"))[0]
    assert not torch.equal(read_image(tmp_path / "K" / name)[0], read_image(tmp_path / "K0" / name)[0])


def test_camera_noise_is_topped_up_not_doubled(data, tmp_path):
    pairs, _ = data
    pngs = _noisy_camera(tmp_path, ".png")
    res = make_known_set(identity_wizard(), pairs, pngs, tmp_path / "K", KnownSetConfig(camera_noise="match"),
                             progress=False)
    s_noise = estimate_noise([read_image(p)[0] for p in pngs]).std_at(0.5)
    k_noise = estimate_noise([read_image(p)[0] for p in sorted((tmp_path / "K").glob("*.png"))]).std_at(0.5)
    assert res.look.noise.std_at(0.5) == pytest.approx(0.03, rel=0.25)
    assert k_noise == pytest.approx(s_noise, rel=0.15)  # K already had the camera's noise: nothing added
