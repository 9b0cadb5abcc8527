"""Faults around training: bad numbers refused when read, reproducible starts, damaged checkpoints, reruns."""

from __future__ import annotations

import pytest
import torch
import yaml
from helpers import EXTRACTOR_TINY as TINY_SETTINGS
from helpers import ToyTrainer, cli, write_blur_pairs
from helpers import toy_loop as _cfg
from helpers import weights_of as _weights

from blur2blur import assets
from blur2blur.config import ConfigError, check_limits, load_config
from blur2blur.models import read_state_dict
from blur2blur.train import extractor as extractor_mod
from blur2blur.train import translator as translator_mod
from blur2blur.train.deblurrer import DeblurrerTrainer
from blur2blur.train.deblurrer import tiny_config as tiny_deblurrer
from blur2blur.train.extractor import ExtractorConfig, ExtractorTrainer
from blur2blur.train.loop import LoopConfig, list_checkpoints, setup_runtime, train
from blur2blur.train.unpaired import UnpairedTranslationTrainer, tiny_config as tiny_unpaired


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault_pairs")
    photos = assets.demo_photos()
    return root, write_blur_pairs(root / "train", photos[:3], size=160), write_blur_pairs(root / "test", photos[3:4],
                                                                                          size=160)


# --------------------------------------------------------------------------- 4. numbers checked when read


@pytest.mark.parametrize("item, message", [
    ("loop.steps=-5", "--set loop.steps=-5: expected int >= 1, got -5"),
    ("loop.steps=0", "--set loop.steps=0: expected int >= 1, got 0"),
    ("loop.batch_size=0", "--set loop.batch_size=0: expected int >= 1, got 0"),
    ("loop.checkpoint_every=0", "--set loop.checkpoint_every=0: expected int >= 1, got 0"),
    ("loop.keep_checkpoints=0", "--set loop.keep_checkpoints=0: expected int >= 1, got 0"),
    ("loop.grad_clip=-1", "--set loop.grad_clip=-1: expected float > 0, got -1.0"),
    ("crop=-128", "--set crop=-128: expected int >= 1, got -128"),
    ("lr=0", "--set lr=0: expected float > 0, got 0.0"),
    ("val_fraction=1", "--set val_fraction=1: expected float >= 0 and < 1, got 1.0"),
    ("loop={steps: -5}", "--set loop={steps: -5}: loop.steps: expected int >= 1, got -5"),
])
def test_numeric_settings_are_checked_on_the_command_line(item, message):
    with pytest.raises(ConfigError) as err:
        load_config(ExtractorConfig, None, [item], base=extractor_mod.tiny_config())
    assert str(err.value) == message


def test_numeric_settings_are_checked_in_yaml_files(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"loop": {"batch_size": 0}}))
    with pytest.raises(ConfigError) as err:
        load_config(ExtractorConfig, tmp_path / "c.yaml")
    assert str(err.value) == f"{tmp_path / 'c.yaml'}: loop.batch_size: expected int >= 1, got 0"


@pytest.mark.parametrize("preset, item, message", [
    (translator_mod.TranslatorConfig, "curriculum_fraction=0", "expected float > 0 and <= 1, got 0.0"),
    (translator_mod.TranslatorConfig, "hold_steps=-1", "expected int >= 0, got -1"),
    (lambda: tiny_unpaired("cyclegan"), "pool_size=-1", "expected int >= 0, got -1"),
    (tiny_deblurrer, "loop.num_workers=-2", "expected int >= 0, got -2"),
])
def test_every_trainer_checks_its_numbers(preset, item, message):
    base = preset()
    with pytest.raises(ConfigError, match=message):
        load_config(type(base), None, [item], base=base)


def test_in_range_values_and_none_still_pass():
    cfg = load_config(ExtractorConfig, None, ["loop.steps=1", "val_fraction=0", "loop.grad_clip=null"],
                      base=extractor_mod.tiny_config())
    assert cfg.loop.steps == 1 and cfg.val_fraction == 0 and cfg.loop.grad_clip is None


def test_the_loop_refuses_a_config_built_in_python(tmp_path):
    trainer = ToyTrainer(setup_runtime(_cfg()))
    with pytest.raises(ConfigError, match=r"^loop\.steps: expected int >= 1, got -5$"):
        train(trainer, setup_runtime(_cfg()), _cfg(steps=-5), tmp_path)
    assert not (tmp_path / "checkpoints").exists()
    check_limits(_cfg())  # the tests' own config is valid


def test_cli_refuses_bad_numbers_before_any_work(pairs, tmp_path):
    root, _, _ = pairs
    for item, message in (("loop.steps=-5", "expected int >= 1, got -5"),
                          ("loop.batch_size=0", "expected int >= 1, got 0"),
                          ("loop.checkpoint_every=0", "expected int >= 1, got 0")):
        res = cli("extractor", "train", "--pairs", root / "train", "--out", tmp_path / "f.safetensors",
                  *TINY_SETTINGS, "--set", item)
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output, res.output
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 5. reproducible initialisation


