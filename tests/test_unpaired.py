"""CycleGAN and DualGAN (Table 2's unpaired baselines): networks, losses, history pool, training, resume."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch
import torch.nn.functional as F
import yaml

from blur2blur.config import from_dict, load_config, to_dict, with_settings
from blur2blur.data.images import write_image
from blur2blur.experiment.config import ADDABLE_SETTINGS, ExperimentConfig
from blur2blur.inference import restore
from blur2blur.models import create_model, get_spec, identify_weights, load_checkpoint, save_checkpoint
from blur2blur.runs import check_settings
from blur2blur.seeding import generator
from blur2blur.train.loop import list_checkpoints, setup_runtime, train
from blur2blur.train.unpaired import (
    PRESETS,
    HistoryPool,
    UnpairedConfig,
    UnpairedTranslationTrainer,
    cycle_loss,
    cyclegan_config,
    d_adversarial_loss,
    dualgan_config,
    g_adversarial_loss,
    recipe_schedule,
    tiny_config,
)

METHODS = ("cyclegan", "dualgan")
TINY_G = {"cyclegan": ("cyclegan_generator", {"ngf": 8, "n_blocks": 2}),
          "dualgan": ("dualgan_generator", {"ngf": 8, "num_downs": 6})}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These nets are tiny: with the machine's cores shared, 2 intra-op threads spend their time
    # waiting for each other (steps took seconds instead of ~0.1 s). Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Six 72x72 'sharp' images (blocks + stripes) and six box-blurred others: unpaired B and S."""
    root = tmp_path_factory.mktemp("unpaired")
    blurry, sharp = [], []
    for i in range(12):
        g = generator(123, i)
        img = F.interpolate(torch.rand(1, 3, 9, 9, generator=g), size=72, mode="nearest")[0]
        img = (img + 0.3 * (torch.arange(72) % (4 + i % 3) < 2).float()).clamp(0, 1)
        if i % 2:
            img = F.avg_pool2d(F.pad(img[None], (3, 3, 3, 3), mode="replicate"), 7, stride=1)[0]
            blurry.append(str(write_image(img, root / "B" / f"{i}.png")))
        else:
            sharp.append(str(write_image(img, root / "S" / f"{i}.png")))
    return blurry, sharp


def _tiny_generator(method: str):
    name, args = TINY_G[method]
    return create_model(name, **args)


def _weights(tr: UnpairedTranslationTrainer) -> dict[str, dict[str, torch.Tensor]]:
    return {n: {k: v.detach().clone() for k, v in m.state_dict().items()} for n, m in tr.nets.items()}


# ----------------------------------------------------------------------------- losses and recipes


