"""The translator trainer on tiny data: identity start, warm-up, signals, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from blur2blur import assets
from blur2blur.data.images import read_image, write_image
from blur2blur.data.synthetic import blur_with_kernels, motion_kernel
from blur2blur.train.loop import list_checkpoints, setup_runtime, train
from blur2blur.train.translator import (
    TranslatorConfig,
    TranslatorTrainer,
    discriminator_accuracy,
    init_identity,
    input_scales,
    load_discriminator,
)
from helpers import free_port, quiet_loop


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("translator")
    b, k = [], []
    for i, p in enumerate(assets.demo_photos()[:6]):
        img = read_image(p)[0][:, :96, :96]
        kb = blur_with_kernels(img[None], motion_kernel(9, 90.0 * (i % 2), 0.0)[None])[0]  # "unknown": H or V
        kk = blur_with_kernels(img[None], motion_kernel(7, 45.0, 0.0)[None])[0]           # "known": diagonal
        b.append(write_image(kb, root / "B" / f"{i}.png"))
        k.append(write_image(kk, root / "K" / f"{i}.png"))
    return [str(p) for p in b], [str(p) for p in k]


def tiny(steps: int, **kw) -> TranslatorConfig:
    base = dict(arch_args={"num_res": 1, "base_channel": 8}, disc_ndf=8, crop=96, vgg_weights="random",
                val_images=2, loop=quiet_loop(steps, batch_size=2))
    return TranslatorConfig(**{**base, **kw})


@pytest.mark.parametrize("arch, args", [("b2b_translator", {"num_res": 1, "base_channel": 8}),
                                        ("b2b_filter_translator", {"num_res": 1, "base_channel": 8, "kernel_size": 3}),
                                        ("unet_translator", {"ngf": 8}),
                                        ("nafnet_translator", {"width": 8, "enc_blk_nums": [1, 1, 1, 1],
                                                               "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]})])
def test_every_backbone_starts_as_the_identity(arch, args):
    from blur2blur.models import create_model

    net = init_identity(create_model(arch, **args)).eval()
    y = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = net(y)
    for o, t in zip(outs, input_scales(y)):
        torch.testing.assert_close(o, t)


def test_warmup_trains_d_only_then_both(sets, tmp_path):
    b, k = sets
    cfg = tiny(4, d_warmup=2)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    tr = TranslatorTrainer(cfg, b[:4], k[:4], rt, val_blurry=b[4:], val_known=k[4:])
    g0 = {n: p.clone() for n, p in tr.translator.state_dict().items()}
    result = train(tr, rt, cfg.loop, tmp_path)
    logs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    train_logs = [r for r in logs if r["kind"] == "train"]
    assert "loss_rec" not in train_logs[0] and "loss_rec" in train_logs[-1]
    assert train_logs[0]["drift_psnr"] == 100.0  # identity during the warm-up (capped PSNR)
    assert all(0 <= r["d_acc"] <= 1 for r in train_logs)
    assert set(result.eval) == {"d_acc_heldout", "d_acc_b_vs_k", "drift_psnr"}
    changed = any(not torch.equal(g0[n], p) for n, p in tr.translator.state_dict().items())
    assert changed


@pytest.mark.parametrize("term, upper", [("direction", 1), ("profile", 2)])
def test_the_direction_and_profile_terms_are_charged_only_when_weighted(sets, tmp_path, term, upper):
    b, k = sets
    for weight in (0.0, 2.0):
        cfg = tiny(3, d_warmup=1, **{f"lambda_{term}": weight})
        rt = setup_runtime(cfg.loop)
        tr = TranslatorTrainer(cfg, b[:4], k[:4], rt)
        train(tr, rt, cfg.loop, tmp_path / str(weight))
        logs = [json.loads(x) for x in (tmp_path / str(weight) / "log.jsonl").read_text().splitlines()]
        charged = [r[f"loss_{term}"] for r in logs if r["kind"] == "train" and f"loss_{term}" in r]
        if weight:
            assert charged and all(0 <= c <= upper for c in charged) and any(c > 0 for c in charged)
        else:
            assert not charged


@pytest.mark.parametrize("disc_scales, sides", [(3, [24, 48, 96]), (1, [96])])
def test_d_judges_only_the_finest_disc_scales(sets, tmp_path, disc_scales, sides):
    """D's loss, its gradient penalty, G's adversarial term and the held-out accuracy all see the same scales;
    G's content term still sees every scale (it changes G's coarse outputs either way)."""
    b, k = sets
    cfg = tiny(2, d_warmup=1, disc_scales=disc_scales)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    tr = TranslatorTrainer(cfg, b[:4], k[:4], rt, val_blurry=b[4:], val_known=k[4:])
    seen = []
    tr.discriminator.register_forward_pre_hook(lambda _m, args: seen.append([x.shape[-1] for x in args[0]]))
    result = train(tr, rt, cfg.loop, tmp_path)
    assert seen and all(s == sides for s in seen), seen
    assert 0 <= result.eval["d_acc_b_vs_k"] <= 1


def test_resume_is_exact_for_both_networks(sets, tmp_path):
    b, k = sets
    rt = setup_runtime(tiny(1).loop)

    def run(steps, run_dir):
        torch.manual_seed(0)
        tr = TranslatorTrainer(tiny(steps), b, k, rt, blur_scores={p: float(i) for i, p in enumerate(b)})
        train(tr, rt, tr.cfg.loop, run_dir)
        return tr

    straight = run(4, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed = run(4, tmp_path / "b")
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [2, 4]
    for name in ("translator", "discriminator"):
        for key, v in straight.nets[name].state_dict().items():
            torch.testing.assert_close(resumed.nets[name].state_dict()[key], v, rtol=0, atol=0)


class _BrightIsReal(torch.nn.Module):
    """A stand-in discriminator: every patch logit is the image's mean brightness minus 0.5."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, scales):
        return [s.mean(dim=1, keepdim=True) - 0.5 for s in scales]