def _state(trainer_net) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer_net.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_every_trainer_starts_from_the_same_weights_for_the_same_seed(pairs):
    _, train_pairs, held = pairs
    rt = setup_runtime(LoopConfig(device="cpu"))
    kcfg = extractor_mod.tiny_config()

    def extractor(seed):
        torch.manual_seed(12345 + seed * 7)  # whatever state the process is in must not matter
        cfg = load_config(ExtractorConfig, None, [f"loop.seed={seed}"], base=kcfg)
        return _state(ExtractorTrainer(cfg, train_pairs, held, rt).extractor)

    assert _same(extractor(0), extractor(0)) and not _same(extractor(0), extractor(1))

    def deblurrer(seed):
        torch.rand(3)
        cfg = tiny_deblurrer()
        cfg.loop.seed = seed
        return _state(DeblurrerTrainer(cfg, train_pairs, held, rt).net)

    assert _same(deblurrer(3), deblurrer(3)) and not _same(deblurrer(3), deblurrer(4))

    def unpaired(seed):
        torch.rand(5)
        cfg = tiny_unpaired("cyclegan")
        cfg.loop.seed = seed
        blurry = [str(p.blurry) for p in train_pairs]
        t = UnpairedTranslationTrainer(cfg, blurry, [str(p) for p in assets.demo_photos()[:3]], rt)
        return {**_state(t.g_bs), **{f"d.{k}": v for k, v in _state(t.d_s).items()}}

    assert _same(unpaired(0), unpaired(0)) and not _same(unpaired(0), unpaired(1))


def test_two_fresh_training_commands_give_bit_identical_weights(pairs, tmp_path):
    root, _, _ = pairs
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.safetensors"
        res = cli("extractor", "train", "--pairs", root / "train", "--val-pairs", root / "test", "--out", out,
                  *TINY_SETTINGS, "--set", "loop.steps=2", "--set", "loop.seed=5")
        assert res.exit_code == 0, res.output
        outs.append(read_state_dict(out)[0])
    a, b = outs
    assert len(a) > 30 and _same(a, b)


# --------------------------------------------------------------------------- 8. a damaged newest checkpoint


def test_a_truncated_newest_checkpoint_is_named_and_the_previous_one_used(tmp_path, capsys):
    rt = setup_runtime(_cfg())
    reference = ToyTrainer(rt)
    train(reference, rt, _cfg(steps=8), tmp_path / "ref")
    first = ToyTrainer(rt)
    with pytest.raises(KeyboardInterrupt):
        def stop_at_6(batch, step, _orig=first.train_step):
            if step.step == 6:
                raise KeyboardInterrupt
            return _orig(batch, step)
        first.train_step = stop_at_6
        train(first, rt, _cfg(steps=8), tmp_path / "run")
    (older, _), (newest, ckpt6) = list_checkpoints(tmp_path / "run")
    assert (older, newest) == (4, 6)
    ckpt6.write_bytes(ckpt6.read_bytes()[: ckpt6.stat().st_size // 3])   # the disk filled up mid-write
    capsys.readouterr()
    resumed = ToyTrainer(rt)
    result = train(resumed, rt, _cfg(steps=8), tmp_path / "run")
    err = capsys.readouterr().err
    assert f"{ckpt6}: cannot be read" in err and "trying the previous checkpoint" in err
    assert result.resumed_from == 4 and result.step == 8
    assert (tmp_path / "run" / "checkpoints" / "step_000000006.pt.damaged").exists()
    assert _same(_weights(resumed), _weights(reference))   # steps 5-8 redone exactly


# --------------------------------------------------------------------------- 11. reruns of finished commands


def test_rerunning_a_finished_kernels_train_is_success_and_changes_nothing(pairs, tmp_path):
    root, _, _ = pairs
    out = tmp_path / "f.safetensors"
    args = ["extractor", "train", "--pairs", root / "train", "--val-pairs", root / "test", "--out", out,
            *TINY_SETTINGS, "--set", "loop.steps=1"]
    assert cli(*args).exit_code == 0
    stamp = out.stat().st_mtime_ns
    res = cli(*args, "--device", "cpu")
    assert res.exit_code == 0 and "already holds the result of this training" in res.output, res.output
    assert out.stat().st_mtime_ns == stamp
    res = cli(*args, "--set", "lr=0.5")
    assert res.exit_code == 2 and "other settings (lr)" in res.output and "refusing to overwrite" in res.output
    (tmp_path / "other.safetensors").write_bytes(b"not a model")
    res = cli(*args[:-6], "--out", tmp_path / "other.safetensors", *args[-4:])
    assert res.exit_code == 2 and "is not a model this command wrote" in res.output


# --------------------------------------------------------------------------- 8. devices this machine lacks


@pytest.mark.parametrize("args, message", [
    (["--device", "bogus"], "--device: unknown device 'bogus'"),
    (["--set", "loop.device=bogus"], "loop.device: unknown device 'bogus'"),
    (["--device", "cuda:7"], "--device: device 'cuda:7'"),
])
def test_training_commands_refuse_devices_before_any_work(pairs, tmp_path, args, message):
    root, _, _ = pairs
    res = cli("extractor", "train", "--pairs", root / "train", "--out", tmp_path / "f.safetensors", *TINY_SETTINGS,
              *args)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output, res.output
    assert list(tmp_path.iterdir()) == []


def test_fit_refuses_a_nested_device(tmp_path):
    res = cli("fit", "--blurry", tmp_path, "--sharp", tmp_path, "--out", tmp_path / "run", "--preset", "tiny",
              "--set", "translator.loop.device=bogus")
    assert res.exit_code == 2 and "translator.loop.device: unknown device 'bogus'" in res.output, res.output
    assert not (tmp_path / "run").exists()


def test_setup_runtime_names_the_device():
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        setup_runtime(LoopConfig(device="gpu0"))
