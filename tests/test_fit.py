"""`blur2blur fit` + `blur2blur deblur --run` end to end on a few small images (CPU, seconds)."""

from __future__ import annotations

import json

from helpers import FIT_TINY, write_blur_pairs
from typer.testing import CliRunner

from blur2blur import assets
from blur2blur.data.images import read_image, write_image
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.models import load_checkpoint

TINY = FIT_TINY  # fit's tiny preset, cut to a few steps (helpers)


def test_fit_then_deblur_run(tmp_path):
    from blur2blur.cli import app

    photos = assets.demo_photos()
    write_blur_pairs(tmp_path / "P", photos[:4], size=160)
    for i, p in enumerate(photos[4:7]):
        img = read_image(p)[0][:, :128, :160]
        write_image(blur_with_kernels(img[None], motion_kernel(11, 60.0, 0.5)[None])[0], tmp_path / "B" / f"{i}.png")
    for i, p in enumerate(photos[7:10]):
        write_image(read_image(p)[0][:, :128, :160], tmp_path / "S" / f"{i}.png")
    runner = CliRunner()
    res = runner.invoke(app, ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "S"),
                              "--known-pairs", str(tmp_path / "P"), "--out", str(tmp_path / "run"), *TINY])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    for name in ("extractor.safetensors", "deblurrer.safetensors", "translator.safetensors", "blur_scores.json",
                 "blur2blur.safetensors", "config.yaml"):
        assert (run / name).exists(), name
    assert len(list((run / "K").glob("*.png"))) == 3
    composed = load_checkpoint(run / "blur2blur.safetensors")
    assert composed.arch_name == "blur2blur" and composed.translator.arch_name == "b2b_translator"

    page = (run / "report" / "index.html").read_text(encoding="utf-8")
    for section in ('class="verdict', 'id="results"', "Signals", 'id="comparisons"', "y (the camera&#x27;s image)",
                    "D&#x27;(G(y)) (Blur2Blur)", "K (S with the known blur)", 'id="curves"',
                    "translator G: loss_d", "deblurrer D&#x27;: loss", "kernel extractor F: loss_pix",
                    '<details class="settings"'):
        assert section in page, section
    assert len(list((run / "report" / "images").glob("*.png"))) >= 4 * 3 + 4

    trained = {p: p.stat().st_mtime_ns for p in run.glob("*.safetensors")}
    (run / "report" / "images" / "stale.png").write_bytes(b"")
    res = runner.invoke(app, ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "S"),
                              "--known-pairs", str(tmp_path / "P"), "--out", str(run), *TINY])
    assert res.exit_code == 0 and "nothing to do" in res.output  # everything was done already
    # ... but the report is made again, whole (the stale image is gone), and nothing is retrained.
    assert {p: p.stat().st_mtime_ns for p in run.glob("*.safetensors")} == trained
    assert not (run / "report" / "images" / "stale.png").exists()
    assert (run / "report" / "index.html").read_text(encoding="utf-8").count('class="verdict') == 1
    assert not [p for p in run.iterdir() if p.name.startswith(".report")]  # no temporary folder left

    res = runner.invoke(app, ["deblur", "--run", str(run), str(tmp_path / "B"), "--out", str(tmp_path / "D")])
    assert res.exit_code == 0, res.output
    out = sorted((tmp_path / "D").glob("*.png"))
    assert len(out) == 3 and read_image(out[0])[0].shape == (3, 128, 160)

    res = runner.invoke(app, ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "B"),
                              "--out", str(tmp_path / "run2"), *TINY])
    assert res.exit_code == 2 and "must be different images" in res.output


def test_fit_takes_videos_for_b_and_s(tmp_path):
    from helpers import make_video

    from blur2blur.cli import app

    photos = assets.demo_photos()
    write_blur_pairs(tmp_path / "P", photos[:4], size=160)
    make_video(tmp_path / "blurry.mp4", n=5, h=128, w=160)
    make_video(tmp_path / "sharp.mp4", n=5, h=128, w=160)
    res = CliRunner().invoke(app, ["fit", "--blurry", str(tmp_path / "blurry.mp4"), "--sharp",
                                   str(tmp_path / "sharp.mp4"), "--frame-stride", "2", "--known-pairs",
                                   str(tmp_path / "P"), "--out", str(tmp_path / "run"), *TINY])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "run" / "frames" / "B").glob("*.png"))) == 3  # frames 0, 2, 4
    assert len(list((tmp_path / "run" / "K").glob("*.png"))) == 3


