"""The one training loop every trainer of blur2blur runs in.

A trainer (kernel extractor, deblurrer, translator, baselines) says *what* to train: its
networks, optimizers, data and one training step. This module does the rest, once:

* device choice, and DDP when launched by ``torchrun`` (NCCL on GPUs, gloo on CPU: the same
  code runs as one CPU process);
* mixed precision on CUDA (bf16 where supported, else fp16 with a gradient scaler);
* learning-rate schedules as pure functions of the step;
* checkpoints every N steps and exact resume. Nothing random is carried between steps: sample
  ``n`` of the data is a function of ``(seed, n)`` and the step's own randomness (noise draws,
  dropout) is reseeded from ``(seed, step, rank)``, so a checkpoint only needs weights,
  optimizer states and the step number. Trainers build their networks after
  :func:`seed_initialisation`, so a fresh run's initial weights are a function of the seed too.
  A damaged newest checkpoint is set aside (``.damaged``) and the run resumes from the one before;
* a progress bar with losses and ETA, a JSON-lines log, TensorBoard scalars and image grids
  (when ``tensorboard`` is installed);
* NaN/Inf detection: the run stops with a message that names the step and the last good
  checkpoint, which is never overwritten by a diverged state.

Global batch ``B`` on ``W`` processes: process ``r`` gets samples ``step*B + r*B/W ... + B/W - 1``,
so the samples of a step do not depend on the number of processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from blur2blur.config import check_limits, limits
from blur2blur.devices import pick_device
from blur2blur.fileio import atomic_path
from blur2blur.seeding import mix_seed
from blur2blur.train.schedules import Schedule, constant

STATE_FORMAT = "blur2blur-train-state/1"
_CKPT_RE = re.compile(r"^step_(\d{9})\.pt$")


class TrainingDiverged(RuntimeError):
    """A loss or gradient became NaN/Inf; the message names the step and the last good checkpoint."""


@dataclass
class LoopConfig:
    """Mechanics shared by every trainer (the trainers' own configs hold the hyper-parameters)."""

    steps: int = field(default=1000, metadata=limits(minimum=1))
    batch_size: int = field(default=16, metadata=limits(minimum=1))   # global: split evenly across DDP processes
    seed: int = 0
    device: str | None = None          # None: CUDA if available (one GPU per process), else CPU
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto: bf16 (or fp16) on CUDA, off on CPU
    num_workers: int = field(default=2, metadata=limits(minimum=0))  # data-loading processes per training process
    log_every: int = field(default=20, metadata=limits(minimum=1))
    checkpoint_every: int = field(default=1000, metadata=limits(minimum=1))
    keep_checkpoints: int = field(default=2, metadata=limits(minimum=1))
    eval_every: int = field(default=1000, metadata=limits(minimum=0))   # 0: only at the end
    image_every: int = field(default=1000, metadata=limits(minimum=0))  # TensorBoard image grids; 0: never
    grad_clip: float | None = field(default=None, metadata=limits(above=0))  # max global grad norm per optimizer step
    tensorboard: bool = True
    progress: bool = True


# ----------------------------------------------------------------------------- distributed


@dataclass
class Runtime:
    """Where this process runs: device, DDP rank/world size, mixed-precision mode."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp_dtype: torch.dtype | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def prepare(self, module: nn.Module, *, train: bool = True) -> nn.Module:
        """Move `module` to the device; wrap it in DDP when distributed and it has trainable parameters."""
        module = module.to(self.device)
        if self.distributed and train and any(p.requires_grad for p in module.parameters()):
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(module, device_ids=ids)
        return module

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def keep_freed_memory() -> bool:
    """Stop glibc from returning large freed blocks to the OS (Linux CPU training).

    By default every activation above the mmap threshold is mapped and unmapped each step, and
    the page faults of re-mapping it cost more than the arithmetic at batch sizes above 1 (the
    reference trainer's batch 4 took as long per sample as batch 1 partly for this). Keeping
    the memory in the heap trades nothing: the peak is the same. Returns whether it applied.
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False


def setup_runtime(cfg: LoopConfig) -> Runtime:
    """Start DDP if launched by ``torchrun`` (``WORLD_SIZE`` > 1), pick the device and AMP mode.

    Raises ValueError for a ``cfg.device`` that is unknown or absent (e.g. cuda on a CPU build).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(cfg.device, local_rank=local, mps=False)  # ValueError naming an absent device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        keep_freed_memory()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    amp = cfg.amp
    if amp == "auto":
        amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if device.type == "cuda" else "off"
    if amp != "off" and device.type != "cuda":
        raise ValueError(f"amp={amp!r} needs a CUDA device; this run is on {device}")
    dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return Runtime(device=device, rank=rank, world_size=world, amp_dtype=dtype)


def shutdown_runtime(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_initialisation(seed: int) -> None:
    """Seed torch's global generator before a trainer builds its networks (first thing in ``__init__``).

    Two fresh runs with the same ``loop.seed`` then start from bit-identical weights; the stream
    differs from every training step's (:func:`train` reseeds from ``(seed, step, rank, 1)``).
    """
    torch.manual_seed(mix_seed(seed, _INIT_STREAM))


_INIT_STREAM = -1


# ----------------------------------------------------------------------------- the trainer contract


class Trainer:
    """What a trainer provides. Subclasses set the attributes in ``__init__`` and implement `train_step`.

    * ``nets``: the networks whose weights are checkpointed (unwrapped modules);
    * ``optimizers`` and ``schedules`` (one :data:`Schedule` per optimizer, default constant);
    * ``dataset``: a map-style dataset whose item ``n`` is a pure function of ``n``
      (see :class:`blur2blur.data.datasets.PairCrops`), returning a dict of tensors.
    """

    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedules: dict[str, Schedule]
    dataset: Dataset

    def train_step(self, batch: dict[str, torch.Tensor], step: StepContext) -> Mapping[str, torch.Tensor | float]:
        """One optimisation step on `batch` (already on the device); return the scalars to log."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics, run on the main process (default: none)."""
        return {}

    def sample_images(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """(N, 3, H, W) images in [0, 1] to show in TensorBoard (default: none)."""
        return {}


@dataclass
class StepContext:
    """Handed to :meth:`Trainer.train_step`: the step number and the one way to take an optimizer step."""

    step: int
    runtime: Runtime
    trainer: Trainer
    scalers: dict[str, torch.amp.GradScaler]
    grad_clip: float | None

    def autocast(self) -> contextlib.AbstractContextManager:
        return self.runtime.autocast()

    def optimize(self, loss: torch.Tensor, optimizer: str) -> None:
        """Backward `loss`, clip, and step optimizer `optimizer` (a name of ``trainer.optimizers``).

        Raises :class:`TrainingDiverged` before touching the weights if the loss is not finite.
        """
        if not torch.isfinite(loss.detach()).all():
            raise TrainingDiverged(f"loss for optimizer '{optimizer}' is {loss.item()}")
        opt = self.trainer.optimizers[optimizer]
        scaler = self.scalers.get(optimizer)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if self.grad_clip:
            norm = nn.utils.clip_grad_norm_(params, self.grad_clip)
        else:
            norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params])) if params else None
        if scaler is not None:
            scaler.step(opt)  # skips the step itself on inf/nan gradients (fp16 overflow is expected)
            scaler.update()
        else:
            if norm is not None and not torch.isfinite(norm):
                raise TrainingDiverged(f"gradients for optimizer '{optimizer}' are not finite")
            opt.step()