def test_cycle_loss_by_hand():
    real = torch.tensor([[0.0, 1.0], [0.5, 0.25]]).view(1, 1, 2, 2)
    rec = torch.tensor([[0.5, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # |diff| = 0.5, 0, 0.5, 0.25: mean 0.3125, times lambda = 10
    assert cycle_loss(real, rec, 10.0).item() == pytest.approx(3.125)
    assert cycle_loss(real, real, 10.0).item() == 0.0


def test_adversarial_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert d_adversarial_loss(real, fake, "wgan").item() == pytest.approx(-1.0 - 2.0)  # mean fake - mean real
    assert g_adversarial_loss(fake, "wgan").item() == pytest.approx(1.0)
    # LSGAN: (r - 1)^2 -> (0 + 4) / 2; f^2 -> (0 + 4) / 2; G: (f - 1)^2 -> (1 + 9) / 2
    assert d_adversarial_loss(real, fake, "lsgan").item() == pytest.approx(4.0)
    assert g_adversarial_loss(fake, "lsgan").item() == pytest.approx(5.0)


def test_published_recipes_are_the_presets():
    c = cyclegan_config()
    assert c == UnpairedConfig() and PRESETS["cyclegan"]() == c  # CycleGAN's recipe is the default
    assert (c.adv_loss, c.lambda_cycle, c.lambda_identity, c.pool_size, c.d_loss_scale) == ("lsgan", 10.0, 0.5, 50, 0.5)
    assert (c.optimizer, c.lr, c.betas, c.loop.batch_size) == ("adam", 2e-4, (0.5, 0.999), 1)
    assert (c.generator, c.generator_args) == ("cyclegan_generator", {"ngf": 64, "n_blocks": 9, "norm": "instance"})
    assert c.discriminator_args == {"ndf": 64, "n_layers": 3, "norm": "instance"}
    assert c.hold_steps == c.decay_steps == c.loop.steps // 2  # 100 + 100 epochs
    d = dualgan_config()
    assert PRESETS["dualgan"]() == d and d.method == "dualgan"
    assert (d.adv_loss, d.optimizer, d.lr, d.rmsprop_alpha, d.n_critic, d.clip) == ("wgan", "rmsprop", 5e-5, 0.9, 2,
                                                                                     0.01)
    assert d.lambda_identity == 0 and d.d_loss_scale == 1
    assert 100 <= d.lambda_cycle <= 1000 and d.pool_size == 0
    assert (d.hold_steps, d.decay_steps) == (d.loop.steps, 0)  # a constant rate
    assert d.generator_args == {"ngf": 64, "num_downs": 8, "norm": "instance", "use_dropout": True}
    # The schedules for another length: half and half (the decay rounded), or constant.
    assert recipe_schedule("cyclegan", 7) == (3, 4) and recipe_schedule("cyclegan", 1001) == (501, 500)
    assert recipe_schedule("dualgan", 7) == (7, 0)
    t = tiny_config("cyclegan", steps=6)
    assert (t.hold_steps, t.decay_steps, t.loop.steps) == (3, 3, 6) and t.generator_args["norm"] == "instance"
    # One setting changes one value; a network argument changes that argument only.
    mine = with_settings(dualgan_config(), {"lr": 1e-4, "generator_args.ngf": 32})
    assert mine.lr == 1e-4 and mine.clip == 0.01 and mine.generator_args["ngf"] == 32
    assert mine.generator_args["num_downs"] == 8


@pytest.mark.parametrize("make, message", [
    (lambda: UnpairedConfig(method="cyclegan", n_critic=3), "n_critic must be 1"),
    (lambda: dataclasses.replace(dualgan_config(), n_critic=0), "n_critic: expected int >= 1, got 0"),
    (lambda: dataclasses.replace(dualgan_config(), clip=-0.1), "clip: expected float >= 0, got -0.1"),
    (lambda: UnpairedConfig(pool_size=-1), "pool_size: expected int >= 0, got -1"),
    (lambda: UnpairedConfig(method="pix2pix"), "unknown method 'pix2pix'; choose cyclegan or dualgan"),
    (lambda: tiny_config("pix2pix"), "unknown method 'pix2pix'"),
])
def test_a_bad_config_is_refused_when_made(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


# The fields older versions left at None, meaning "the method's published value".
OLD_NONE_FIELDS = ("generator", "generator_args", "discriminator_args", "adv_loss", "d_loss_scale", "lambda_cycle",
                   "lambda_identity", "pool_size", "optimizer", "lr", "betas", "rmsprop_alpha", "n_critic", "clip",
                   "hold_steps", "decay_steps")


def test_sections_stored_with_none_read_as_the_presets(tmp_path):
    """A run folder of an older version recorded None for the recipe's values: it still resumes."""
    stored = to_dict(ExperimentConfig())
    for method in METHODS:
        stored[method].update(dict.fromkeys(OLD_NONE_FIELDS))
    stored["cyclegan"]["generator_args"] = {"ngf": 32}  # then merged over the recipe's
    stored["dualgan"]["loop"]["steps"] = 600            # then the recipe's schedule over the stored steps
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    same = with_settings(ExperimentConfig(), {"cyclegan.generator_args.ngf": 32, "dualgan.loop.steps": 600,
                                              "dualgan.hold_steps": 600, "dualgan.decay_steps": 0})
    recorded = load_config(ExperimentConfig, tmp_path / "config.yaml")
    assert (recorded.cyclegan, recorded.dualgan) == (same.cyclegan, same.dualgan)
    check_settings(tmp_path, same, lambda key: key in ADDABLE_SETTINGS, what="an experiment")  # accepted
    with pytest.raises(ValueError, match=r"other settings \(cyclegan\.lr\)"):
        check_settings(tmp_path, with_settings(same, {"cyclegan.lr": 1e-3}), lambda key: key in ADDABLE_SETTINGS)
    # CycleGAN's schedule: half of the stored steps constant, half decaying; a stored hold keeps its value.
    section = {**stored["cyclegan"], "loop": {**stored["cyclegan"]["loop"], "steps": 1001}}
    old = from_dict(UnpairedConfig, section)
    assert (old.hold_steps, old.decay_steps) == (501, 500)
    assert from_dict(UnpairedConfig, {**section, "hold_steps": 300}).decay_steps == 701
    # A current section (no None) is read as written: its network arguments are not merged with the preset's.
    assert from_dict(UnpairedConfig, {"generator_args": {"ngf": 8}}).generator_args == {"ngf": 8}


# ----------------------------------------------------------------------------- networks


def test_cyclegan_generator_keeps_any_size_in_unit_range():
    torch.manual_seed(0)
    g = _tiny_generator("cyclegan").eval()
    assert get_spec("cyclegan_generator").size_multiple == 1  # pads inside
    with torch.no_grad():
        for shape in [(1, 3, 37, 29), (2, 3, 5, 3), (1, 3, 64, 64)]:
            for x in (torch.rand(shape), torch.zeros(shape), torch.ones(shape)):
                y = g(x)
                assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_cyclegan_generator_is_the_published_size():
    g = create_model("cyclegan_generator")  # resnet_9blocks, ngf 64: 11.378M parameters (reference code)
    assert sum(p.numel() for p in g.parameters()) == 11_378_179
    d = create_model("dualgan_generator")   # pix2pix unet_256, ngf 64: 54.41M parameters
    assert sum(p.numel() for p in d.parameters()) == 54_414_531


def test_dualgan_generator_size_rule_and_restore_pads_odd_sizes():
    torch.manual_seed(0)
    g = _tiny_generator("dualgan").eval()
    assert get_spec("dualgan_generator").size_multiple == 256 and g.size_multiple == 64
    with pytest.raises(ValueError, match="multiples of 64"):
        g(torch.rand(1, 3, 37, 29))
    x = torch.rand(1, 3, 37, 29)
    y = restore(g, x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    with torch.no_grad():
        raw = g(torch.rand(2, 3, 64, 128))
    assert raw.shape == (2, 3, 64, 128) and raw.min() > 0 and raw.max() < 1  # tanh mapped to (0, 1), no clamp


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_round_trip(method, tmp_path):
    name, args = TINY_G[method]
    torch.manual_seed(0)
    g = create_model(name, **args).eval()
    path = save_checkpoint(g, tmp_path / f"{name}.safetensors", info={"steps": 3})
    back = load_checkpoint(path)
    assert back.arch_name == name and back.arch_args == args and back.checkpoint_info["steps"] == 3
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(back(x), g(x), rtol=0, atol=0)


def test_cyclegan_state_dict_is_recognised_as_the_reference_layout():
    for args in ({"ngf": 8, "n_blocks": 2}, {"ngf": 4, "n_blocks": 3, "norm": "batch", "use_dropout": True}):
        sd = create_model("cyclegan_generator", **args).state_dict()
        assert "model.1.weight" in sd and "model.10.conv_block.1.weight" in sd  # the reference's key names
        found = dict(identify_weights(sd))
        assert found["cyclegan_generator"] == {"input_nc": 3, "output_nc": 3, "norm": "instance",
                                               "use_dropout": False, **args}
    assert "cyclegan_generator" not in dict(identify_weights(create_model("b2b_discriminator", ndf=8).state_dict()))


# ----------------------------------------------------------------------------- history pool


def test_history_pool_fills_then_swaps_deterministically():
    pool = HistoryPool(3, 1, 2, 2)
    batches = [torch.full((2, 1, 2, 2), float(i)) for i in range(1, 8)]
    first = [pool.query(b, generator(0, n)) for n, b in enumerate(batches[:2])]
    assert torch.equal(first[0], batches[0]) and int(pool.count) == 3  # filling: returned as is
    saved = {k: v.clone() for k, v in pool.state_dict().items()}
    later = [pool.query(b, generator(0, n)) for n, b in enumerate(batches[2:], start=2)]
    values = torch.cat(later).flatten().unique()
    assert any(v < 3 for v in values.tolist())  # some queries returned an older image from the pool
    again = HistoryPool(3, 1, 2, 2)
    again.load_state_dict(saved)
    replay = [again.query(b, generator(0, n)) for n, b in enumerate(batches[2:], start=2)]
    for a, b in zip(later, replay):
        assert torch.equal(a, b)
    assert torch.equal(again.images, pool.images)


# ----------------------------------------------------------------------------- training on the loop


@pytest.mark.parametrize("method", METHODS)
def test_one_step_trains_all_four_networks(method, sets, tmp_path):
    blurry, sharp = sets
    cfg = tiny_config(method, steps=1)
    rt = setup_runtime(cfg.loop)
    torch.manual_seed(0)
    tr = UnpairedTranslationTrainer(cfg, blurry[:4], sharp[:4], rt, val_blurry=blurry[4:], val_sharp=sharp[4:])
    assert list(tr.nets)[:4] == ["G_BS", "G_SB", "D_S", "D_B"]
    before = _weights(tr)
    result = train(tr, rt, cfg.loop, tmp_path)
    for name in ("G_BS", "G_SB", "D_S", "D_B"):
        params = dict(tr.nets[name].named_parameters())
        assert any(not torch.equal(before[name][k], p) for k, p in params.items()), f"{name} did not change"
    logs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    losses = {k: v for k, v in logs[0].items() if k.startswith(("loss", "w_dist", "d_acc"))}
    assert {"loss_g", "loss_g_adv", "loss_cycle", "loss_d"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    assert set(result.eval) == {"cycle_psnr_b", "change_psnr_b", "cycle_psnr_s"}
    assert all(0 < v <= 100 for v in result.eval.values())
    grids = tr.sample_images({})
    assert set(grids) == {"B", "G_BS(B)", "S", "G_SB(S)"}
    assert all(v.shape == (2, 3, 64, 64) and 0 <= v.min() and v.max() <= 1 for v in grids.values())
    if method == "dualgan":  # WGAN weight clipping (DualGAN Alg. 1, line 7) holds after the step
        for name in ("D_S", "D_B"):
            assert all(p.abs().max() <= cfg.clip for p in tr.nets[name].parameters())
        assert "w_dist_s" in losses and "loss_identity" not in losses
    else:
        assert "loss_identity" in losses and int(tr.nets["pools"]["S"].count) == 2


@pytest.mark.parametrize("method", METHODS)
def test_resume_is_exact_for_every_network_and_the_history_pool(method, sets, tmp_path):
    blurry, sharp = sets
    cfg = tiny_config(method, steps=4)  # lr: 2 steps constant, 2 decaying (CycleGAN); pool of 4 full after 2
    first_leg = dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, steps=2))
    rt = setup_runtime(cfg.loop)

    def run(c, run_dir):
        torch.manual_seed(0)
        tr = UnpairedTranslationTrainer(c, blurry, sharp, rt)
        train(tr, rt, c.loop, run_dir)
        return tr

    straight = run(cfg, tmp_path / "a")
    run(first_leg, tmp_path / "b")
    resumed = run(cfg, tmp_path / "b")
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [2, 4]
    a, b = _weights(straight), _weights(resumed)
    assert set(a) == set(b)
    for name in a:
        for key, v in a[name].items():
            torch.testing.assert_close(b[name][key], v, rtol=0, atol=0, msg=f"{name}.{key}")
    if method == "cyclegan":
        assert int(straight.nets["pools"]["B"].count) == 4  # full: steps 2 and 3 drew from it
