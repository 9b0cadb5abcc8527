"""Training the blur-kernel extractor: losses, split, the identity start, learning, resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from blur2blur import assets
from blur2blur.data.demo import write_known_pairs
from blur2blur.data.pairs import BlurPair, find_pairs
from blur2blur.data.split import split_by_scene
from blur2blur.models import load_any
from blur2blur.train.extractor import (
    ExtractorArch,
    ExtractorConfig,
    ExtractorTrainer,
    build_extractor,
    charbonnier,
    kernel_kl,
    reblur_psnr,
)
from blur2blur.train.loop import LoopConfig, list_checkpoints, setup_runtime, train
from helpers import quiet_loop, write_blur_pairs

TINY = ExtractorArch(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, n_blocks=0)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    photos = assets.demo_photos()
    return write_blur_pairs(root / "train", photos[:8]), write_blur_pairs(root / "test", photos[8:11])


def tiny_cfg(steps: int, **kw) -> ExtractorConfig:
    base = dict(arch=TINY, crop=128, lr=2e-3, periods=[steps], val_size=128, loop=quiet_loop(steps))
    return ExtractorConfig(**{**base, **kw})


def test_charbonnier_and_kl_by_hand():
    a, b = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])
    assert charbonnier(a, b, eps=1e-6).item() == pytest.approx((math.sqrt(1e-6) + math.sqrt(1 + 1e-6)) / 2)
    mean, sigma = torch.tensor([1.0]), torch.tensor([2.0])
    assert kernel_kl(mean, sigma).item() == pytest.approx(1 + 4 - math.log(4 + 1e-8) - 1)


def test_split_by_scene_keeps_scenes_whole():
    ps = [BlurPair(f"b{i}.png", f"s{i}.png", f"scene{i // 3}") for i in range(30)]
    train_p, val_p = split_by_scene(ps, 0.2)
    assert {p.scene for p in train_p}.isdisjoint({p.scene for p in val_p})
    assert len({p.scene for p in val_p}) == 2 and len(train_p) + len(val_p) == 30
    assert split_by_scene(ps[:3], 0.9)[0]  # one scene: it stays for training


def test_untrained_extractor_is_the_identity(pairs):
    net = build_extractor(TINY)
    m = reblur_psnr(net, pairs[1], size=128)
    assert m["gain_db"] == pytest.approx(0.0, abs=1e-9) and m["identity_psnr"] < 40


def test_crop_must_fit_the_extractor(pairs):
    rt = setup_runtime(LoopConfig())
    with pytest.raises(ValueError, match="multiple of 128"):
        ExtractorTrainer(tiny_cfg(1, crop=96), pairs[0], [], rt)
    with pytest.raises(ValueError, match="at least 129"):
        ExtractorTrainer(tiny_cfg(1, crop=128, arch=ExtractorArch(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16,
                                                               n_blocks=2)), pairs[0], [], rt)


def test_short_training_beats_identity_on_held_out_pairs(tmp_path):
    # The demo's known camera (random motion kernels) on 8 photos; 4 other photos held out.
    photos = assets.demo_photos()
    train_pairs = find_pairs(write_known_pairs(tmp_path / "train", photos[:8], seed=0), "folders")
    held_out = find_pairs(write_known_pairs(tmp_path / "test", photos[8:12], seed=1), "folders")
    # 300 steps: at 150 the margins were install-thin (a fresh install on 2026-12-02 measured a
    # last-30 loss ratio of 0.9989 and a held-out gain of 0.018 dB); at 300 the same install measures
    # 0.950 and +0.16 dB (2 of the 4 held-out pairs improved).
    cfg = tiny_cfg(300, arch=ExtractorArch(nf=16, front_RBs=2, back_RBs=2, kernel_dim=32, n_blocks=0),
                   val_size=256)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    trainer = ExtractorTrainer(cfg, train_pairs, held_out, rt)
    result = train(trainer, rt, cfg.loop, tmp_path / "run")
    logs = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if '"train"' in x]
    ratio = [r["loss_pix"] / r["loss_identity"] for r in logs]  # 1.0 = no better than "no blur"
    assert ratio[0] == pytest.approx(1.0, abs=1e-6)  # it starts as the identity
    assert sum(ratio[-30:]) / 30 < min(0.99, sum(ratio[:30]) / 30)
    assert result.eval["gain_db"] > 0.05 and result.eval["improved"] >= 0.5, result.eval


def test_resume_gives_the_same_weights(pairs, tmp_path):
    cfg4, cfg2 = tiny_cfg(4, arch=ExtractorArch(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, n_blocks=0,
                                                use_vae=True), kl_weight=10.0), None
    cfg2 = ExtractorConfig(**{**cfg4.__dict__, "loop": LoopConfig(**{**cfg4.loop.__dict__, "steps": 2})})
    rt = setup_runtime(cfg4.loop)

    def run(cfg, run_dir):
        torch.manual_seed(1)  # same initial weights in every "process"
        trainer = ExtractorTrainer(cfg, pairs[0], [], rt)
        train(trainer, rt, cfg.loop, run_dir)
        return trainer.extractor.state_dict()

    straight = run(cfg4, tmp_path / "a")
    run(cfg2, tmp_path / "b")
    resumed = run(cfg4, tmp_path / "b")
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [2, 4]
    for k, v in straight.items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0)


def test_official_files_load_by_shape_not_name(tmp_path):
    vae = build_extractor(ExtractorArch(nf=8, front_RBs=1, back_RBs=1, kernel_dim=16, n_blocks=0, use_vae=True))
    path = tmp_path / "GOPRO_woVAE.pth"  # misleading name: the shapes say VAE
    torch.save(vae.state_dict(), path)
    net = load_any(path, arch="kernel_wizard")
    assert net.use_vae and net.kernel_dim == 16 and net.nf == 8