# ----------------------------------------------------------------------------- data


class StepBatches(torch.utils.data.Sampler[list[int]]):
    """Batches of sample indices for steps ``start, start+1, ...``: this process's share of each step."""

    def __init__(self, start_step: int, global_batch: int, rank: int, world_size: int, steps: int):
        if global_batch % world_size:
            raise ValueError(f"batch size {global_batch} is not divisible by the {world_size} processes")
        self.start, self.steps = start_step, steps
        self.global_batch, self.local = global_batch, global_batch // world_size
        self.offset = rank * self.local

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            first = step * self.global_batch + self.offset
            yield list(range(first, first + self.local))

    def __len__(self) -> int:
        return max(0, self.steps - self.start)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


# ----------------------------------------------------------------------------- checkpoints


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the training-state checkpoints of a run, oldest first."""
    d = Path(run_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in d.glob("step_*.pt") if (m := _CKPT_RE.match(p.name))]
    return sorted(found)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_state(run_dir: Path, step: int, trainer: Trainer, scalers: Mapping[str, torch.amp.GradScaler],
               keep: int, meta: Mapping[str, Any]) -> Path:
    """Write the training state after `step` steps and prune old ones (keeping `keep`)."""
    state = {
        "format": STATE_FORMAT,
        "step": step,
        "nets": {k: unwrap(m).state_dict() for k, m in trainer.nets.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "scalers": {k: s.state_dict() for k, s in scalers.items()},
        "meta": dict(meta),
    }
    d = run_dir / "checkpoints"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"step_{step:09d}.pt"
    _atomic_torch_save(state, path)
    for _, old in list_checkpoints(run_dir)[:-max(1, keep)]:
        old.unlink(missing_ok=True)
    return path


class DamagedCheckpoint(ValueError):
    """A training-state file that cannot be read (truncated, empty, not a checkpoint); names the file."""


def load_state(path: Path, trainer: Trainer, scalers: Mapping[str, torch.amp.GradScaler]) -> dict[str, Any]:
    """Restore nets, optimizers and scalers from a :func:`save_state` file; return the state.

    Raises :class:`DamagedCheckpoint` when the file cannot be read at all (nothing is restored then).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises RuntimeError, EOFError, UnpicklingError, ... for a damaged file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        size = f"{path.stat().st_size} bytes; " if path.exists() else ""
        raise DamagedCheckpoint(f"{path}: cannot be read ({size}{first})") from None
    if not isinstance(state, dict):
        raise DamagedCheckpoint(f"{path}: not a blur2blur training state")
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a blur2blur training state (format {state.get('format')!r})")
    missing = set(trainer.nets) - set(state["nets"])
    if missing:
        raise ValueError(f"{path}: has no weights for {sorted(missing)}")
    for k, m in trainer.nets.items():
        unwrap(m).load_state_dict(state["nets"][k])
    for k, o in trainer.optimizers.items():
        o.load_state_dict(state["optimizers"][k])
    for k, s in scalers.items():
        if k in state["scalers"]:
            s.load_state_dict(state["scalers"][k])
    return state


