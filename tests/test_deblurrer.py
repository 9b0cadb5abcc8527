"""The supervised deblurrer D': each recipe's loss on a tiny network, learning, the CLI."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from blur2blur import assets
from blur2blur.models import load_checkpoint
from blur2blur.train.deblurrer import DeblurrerConfig, DeblurrerTrainer, deblur_psnr
from blur2blur.train.loop import LoopConfig, setup_runtime, train
from helpers import quiet_loop, write_blur_pairs

SMALL_NAFNET = {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1, "dec_blk_nums": [1, 1]}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("deblur")
    photos = assets.demo_photos()
    return (write_blur_pairs(root / "train", photos[:6], size=128, length=9),
            write_blur_pairs(root / "test", photos[6:9], size=128, length=9), root)


def cfg_for(arch, args, loss, steps=60, lr=1e-3):
    return DeblurrerConfig(arch=arch, arch_args=args, loss=loss, crop=64, lr=lr, val_size=128, loop=quiet_loop(steps))


def test_nafnet_psnr_loss_training_improves_held_out_psnr(pairs, tmp_path):
    cfg = cfg_for("nafnet", SMALL_NAFNET, "psnr", steps=80, lr=2e-3)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    trainer = DeblurrerTrainer(cfg, pairs[0], pairs[1], rt)
    before = deblur_psnr(trainer.net, pairs[1], size=128)["psnr_deblurred"]
    result = train(trainer, rt, cfg.loop, tmp_path)
    assert result.eval["psnr_deblurred"] > before + 1.0, (before, result.eval)


@pytest.mark.parametrize("arch, args, loss", [
    ("mimo_unet", {"num_res": 1, "base_channel": 8}, "multiscale"),
    ("restormer", {"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "heads": [1, 1, 1, 1]}, "l1"),
])
def test_other_recipes_run(arch, args, loss, pairs, tmp_path):
    cfg = cfg_for(arch, args, loss, steps=2)
    rt = setup_runtime(cfg.loop)
    result = train(DeblurrerTrainer(cfg, pairs[0], pairs[1], rt), rt, cfg.loop, tmp_path)
    assert result.step == 2 and result.eval["pairs"] == 3


def test_multiscale_loss_needs_a_multiscale_network(pairs):
    with pytest.raises(ValueError, match="multi-scale"):
        DeblurrerTrainer(cfg_for("nafnet", SMALL_NAFNET, "multiscale"), pairs[0], [], setup_runtime(LoopConfig()))


def test_cli_trains_and_writes_a_loadable_deblurrer(pairs, tmp_path):
    from blur2blur.cli import app

    out = tmp_path / "d.safetensors"
    res = CliRunner().invoke(app, ["deblurrer", "train", "--pairs", str(pairs[2] / "train"), "--val-pairs",
                                   str(pairs[2] / "test"), "--out", str(out), "--preset", "tiny",
                                   "--set", "loop.steps=2", "--set", "loop.num_workers=0", "--set", "crop=64",
                                   "--set", "loop.batch_size=2", "--set", "loop.tensorboard=false"])
    assert res.exit_code == 0, res.output
    net = load_checkpoint(out)
    assert net.arch_name == "nafnet" and net.checkpoint_info["steps"] == 2
    assert "held-out PSNR" in res.output