def test_discriminator_accuracy_counts_patch_decisions(tmp_path):
    bright = write_image(torch.full((3, 40, 48), 0.8), tmp_path / "bright.png")
    dark = write_image(torch.full((3, 48, 40), 0.2), tmp_path / "dark.png")
    mixed = torch.full((3, 40, 40), 0.2)
    mixed[:, :, 20:] = 0.8                                  # left half says fake, right half real
    half = write_image(mixed, tmp_path / "half.png")
    d = _BrightIsReal()
    assert discriminator_accuracy(d, [bright, bright], [dark, dark], crop=128) == 1.0
    assert discriminator_accuracy(d, [dark], [bright], crop=128) == 0.0
    assert discriminator_accuracy(d, [half], [dark], crop=40) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="as many"):
        discriminator_accuracy(d, [bright], [], crop=64)


@pytest.mark.parametrize("layers", [3, 2])
def test_load_discriminator_takes_the_last_training_state(sets, tmp_path, layers):
    b, k = sets
    cfg = tiny(2, disc_layers=layers)
    cfg.loop.checkpoint_every = 1
    rt = setup_runtime(cfg.loop)
    tr = TranslatorTrainer(cfg, b, k, rt)
    assert tr.discriminator.n_layers == layers
    train(tr, rt, cfg.loop, tmp_path / "run")
    d = load_discriminator(tmp_path / "run", cfg)
    for key, v in tr.nets["discriminator"].state_dict().items():
        torch.testing.assert_close(d.state_dict()[key], v, rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="no training-state checkpoint"):
        load_discriminator(tmp_path / "empty", cfg)


def test_the_blur_statistics_discriminator_trains_and_reloads(sets, tmp_path):
    from blur2blur.models.discriminator import BlurStatisticsDiscriminator

    b, k = sets
    cfg = tiny(2, d_warmup=1, disc_features="autocorrelation")
    cfg.loop.checkpoint_every = 1
    rt = setup_runtime(cfg.loop)
    tr = TranslatorTrainer(cfg, b[:4], k[:4], rt, val_blurry=b[4:], val_known=k[4:])
    assert isinstance(tr.discriminator, BlurStatisticsDiscriminator)
    d0 = {n: p.clone() for n, p in tr.discriminator.state_dict().items()}
    result = train(tr, rt, cfg.loop, tmp_path / "run")
    assert 0 <= result.eval["d_acc_heldout"] <= 1
    d = load_discriminator(tmp_path / "run", cfg)
    assert isinstance(d, BlurStatisticsDiscriminator)
    for key, v in tr.discriminator.state_dict().items():
        torch.testing.assert_close(d.state_dict()[key], v, rtol=0, atol=0)
    assert any(not torch.equal(v, d0[key]) for key, v in d.state_dict().items())  # D did train