def test_fit_sorts_raw_footage_into_b_and_s(tmp_path):
    """`fit --footage`: one simulated clip is sorted into OUT/footage/ (blurred frames to B, sharp to S), and
    G trains on those; --footage with --blurry, or neither, is refused before anything is written."""
    from helpers import make_footage

    from blur2blur.cli import app

    truth = make_footage(tmp_path / "clip.mp4")
    write_blur_pairs(tmp_path / "P", assets.demo_photos()[:4], size=160)
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["fit", "--footage", str(tmp_path / "clip.mp4"), "--known-pairs",
                                   str(tmp_path / "P"), "--out", str(run), *TINY])
    assert res.exit_code == 0, res.output
    assert "footage: 48 frames" in res.output and (run / "footage" / "report" / "index.html").is_file()
    frames = {f["index"]: f["side"] for f in json.loads((run / "footage" / "report" / "sort.json").read_text(
        encoding="utf-8"))["frames"]}
    b = [i for i, side in frames.items() if side == "blurry"]
    s = [i for i, side in frames.items() if side == "sharp"]
    assert b and s and all(truth[i] for i in b) and not any(truth[i] for i in s)
    assert len(list((run / "K").glob("*.png"))) == len(list((run / "footage" / "sharp").glob("*")))
    assert (run / "blur2blur.safetensors").is_file()

    for extra in (["--footage", str(tmp_path / "clip.mp4"), "--blurry", str(run / "footage" / "blurry")], []):
        res = CliRunner().invoke(app, ["fit", *extra, "--known-pairs", str(tmp_path / "P"), "--out",
                                       str(tmp_path / "run2"), *TINY])
        assert res.exit_code == 2 and ("not both" in res.output or "--footage" in res.output), res.output
    assert not (tmp_path / "run2").exists()


def test_fit_with_a_given_known_set_needs_no_extractor(tmp_path):
    """`--known-set` replaces stages 1-2: no extractor is trained, no K/ is written, G trains on the given K;
    with a deblurrer given too, no known pairs are needed at all."""
    from blur2blur.cli import app

    photos = assets.demo_photos()
    for i, p in enumerate(photos[4:7]):
        img = read_image(p)[0][:, :128, :160]
        write_image(blur_with_kernels(img[None], motion_kernel(11, 60.0, 0.5)[None])[0], tmp_path / "B" / f"{i}.png")
        write_image(blur_with_kernels(img[None], motion_kernel(9, 0.0, 0.0)[None])[0], tmp_path / "K" / f"{i}.png")
    for i, p in enumerate(photos[7:10]):
        write_image(read_image(p)[0][:, :128, :160], tmp_path / "S" / f"{i}.png")
    run = tmp_path / "run"
    args = ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "S"), "--known-set",
            str(tmp_path / "K"), "--deblurrer", str(assets.sample_deblurrer_path()), "--out", str(run), *TINY]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert not (run / "extractor.safetensors").exists() and not (run / "K").exists()
    composed = load_checkpoint(run / "blur2blur.safetensors")
    assert composed.checkpoint_info["known_set"] == 3 and composed.checkpoint_info["extractor"] is None
    res = CliRunner().invoke(app, [*args[:-len(TINY)], "--extractor", "x.safetensors", *TINY])
    assert res.exit_code == 2 and "not both" in res.output
    res = CliRunner().invoke(app, [*args, "--known-set", str(tmp_path / "B" / "0.png")])
    assert res.exit_code == 2 and "--blurry and --known-set" in res.output


def test_fit_refuses_a_content_term_without_its_weights_before_any_stage(tmp_path, monkeypatch):
    # The paper's VGG19 term offline, with nothing in the caches: refused at once, naming the file and
    # the offline option, before the extractor (stage 1) has written anything.
    from blur2blur.cli import app

    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    photos = assets.demo_photos()
    write_blur_pairs(tmp_path / "P", photos[:2], size=160)
    for i, p in enumerate(photos[2:4]):
        write_image(read_image(p)[0][:, :128, :160], tmp_path / "B" / f"{i}.png")
        write_image(read_image(p)[0][:, 100:228, :160], tmp_path / "S" / f"{i}.png")
    drop = TINY.index("translator.vgg_weights=random")
    args = TINY[:drop - 1] + TINY[drop + 1:]  # the setting and its --set
    res = CliRunner().invoke(app, ["fit", "--blurry", str(tmp_path / "B"), "--sharp", str(tmp_path / "S"),
                                   "--known-pairs", str(tmp_path / "P"), "--out", str(tmp_path / "run"), *args,
                                   "--set", "translator.perceptual=paper"])
    assert res.exit_code == 2, res.output
    assert "vgg19" in res.output and str(tmp_path / "cache") in res.output
    assert "translator.perceptual=lowpass" in res.output
    assert not (tmp_path / "run" / "extractor-run").exists()
    assert not (tmp_path / "run" / "extractor.safetensors").exists()