# ----------------------------------------------------------------------------- logging


class _Logger:
    """JSON lines + TensorBoard (if installed) on the main process; silent elsewhere."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool):
        self.enabled = enabled
        self.tb = None
        self.file = None
        if not enabled:
            return
        self.file = open(run_dir / "log.jsonl", "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("blur2blur: tensorboard is not installed; logging to log.jsonl only "
                      "(pip install tensorboard for curves and image grids)", file=sys.stderr)
            else:
                self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def scalars(self, step: int, values: Mapping[str, float], kind: str = "train") -> None:
        if not self.enabled:
            return
        record = {"step": step, "kind": kind, "time": round(time.time(), 3), **values}
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"{kind}/{k}", v, step)

    def images(self, step: int, grids: Mapping[str, torch.Tensor]) -> None:
        if self.tb is not None:
            for k, v in grids.items():
                self.tb.add_images(k, v.detach().float().clamp(0, 1).cpu(), step)

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.tb is not None:
            self.tb.close()


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="step", dynamic_ncols=True)


# ----------------------------------------------------------------------------- the loop


@dataclass
class LoopResult:
    step: int                      # steps done in total (including resumed ones)
    resumed_from: int | None       # step of the checkpoint the run resumed from
    last_scalars: dict[str, float]
    eval: dict[str, float]
    checkpoint: Path | None        # last training-state file written


def train(trainer: Trainer, runtime: Runtime, cfg: LoopConfig, run_dir: str | os.PathLike, *,
          meta: Mapping[str, Any] | None = None, desc: str = "training",
          on_eval: Callable[[int, dict[str, float]], None] | None = None) -> LoopResult:
    """Run `trainer` for ``cfg.steps`` steps, resuming from the newest checkpoint in `run_dir`.

    `meta` (JSON-serialisable: usually the config) is stored in every checkpoint. A `cfg` outside
    its limits (built in Python, not read by :mod:`blur2blur.config`) raises ConfigError first.
    """
    check_limits(cfg, "loop")
    run_dir = Path(run_dir)
    if runtime.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    runtime.barrier()
    scalers = {k: torch.amp.GradScaler("cuda") for k in trainer.optimizers} \
        if runtime.amp_dtype == torch.float16 else {}
    schedules = {k: getattr(trainer, "schedules", {}).get(k, constant()) for k in trainer.optimizers}
    for opt in trainer.optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])

    start, resumed_from, last_ckpt = 0, None, None
    for at, path in reversed(list_checkpoints(run_dir)):
        try:
            load_state(path, trainer, scalers)
        except DamagedCheckpoint as e:
            # Killed while the disk filled, or copied halfway: keep the file for a look, use the one before.
            if runtime.is_main:
                os.replace(path, path.with_name(path.name + ".damaged"))
            print(f"blur2blur: {e}; set aside as {path.name}.damaged, trying the previous checkpoint",
                  file=sys.stderr)
            continue
        resumed_from, last_ckpt, start = at, path, at
        break
    if start >= cfg.steps:
        return LoopResult(start, resumed_from, {}, {}, last_ckpt)

    loader = DataLoader(
        trainer.dataset,
        batch_sampler=StepBatches(start, cfg.batch_size, runtime.rank, runtime.world_size, cfg.steps),
        num_workers=cfg.num_workers, persistent_workers=False,
        pin_memory=runtime.device.type == "cuda",
    )
    log = _Logger(run_dir, runtime.is_main, cfg.tensorboard)
    bar = _progress(cfg.steps, start, runtime.is_main and cfg.progress, desc)
    smooth: dict[str, float] = {}
    last: dict[str, float] = {}
    evals: dict[str, float] = {}
    step = start
    meta = dict(meta or {})

    def checkpoint(at: int) -> Path | None:
        path = save_state(run_dir, at, trainer, scalers, cfg.keep_checkpoints, meta) if runtime.is_main else None
        runtime.barrier()
        return path

    def run_eval(at: int) -> dict[str, float]:
        if not runtime.is_main:
            return {}
        for m in trainer.nets.values():
            m.eval()
        with torch.no_grad():
            values = trainer.evaluate()
        for m in trainer.nets.values():
            m.train()
        if values:
            log.scalars(at, values, kind="eval")
            bar.write(f"step {at}: " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()))
            if on_eval:
                on_eval(at, values)
        return values

    try:
        for m in trainer.nets.values():
            m.train()
        for batch in loader:
            for k, opt in trainer.optimizers.items():
                factor = schedules[k](step)
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            torch.manual_seed(mix_seed(cfg.seed, step, runtime.rank, 1))
            batch = _to_device(batch, runtime.device)
            ctx = StepContext(step, runtime, trainer, scalers, cfg.grad_clip)
            try:
                out = trainer.train_step(batch, ctx)
                values = {k: float(v) for k, v in out.items()}
                bad = [k for k, v in values.items() if not math.isfinite(v)]
                if bad:
                    raise TrainingDiverged(f"{', '.join(bad)} not finite")
            except TrainingDiverged as e:
                where = f"the last good checkpoint is {last_ckpt} (step {list_checkpoints(run_dir)[-1][0]})" \
                    if last_ckpt else "no checkpoint was written yet"
                raise TrainingDiverged(
                    f"training diverged at step {step}: {e}. Stopped; {where}. Lower the learning rate or set "
                    "a gradient clip, then rerun the same command to resume from that checkpoint") from None
            step += 1
            last = values
            for k, v in values.items():
                smooth[k] = v if k not in smooth else 0.9 * smooth[k] + 0.1 * v
            if runtime.is_main:
                bar.update(1)
                if step % cfg.log_every == 0 or step == cfg.steps:
                    lrs = {f"lr_{k}": o.param_groups[0]["lr"] for k, o in trainer.optimizers.items()}
                    log.scalars(step, {**values, **lrs})
                    bar.set_postfix({k: f"{v:.4g}" for k, v in smooth.items()}, refresh=False)
                if cfg.image_every and step % cfg.image_every == 0 and log.tb is not None:
                    with torch.no_grad():
                        log.images(step, trainer.sample_images(batch))
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                evals = run_eval(step) or evals
            if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                last_ckpt = checkpoint(step) or last_ckpt
        evals = run_eval(step) or evals
        last_ckpt = checkpoint(step) or last_ckpt
    except KeyboardInterrupt:
        if step > start:
            last_ckpt = checkpoint(step) or last_ckpt
        bar.close()
        print(f"\ninterrupted after step {step}; saved {last_ckpt}. Rerun the same command to resume.",
              file=sys.stderr)
        raise
    finally:
        bar.close()
        log.close()
    return LoopResult(step, resumed_from, last, evals, last_ckpt)


def train_and_save(trainer: Trainer, runtime: Runtime, cfg: LoopConfig, run_dir: str | os.PathLike,
                   net: nn.Module, out: str | os.PathLike, *, config: Mapping[str, Any], info: Mapping[str, Any],
                   desc: str) -> tuple[LoopResult, dict[str, float]] | None:
    """:func:`train`, shut the runtime down, then (main process) write `net` to `out` with its held-out
    metrics and `config` in the checkpoint header. Returns (result, metrics) on the main process, else None.
    """
    from blur2blur.models import save_checkpoint

    try:
        result = train(trainer, runtime, cfg, run_dir, meta={"config": dict(config)}, desc=desc)
    finally:
        shutdown_runtime(runtime)
    if not runtime.is_main:
        return None
    metrics = result.eval
    if not metrics:  # nothing left to train (resumed at the end): measure now
        with torch.no_grad():
            metrics = trainer.evaluate()
    save_checkpoint(unwrap(net).cpu(), out, info={**info, "steps": result.step, "heldout": metrics,
                                                  "config": dict(config)})
    return result, metrics


__all__ = [
    "DamagedCheckpoint",
    "LoopConfig",
    "LoopResult",
    "Runtime",
    "StepBatches",
    "StepContext",
    "Trainer",
    "TrainingDiverged",
    "list_checkpoints",
    "load_state",
    "save_state",
    "seed_initialisation",
    "setup_runtime",
    "shutdown_runtime",
    "train",
    "train_and_save",
    "unwrap",
]