def test_the_gradient_penalty_is_computed_only_when_weighted(sets, tmp_path):
    b, k = sets
    for weight in (0.0, 0.01):
        cfg = tiny(2, d_warmup=1, lambda_grad=weight)
        rt = setup_runtime(cfg.loop)
        train(TranslatorTrainer(cfg, b[:4], k[:4], rt), rt, cfg.loop, tmp_path / str(weight))
        logs = [json.loads(x) for x in (tmp_path / str(weight) / "log.jsonl").read_text().splitlines()]
        logged = [r["gp"] for r in logs if r["kind"] == "train" and "gp" in r]
        assert bool(logged) == bool(weight), logged
        assert all(g >= 0 for g in logged)


def test_crop_too_small_for_the_discriminator_is_refused(sets):
    b, k = sets
    with pytest.raises(ValueError, match="crop 64 .*1/4 scale"):
        TranslatorTrainer(tiny(1, crop=64), b, k, setup_runtime(tiny(1).loop))


def test_a_discriminator_at_chance_is_reported(sets, tmp_path):
    b, k = sets
    cfg = tiny(1)
    rt = setup_runtime(cfg.loop)
    tr = TranslatorTrainer(cfg, b, k, rt, val_blurry=b[:2], val_known=b[:2])  # K = B: nothing to tell apart
    with pytest.warns(UserWarning, match="no adversarial target"):
        train(tr, rt, cfg.loop, tmp_path)


def _ddp_translator(rank, port, sets, out):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = tiny(2)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    tr = TranslatorTrainer(cfg, sets[0], sets[1], rt)
    train(tr, rt, cfg.loop, f"{out}/run")
    torch.save({n: m.state_dict() for n, m in tr.nets.items()}, f"{out}/rank{rank}.pt")


def test_ddp_two_processes_keep_g_and_d_in_sync(sets, tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_translator, args=(free_port(), sets, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for net in ("translator", "discriminator"):
        for key, v in r0[net].items():
            torch.testing.assert_close(r1[net][key], v, rtol=0, atol=0)


TINY_CLI = ["--preset", "tiny", "--set", "loop.steps=2", "--set", "loop.num_workers=0", "--set", "loop.batch_size=2",
            "--set", "loop.tensorboard=false", "--set", "crop=96", "--set", "disc_ndf=8", "--set", "d_warmup=1",
            "--set", "arch_args={num_res: 1, base_channel: 8}"]


def test_cli_trains_a_translator(sets, tmp_path):
    from typer.testing import CliRunner

    from blur2blur.cli import app
    from blur2blur.models import load_checkpoint

    b, k = sets
    res = CliRunner().invoke(app, ["translator", "train", "--blurry", str(tmp_path.parent), "--known", k[0], "--out",
                                   str(tmp_path / "g.safetensors"), *TINY_CLI, "--set", "vgg_weights=random"])
    assert res.exit_code == 2  # a folder without images: named
    res = CliRunner().invoke(app, ["translator", "train", *sum((["--blurry", p] for p in b), []),
                                   *sum((["--known", p] for p in k), []), "--out", str(tmp_path / "g.safetensors"),
                                   *TINY_CLI, "--set", "vgg_weights=random"])
    assert res.exit_code == 0, res.output
    assert "discriminator accuracy" in res.output and "drift PSNR" in res.output
    net = load_checkpoint(tmp_path / "g.safetensors")
    assert net.arch_name == "b2b_translator" and net.checkpoint_info["steps"] == 2
    assert (tmp_path / "g-run" / "blur_scores.json").exists()


def test_cli_never_falls_back_to_random_vgg(sets, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from blur2blur.cli import app

    monkeypatch.setenv("BLUR2BLUR_OFFLINE", "1")
    monkeypatch.setenv("BLUR2BLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    b, k = sets
    res = CliRunner().invoke(app, ["translator", "train", "--blurry", b[0], "--known", k[0], "--out",
                                   str(tmp_path / "g.safetensors"), *TINY_CLI, "--set", "perceptual=paper"])
    assert res.exit_code == 2 and "vgg19" in res.output.lower(), res.output
    assert "perceptual=lowpass" in res.output and not (tmp_path / "g-run" / "checkpoints").exists()


def test_tensorboard_image_grids_show_b_g_of_b_and_k(sets, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    b, k = sets
    cfg = tiny(2)
    cfg.loop.tensorboard, cfg.loop.image_every = True, 1
    rt = setup_runtime(cfg.loop)
    train(TranslatorTrainer(cfg, b[:4], k[:4], rt), rt, cfg.loop, tmp_path)
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = set(acc.Tags()["images"])
    assert {"B", "G(B)", "K"} <= {t.split("/")[0] for t in tags}
    shown = [t for t in tags if t.startswith("G(B)")]
    assert len(acc.Images(shown[0])) == 2  # one grid per step

