"""The shared training loop: schedules, data order, resume, divergence, DDP (gloo, 2 processes)."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
import torch.multiprocessing as mp

from blur2blur.train.loop import (
    StepBatches,
    TrainingDiverged,
    list_checkpoints,
    setup_runtime,
    shutdown_runtime,
    train,
)
from blur2blur.train.schedules import constant_then_linear, cosine_restarts
from helpers import ToyTrainer, free_port, toy_loop, weights_of


_cfg = toy_loop        # the toy runs' loop (helpers)
_weights = weights_of  # a copy of a ToyTrainer's weights (helpers)


# ----------------------------------------------------------------------------- schedules


def test_constant_then_linear_shape():
    f = constant_then_linear(10, 20)
    assert [f(s) for s in (0, 9, 10)] == [1.0, 1.0, 1.0]
    assert f(20) == pytest.approx(0.5) and f(30) == 0.0 and f(99) == 0.0


def test_cosine_restarts_matches_closed_form():
    f = cosine_restarts([10, 20], eta_min_ratio=0.1, restart_weights=[1.0, 0.5])
    assert f(0) == pytest.approx(1.0)
    assert f(5) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(10) == pytest.approx(0.5)  # restart with weight 0.5
    assert f(20) == pytest.approx(0.1 + 0.4 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(30) == pytest.approx(0.1) and f(1000) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        cosine_restarts([10, 0])


# ----------------------------------------------------------------------------- data order


def test_step_batches_are_disjoint_shards_independent_of_world_size():
    one = list(StepBatches(0, 8, 0, 1, 3))
    r0, r1 = list(StepBatches(0, 8, 0, 2, 3)), list(StepBatches(0, 8, 1, 2, 3))
    for step in range(3):
        assert not set(r0[step]) & set(r1[step])
        assert sorted(r0[step] + r1[step]) == one[step]
    assert list(StepBatches(2, 8, 0, 1, 3)) == one[2:]
    with pytest.raises(ValueError, match="not divisible"):
        StepBatches(0, 6, 0, 4, 3)


# ----------------------------------------------------------------------------- loop


def test_training_lowers_loss_and_logs(tmp_path):
    rt = setup_runtime(_cfg())
    trainer = ToyTrainer(rt, hold=40, decay=20)
    result = train(trainer, rt, _cfg(steps=60, checkpoint_every=100), tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in lines if r["kind"] == "train"]
    assert len(losses) == 60 and sum(losses[-10:]) < 0.2 * sum(losses[:10])
    lrs = [r["lr_net"] for r in lines if r["kind"] == "train"]
    assert lrs[0] == 0.05 and lrs[-1] == pytest.approx(0.05 * (1 - 19 / 20))  # the schedule was applied
    assert result.step == 60 and result.checkpoint == list_checkpoints(tmp_path)[-1][1]


def test_resume_is_exact(tmp_path):
    # Dropout makes the steps random: resume must replay the same randomness.
    rt = setup_runtime(_cfg())
    straight = ToyTrainer(rt, dropout=0.3)
    train(straight, rt, _cfg(steps=8), tmp_path / "a")

    first = ToyTrainer(rt, dropout=0.3)
    train(first, rt, _cfg(steps=4), tmp_path / "b")
    resumed = ToyTrainer(rt, dropout=0.3)  # a new process: fresh weights, then the checkpoint
    result = train(resumed, rt, _cfg(steps=8), tmp_path / "b")
    assert result.resumed_from == 4
    assert first.seen + resumed.seen == straight.seen
    for k, v in _weights(straight).items():
        torch.testing.assert_close(_weights(resumed)[k], v, rtol=0, atol=0)
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [4, 8]


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
    rt = setup_runtime(_cfg())
    trainer = ToyTrainer(rt, nan_at=5)
    with pytest.raises(TrainingDiverged, match=r"step 5.*step_000000004\.pt.*step 4"):
        train(trainer, rt, _cfg(steps=8, checkpoint_every=4), tmp_path)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4]
    state = torch.load(list_checkpoints(tmp_path)[0][1], weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["nets"]["net"].values())


def test_checkpoints_are_pruned(tmp_path):
    rt = setup_runtime(_cfg())
    train(ToyTrainer(rt), rt, _cfg(steps=8, checkpoint_every=2, keep_checkpoints=2), tmp_path)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [6, 8]


def test_amp_on_cpu_is_refused():
    with pytest.raises(ValueError, match="CUDA"):
        setup_runtime(_cfg(amp="bf16", device="cpu"))


# ----------------------------------------------------------------------------- DDP


def _ddp_worker(rank: int, world: int, port: int, run_dir: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    cfg = _cfg(steps=6, device="cpu")
    rt = setup_runtime(cfg)
    trainer = ToyTrainer(rt)
    train(trainer, rt, cfg, run_dir)
    torch.save({"weights": _weights(trainer), "seen": trainer.seen}, f"{out}/rank{rank}.pt")
    shutdown_runtime(rt)


def test_ddp_two_processes_on_cpu(tmp_path):
    mp.spawn(_ddp_worker, args=(2, free_port(), str(tmp_path / "run"), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in r0["weights"]:
        torch.testing.assert_close(r0["weights"][k], r1["weights"][k], rtol=0, atol=0)  # replicas agree
    assert not set(r0["seen"]) & set(r1["seen"])  # disjoint shards
    # Averaged gradients of two half batches equal the gradient of the whole batch.
    rt = setup_runtime(_cfg())
    single = ToyTrainer(rt)
    train(single, rt, _cfg(steps=6), tmp_path / "single")
    assert sorted(single.seen) == sorted(r0["seen"] + r1["seen"])
    for k, v in _weights(single).items():
        torch.testing.assert_close(r0["weights"][k], v, rtol=1e-5, atol=1e-6)
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [4, 6]  # written once, by rank 0


def test_tensorboard_scalars_and_images(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    class WithImages(ToyTrainer):
        def sample_images(self, batch):
            return {"samples": torch.rand(2, 3, 8, 8)}

    rt = setup_runtime(_cfg())
    train(WithImages(rt), rt, _cfg(steps=4, tensorboard=True, image_every=2, eval_every=2), tmp_path)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert {"train/loss", "train/lr_net", "eval/w_error"} <= set(acc.Tags()["scalars"])
    assert len(acc.Scalars("train/loss")) == 4 and "samples" in acc.Tags()["images"]
