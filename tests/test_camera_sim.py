"""The camera simulator: trajectories, integration, response, noise, clipping, pair folders, video pairs, CLI."""

from __future__ import annotations

import dataclasses
import json

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import blur2blur.cli.simulate  # noqa: F401  (registers the commands on the shared app)
from blur2blur import assets
from blur2blur.cli.common import app
from blur2blur.config import ConfigError
from blur2blur.data.camera_sim import (
    PRESETS,
    CameraConfig,
    blur_extent,
    camera_response,
    draw_trajectory,
    get_camera,
    integrate_poses,
    inverse_camera_response,
    measure_blur,
    simulate,
    simulate_still,
    video_to_pairs,
    write_camera_pairs,
)
from blur2blur.data.images import read_image, write_image
from blur2blur.data.pairs import find_pairs
from blur2blur.ops import centre_crop

STILL = CameraConfig(name="still", exposure=0.0)  # no motion, no noise, lossless
runner = CliRunner()


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A real bundled photo, centre-cropped to 128 x 128."""
    return centre_crop(read_image(assets.demo_photos()[3])[0], 128)


def texture(h: int = 96, w: int = 96, seed: int = 0) -> torch.Tensor:
    """Fine random texture in [0.1, 0.9]: equally detailed everywhere, so blur shows the same in every region."""
    return 0.1 + 0.8 * torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


# ----------------------------------------------------------------------------- simulate()


def test_same_seed_and_index_are_bit_identical_others_differ(photo):
    img = photo[:, :64, :96]
    a, rec_a = simulate(img, "phone_like", seed=3, index=5)
    b, rec_b = simulate(img.clone(), "phone_like", seed=3, index=5)
    assert torch.equal(a, b) and rec_a == rec_b
    c, rec_c = simulate(img, "phone_like", seed=3, index=6)
    d, _ = simulate(img, "phone_like", seed=4, index=5)
    assert not torch.equal(a, c) and not torch.equal(a, d) and rec_a["poses"] != rec_c["poses"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_keep_shape_and_range_and_records_are_json(photo, name):
    img = photo[:, :70, :90]  # odd-ish sizes on purpose
    out, record = simulate(img, name, seed=0, index=1)
    assert out.shape == img.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    again = json.loads(json.dumps(record))
    assert again["camera"] == name and again["seed"] == 0 and again["index"] == 1 and again["size"] == [70, 90]
    assert len(again["poses"]) == PRESETS[name].subframes
    assert again["jpeg_quality"] == PRESETS[name].jpeg_quality
    assert (again["noise"] is None) == (PRESETS[name].noise is None)
    assert blur_extent(record) > 0


def test_preset_statistics_match_their_story():
    def summaries(name):
        return [draw_trajectory(PRESETS[name], 288, 432, seed=0, index=i).summary for i in range(20)]

    gopro, phone, webcam = summaries("gopro_like"), summaries("phone_like"), summaries("webcam_like")
    # Known camera: straight, rotation-free, noise-free, lossless.
    assert all(s["rotation_deg"] == 0 and s["straightness"] > 0.97 for s in gopro)
    assert PRESETS["gopro_like"].noise is None and PRESETS["gopro_like"].jpeg is None
    # Unknown phone: curved shake with roll, noise and JPEG in 85-90.
    assert np.median([s["straightness"] for s in phone]) < 0.8 and min(s["rotation_deg"] for s in phone) > 0.2
    assert PRESETS["phone_like"].noise is not None and 85 <= PRESETS["phone_like"].jpeg_quality <= 90
    # Webcam: small blur, heavier noise, lower quality.
    assert np.mean([s["extent_px"] for s in webcam]) < np.mean([s["extent_px"] for s in gopro])
    assert PRESETS["webcam_like"].noise.std_at(0.2) > PRESETS["phone_like"].noise.std_at(0.2)
    assert PRESETS["webcam_like"].jpeg_quality < PRESETS["phone_like"].jpeg_quality
    # Blur extents of the paper's datasets at ~300 px: a few to ~25 px.
    every = [s["extent_px"] for s in gopro + phone + webcam]
    assert 2 < min(every) and max(every) < 30


@pytest.mark.parametrize("camera", [
    STILL,
    CameraConfig(translation=(0.0, 0.0)),  # a full exposure of a camera that does not move
    CameraConfig(exposure=0.0, response="srgb", contrast=1.4),
    CameraConfig(exposure=0.0, response="linear", contrast=0.8),
])
def test_no_motion_gives_back_the_image(photo, camera):
    out, record = simulate(photo, camera, seed=1)
    torch.testing.assert_close(out, photo, rtol=0, atol=2e-5)
    assert record["extent_px"] == 0


@pytest.mark.parametrize("camera", [CameraConfig(response="srgb", contrast=1.3), CameraConfig(gamma=2.4)])
def test_response_and_its_inverse_round_trip(camera):
    y = torch.linspace(0, 1, 1001)
    torch.testing.assert_close(camera_response(inverse_camera_response(y, camera), camera), y, rtol=0, atol=1e-5)
    assert bool((camera_response(y, camera).diff() >= 0).all())  # monotone


def test_integration_is_the_mean_of_the_shifted_images():
    img = texture(40, 50)
    poses = np.array([[-2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]])
    out = integrate_poses(img, poses, (24.5, 19.5), max_batch=2)  # two chunks
    # Pose (dx, dy) samples the sharp image at p + (dx, dy).
    expected = (img.roll(2, -1) + img + img.roll((-3, -1), (-2, -1))) / 3
    torch.testing.assert_close(out[:, 4:-4, 4:-4], expected[:, 4:-4, 4:-4], rtol=0, atol=1e-5)
    assert float(out.min()) > 0.05  # reflected borders, not black ones


def test_blur_grows_with_exposure_on_a_real_photo(photo):
    results = []
    for name in ("gopro_like", "phone_like"):
        base = dataclasses.replace(PRESETS[name], noise_a=0.0, noise_b=0.0, jpeg_quality=None)  # blur only
        rows = []
        for exposure in (0.25, 0.5, 1.0):
            out, record = simulate(photo, dataclasses.replace(base, exposure=exposure), seed=0, index=2)
            rows.append((blur_extent(record), measure_blur(photo, out)))
        results.append(rows)
        extents, psnrs = [r[0] for r in rows], [r[1]["psnr_db"] for r in rows]
        assert extents[0] < extents[1] < extents[2], (name, extents)
        assert psnrs[0] > psnrs[1] > psnrs[2], (name, psnrs)
        assert rows[2][1]["blur_effect"] > rows[0][1]["blur_effect"] > rows[0][1]["blur_effect_sharp"]
    assert results


def test_rotation_blurs_the_corners_more_than_the_centre():
    img = texture(96, 96)
    cam = CameraConfig(translation=(0.0, 0.0), rotation=(4.0, 4.0), rotation_centre="centre", subframes=32)
    out, record = simulate(img, cam, seed=0)
    change = (out - img).abs().mean(0)
    centre, k = 48, 10
    at_centre = float(change[centre - k:centre + k, centre - k:centre + k].mean())
    at_corners = float(torch.stack([change[:2 * k, :2 * k].mean(), change[:2 * k, -2 * k:].mean(),
                                    change[-2 * k:, :2 * k].mean(), change[-2 * k:, -2 * k:].mean()]).mean())
    assert at_corners > 3 * at_centre, (at_corners, at_centre)
    assert record["extent_at_centre_px"] < 0.5 < 2 < record["extent_px"] and record["rotation_deg"] > 3.9


@pytest.mark.parametrize("level", [0.1, 0.3, 0.6])
def test_noise_follows_the_poisson_gaussian_model_in_linear_light(level):
    a, b = 2e-3, 1e-4
    cam = CameraConfig(exposure=0.0, response="linear", noise_a=a, noise_b=b)
    flat = torch.full((3, 128, 128), level)
    out, record = simulate(flat, cam, seed=0)
    assert record["noise"] == {"a": a, "b": b}
    assert abs(float(out.mean()) - level) < 2e-3
    assert float(out.var()) == pytest.approx(a * level + b, rel=0.1)


def test_noise_is_added_before_the_response_curve():
    a, b, level = 1e-3, 0.0, 0.5
    cam = CameraConfig(exposure=0.0, response="gamma", gamma=2.2, noise_a=a, noise_b=b)
    out, _ = simulate(torch.full((3, 128, 128), level), cam, seed=0)
    lin = level**2.2  # the signal the sensor saw
    slope = (1 / 2.2) * lin ** (1 / 2.2 - 1)  # d(response)/dx there: first-order noise propagation
    assert float(out.var()) == pytest.approx(slope**2 * (a * lin + b), rel=0.15)


def test_gain_saturates_bright_areas():
    ramp = torch.linspace(0, 1, 128).expand(3, 16, 128).contiguous()
    out, _ = simulate(ramp, CameraConfig(exposure=0.0, gain=2.0), seed=0)
    lin = ramp**2.2 * 2
    assert bool((out[lin >= 1] == 1).all()) and bool((out[lin < 0.98] < 1).all())
    torch.testing.assert_close(out[lin < 1], (lin[lin < 1]) ** (1 / 2.2), rtol=0, atol=2e-5)
    assert float((out == 1).float().mean()) > 0.2


def test_still_shots_have_the_camera_look_but_no_blur(photo):
    torch.testing.assert_close(simulate_still(photo, "gopro_like", seed=0), photo, rtol=0, atol=2e-5)
    still = simulate_still(photo, "phone_like", seed=0, index=4)
    assert torch.equal(still, simulate_still(photo, "phone_like", seed=0, index=4))
    assert torch.equal(still * 255, (still * 255).round())  # JPEG-decoded, 8-bit
    no_look = dataclasses.replace(PRESETS["phone_like"], noise_a=0.0, noise_b=0.0, jpeg_quality=None)
    torch.testing.assert_close(simulate_still(photo, no_look, seed=0), photo, rtol=0, atol=2e-5)  # no blur
    # The still's noise is not the blurry image's noise: the residuals of the two are uncorrelated.
    flat = torch.full((3, 64, 64), 0.5)
    cam = dataclasses.replace(CameraConfig(exposure=0.0, response="linear"), noise_a=1e-3, noise_b=1e-4)
    r1, r2 = simulate(flat, cam, seed=0)[0] - 0.5, simulate_still(flat, cam, seed=0) - 0.5
    assert abs(float((r1 * r2).mean() / (r1.std() * r2.std()))) < 0.05


def test_clean_still_is_the_camera_tone_without_noise_or_jpeg(photo):
    # webcam_like brightens (gain 1.25, clipped at the full well) and adds noise and JPEG.
    cam = PRESETS["webcam_like"]
    clean = simulate_still(photo, cam, seed=0, index=3, clean=True)
    assert torch.equal(clean, simulate_still(photo, cam, seed=5, index=9, clean=True))  # no random draw left
    linear = inverse_camera_response(photo, cam) * cam.gain
    torch.testing.assert_close(clean, camera_response(linear.clamp(0, 1), cam), rtol=0, atol=1e-6)
    assert float(clean.mean()) > float(photo.mean()) + 0.02   # the gain is in the target
    assert not torch.equal(clean * 255, (clean * 255).round())  # not JPEG-decoded
    noisy = simulate_still(photo, cam, seed=0, index=3)
    assert 0.002 < float((noisy - clean).abs().mean()) < 0.05  # the noisy still scatters about the clean one


def test_config_is_validated_and_overridable():
    with pytest.raises(ValueError, match="exposure"):
        CameraConfig(exposure=1.5)
    with pytest.raises(ValueError, match="translation"):
        CameraConfig(translation=(5.0, 2.0))
    cam = get_camera("phone_like", ["exposure=0.3", "jpeg_quality=null", "rotation=[0, 1]"])
    assert cam.exposure == 0.3 and cam.jpeg is None and cam.rotation == (0, 1) and cam.name == "phone_like"
    assert CameraConfig.from_dict(cam.to_dict()) == cam
    with pytest.raises(ConfigError, match="exposure"):
        get_camera("phone_like", ["exposure=2"])
    with pytest.raises(ValueError, match="unknown camera"):
        get_camera("gopro")


# ----------------------------------------------------------------------------- pair folders


@pytest.fixture
def small_photos(tmp_path):
    paths = []
    for p in assets.demo_photos()[:3]:
        path = tmp_path / "in" / f"{p.stem}.png"
        write_image(read_image(p)[0][:, :48, :64], path)
        paths.append(path)
    return paths


def test_write_camera_pairs_layout_manifest_and_refusal(tmp_path, small_photos):
    out = write_camera_pairs([tmp_path / "in"], tmp_path / "pairs", "phone_like", seed=7, show_progress=False)
    pairs = find_pairs(out, "auto")
    assert [p.blurry.name for p in pairs] == [p.name for p in small_photos]
    assert all(p.blurry.parent.name == "blur" and p.sharp.parent.name == "sharp" for p in pairs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["camera"] == PRESETS["phone_like"].to_dict()
    assert [r["index"] for r in manifest["images"]] == [0, 1, 2]
    # The PNG is exactly the JPEG-decoded simulation (stored losslessly), and it is reproducible from the record.
    sharp = read_image(small_photos[1])[0]
    expected, record = simulate(sharp, "phone_like", seed=7, index=1)
    assert manifest["images"][1] == {"stem": small_photos[1].stem, "photo": str(small_photos[1]), **record}
    torch.testing.assert_close(read_image(pairs[1].blurry)[0], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(read_image(pairs[1].sharp)[0], sharp, rtol=0, atol=0)

    with pytest.raises(FileExistsError, match="pairs"):
        write_camera_pairs(small_photos, out, "phone_like", show_progress=False)
    # A rerun with the same settings finds the folder done, the photos' paths spelt another way included.
    stamp = (out / "manifest.json").stat().st_mtime_ns
    respelt = [tmp_path / "in" / ".." / "in" / p.name for p in small_photos]
    assert write_camera_pairs(respelt, out, "phone_like", seed=7, show_progress=False) == out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    cam_sharp = write_camera_pairs(small_photos, tmp_path / "s", "phone_like", seed=7, sharp="camera",
                                   show_progress=False)
    torch.testing.assert_close(read_image(cam_sharp / "sharp" / small_photos[1].name)[0],
                               simulate_still(sharp, "phone_like", seed=7, index=1), rtol=0, atol=1e-6)
    assert json.loads((cam_sharp / "manifest.json").read_text())["sharp"] == "camera"
    clean = write_camera_pairs(small_photos, tmp_path / "c", "phone_like", seed=7, sharp="clean", show_progress=False)
    torch.testing.assert_close(read_image(clean / "sharp" / small_photos[1].name)[0],
                               simulate_still(sharp, "phone_like", seed=7, index=1, clean=True), rtol=0, atol=2.5e-3)
    torch.testing.assert_close(read_image(clean / "blur" / small_photos[1].name)[0], expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="sharp must be"):
        write_camera_pairs(small_photos, tmp_path / "d", "phone_like", sharp="noisy", show_progress=False)
    with pytest.warns(UserWarning, match="not from this run"):  # the other two photos' pairs stay
        write_camera_pairs(small_photos[:1], out, "gopro_like", overwrite=True, show_progress=False)
    assert json.loads((out / "manifest.json").read_text())["camera"]["name"] == "gopro_like"


def test_write_camera_pairs_never_writes_over_inputs(tmp_path, small_photos):
    inside = tmp_path / "pairs" / "sharp" / small_photos[0].name
    write_image(read_image(small_photos[0])[0], inside)
    with pytest.raises(ValueError, match="input"):
        write_camera_pairs([inside], tmp_path / "pairs", "gopro_like", overwrite=True, show_progress=False)
    other = tmp_path / "b" / small_photos[0].with_suffix(".jpg").name
    write_image(read_image(small_photos[0])[0], other)
    with pytest.raises(ValueError, match="both"):
        write_camera_pairs([small_photos[0], other], tmp_path / "x", "gopro_like", show_progress=False)


# ----------------------------------------------------------------------------- video pairs


def write_test_video(path, n=16, size=64):
    """A bright bar sliding across a gradient, losslessly encoded (FFV1 RGB); returns the frames as uint8."""
    frames = []
    xs = np.arange(size)
    for i in range(n):
        f = np.empty((size, size, 3), np.uint8)
        f[..., 0] = (xs[None, :] * 3 + i * 7) % 256
        f[..., 1] = (xs[:, None] * 2) % 256
        f[..., 2] = 40
        f[:, (4 * i) % size:(4 * i) % size + 6] = 250
        frames.append(f)
    with av.open(str(path), "w") as box:
        stream = box.add_stream("ffv1", rate=240)
        stream.width, stream.height, stream.pix_fmt = size, size, "bgr0"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return [torch.from_numpy(f).permute(2, 0, 1).double() / 255 for f in frames]


def test_video_to_pairs_averages_in_linear_light(tmp_path):
    video = tmp_path / "clip.mkv"
    frames = write_test_video(video)
    out = video_to_pairs(video, tmp_path / "v", window=5, stride=2, show_progress=False)
    pairs = find_pairs(out, "folders")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(pairs) == (16 - 5) // 2 + 1 == len(manifest["pairs"])
    for pair, entry in zip(pairs, manifest["pairs"]):
        first = entry["frames"][0]
        assert entry["frames"] == list(range(first, first + 5)) and entry["sharp_frame"] == first + 2
        assert pair.sharp.stem == f"clip_{first + 2:06d}"
        torch.testing.assert_close(read_image(pair.sharp)[0].double(), frames[first + 2], rtol=0, atol=1e-6)
        linear_mean = torch.stack(frames[first:first + 5]).pow(2.2).mean(0).pow(1 / 2.2)
        blurry = read_image(pair.blurry)[0].double()
        torch.testing.assert_close(blurry, linear_mean, rtol=0, atol=0.5 / 255 + 1e-9)  # 8-bit rounding only
        plain_mean = torch.stack(frames[first:first + 5]).mean(0)
        assert float((blurry - plain_mean).abs().max()) > 10 / 255  # it is not the mean of stored values

    limited = video_to_pairs(video, tmp_path / "w", window=7, limit=1, show_progress=False)
    assert len(find_pairs(limited, "folders")) == 1
    assert len(find_pairs(video_to_pairs(video, tmp_path / "d", window=7, show_progress=False), "folders")) == 2
    with pytest.raises(FileExistsError):
        video_to_pairs(video, tmp_path / "v", window=5, show_progress=False)
    with pytest.raises(ValueError, match="fewer"):
        video_to_pairs(video, tmp_path / "z", window=17, show_progress=False)
    with pytest.raises(ValueError, match="odd"):
        video_to_pairs(video, tmp_path / "z", window=4, show_progress=False)


# ----------------------------------------------------------------------------- CLI


def test_cli_simulate_writes_pairs_and_refuses_to_overwrite(tmp_path, small_photos):
    out = tmp_path / "cam"
    res = cli("simulate", tmp_path / "in" / "*.png", "--out", out, "--camera", "webcam_like", "--seed", 3,
              "--set", "exposure=0.5", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "wrote 3 pair(s)" in res.output
    assert sorted(p.name for p in (out / "blur").iterdir()) == sorted(p.name for p in small_photos)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["camera"]["exposure"] == 0.5 and manifest["camera"]["name"] == "webcam_like"

    res = cli("simulate", *small_photos, "--out", out, "--no-progress")
    assert res.exit_code == 2 and "refusing" in res.output
    assert cli("simulate", *small_photos, "--out", out, "--overwrite", "--no-progress").exit_code == 0
    res = cli("simulate", *small_photos, "--out", tmp_path / "o", "--set", "exposur=1")
    assert res.exit_code == 2 and "exposure" in res.output  # did-you-mean
    assert cli("simulate", *small_photos, "--out", tmp_path / "o", "--camera", "nope").exit_code == 2
    res = cli("simulate", "--camera", "gopro_like", "--show-config")
    assert res.exit_code == 0 and "subframes: 11" in res.output


def test_cli_simulate_video(tmp_path):
    video = tmp_path / "clip.mkv"
    write_test_video(video, n=10, size=32)
    res = cli("simulate-video", video, "--out", tmp_path / "v", "--window", 3, "--no-progress")
    assert res.exit_code == 0, res.output
    assert len(find_pairs(tmp_path / "v", "folders")) == 3
    before = (tmp_path / "v" / "manifest.json").stat().st_mtime_ns
    res = cli("simulate-video", video, "--out", tmp_path / "v", "--window", 3, "--no-progress")
    assert res.exit_code == 0, res.output  # the same command again: done already
    assert (tmp_path / "v" / "manifest.json").stat().st_mtime_ns == before
    res = cli("simulate-video", video, "--out", tmp_path / "v", "--window", 5, "--no-progress")
    assert res.exit_code == 2 and "refusing" in res.output
