"""One GPU check: conformance, forward speed/memory, translator training speed, fit and DDP smoke runs.

    python benchmarks/gpu_check.py --out gpu-check            # on a GPU machine, <= 8 minutes
    python benchmarks/gpu_check.py --out /tmp/gc --quick --device cpu   # the CPU rehearsal (tests)

Run from the repository root (or with blur2blur installed). Writes ``OUT/gpu_check.json`` and
``OUT/gpu_check.md`` (also printed). Sections, in the order they run:

1. ``env``: torch, device, versions.
2. ``conformance``: every reference fixture of ``tests/reference/fixtures`` on the device, in
   fp32 (within 1e-5, as the CPU tests) and under bf16 and fp16 autocast (tolerances below).
3. ``forward``: time and peak memory of the released deblurrers and the composed D'(G(x)),
   random weights, 256x256 and 720x1280, fp32/bf16/fp16, contiguous and channels_last, eager;
   1080p frames per second of the composed model.
4. ``train``: the translator's training step (G + D + VGG loss) at the paper's sizes, batch 1, 4
   and 16, without and with autocast; iterations per second next to the paper's ~3.9 it/s.
5. ``fit``: ``blur2blur fit --preset tiny`` end to end on the bundled demo data (a subprocess).
6. ``ddp``: ``torchrun --nproc_per_node 1 ... extractor train --demo --preset tiny`` on the device;
   on a full run also two gloo processes on the CPU, the only real multi-process check one GPU allows.
7. ``compile``: ``torch.compile`` forward timings (a subprocess: a compile can take a minute, so it
   runs last, gets what is left of the budget, and is killed cleanly when that runs out).

Every section records its own exception; ``--budget-s`` (default 480) bounds the whole run and
sections that no longer fit are recorded as skipped. ``--sections a,b`` runs only those.
``--quick``: tiny models, sizes and steps; the whole run takes well under a minute on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "blur2blur").is_dir():  # run from a checkout: use its code, not an installed copy
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from blur2blur.devices import PRECISIONS, precision_context  # noqa: E402  (the one precision mechanism)

FIXTURE_DIR = ROOT / "tests" / "reference" / "fixtures"

# ----------------------------------------------------------------------------- settings

SECTIONS = ["env", "conformance", "forward", "train", "fit", "ddp", "compile"]

# Reference fixtures and the registered architecture each one builds (as in tests/test_*.py).
FIXTURES = {
    "nafnet_small": "nafnet",
    "nafnet_local_small": "nafnet_local",
    "restormer_small": "restormer",
    "restormer_biasfree_dualpixel_small": "restormer",
    "mimounet_small": "mimo_unet",
    "mimounet_plus_small": "mimo_unet_plus",
    "blur2blur_translator_small": "b2b_translator",
    "blur2blur_discriminator_small": "b2b_discriminator",
    "kernelwizard_small": "kernel_wizard",
    "kernelwizard_small_adapt": "kernel_wizard",
    "kernelwizard_vae_small": "kernel_wizard",
}
FP32_ATOL = 1e-5  # the CPU conformance tests' bound (FIXTURES.md: float32 rounding moves outputs by < 2e-6)
# Autocast runs convolutions and matmuls with bf16/fp16 inputs (fp32 accumulation). One rounding of
# an operand costs a relative error of up to u = 2^-p, p the significand's bits with the implicit one:
# bf16 p = 8 (7 stored) u = 3.9e-3, fp16 p = 11 (10 stored) u = 4.9e-4. Each of the ~10-40 rounding layers
# of these fixture networks adds such an error of the activations' scale; independent errors
# grow like sqrt(depth) (~6 for 36 layers), and normalisation/attention amplify a few ulps. So
# the bound is 16 u times the output's range (max - min of the reference output, at least 1):
# bf16 6.3%, fp16 0.78% of the range. Measured with CPU autocast (torch 2.13) the worst case is 0.14 of
# its bound in both formats (max_err next to tol in the JSON): a 7x margin for the GPU's other kernels,
# while a wrong layer or an overflow moves outputs by O(range). Subtle mistakes (an eps, 1e-4) are the
# fp32 check's job.
AUTOCAST_REL_TOL = {"bf16": 16 * 2.0 ** -8, "fp16": 16 * 2.0 ** -11}

# Released configurations (as benchmarks/speed.py); --quick swaps in tiny ones of the same classes.
NAFNET_W32 = dict(img_channel=3, width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1])
NAFNET_W64 = dict(NAFNET_W32, width=64)
MODELS = {
    "nafnet_gopro_w32": ("nafnet_local", NAFNET_W32),
    "nafnet_gopro_w64": ("nafnet_local", NAFNET_W64),
    "mimo_unet": ("mimo_unet", dict(num_res=8)),
    "mimo_unet_plus": ("mimo_unet_plus", dict(num_res=20)),
    "restormer_motion": ("restormer", dict(dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=4,
                                           heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False,
                                           LayerNorm_type="WithBias")),
    # What `blur2blur fit --preset paper` delivers: G = b2b_translator (MIMO-UNet, 8 blocks), D' = NAFNet w32.
    "composed": ("blur2blur", dict(translator={"arch": "b2b_translator", "args": {"num_res": 8}},
                                   deblurrer={"arch": "nafnet", "args": {k: v for k, v in NAFNET_W32.items()
                                                                         if k != "img_channel"}})),
}
TINY_NAFNET = dict(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])
QUICK_MODELS = {
    "nafnet_gopro_w32": ("nafnet_local", TINY_NAFNET),
    "nafnet_gopro_w64": ("nafnet_local", dict(TINY_NAFNET, width=12)),
    "mimo_unet": ("mimo_unet", dict(num_res=1, base_channel=8)),
    "mimo_unet_plus": ("mimo_unet_plus", dict(num_res=1, base_channel=8)),
    "restormer_motion": ("restormer", dict(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
                                           heads=[1, 2, 2, 4])),
    "composed": ("blur2blur", dict(translator={"arch": "b2b_translator", "args": {"num_res": 1, "base_channel": 8}},
                                   deblurrer={"arch": "nafnet", "args": TINY_NAFNET})),
}
SIZES = [(256, 256), (720, 1280)]
QUICK_SIZES = [(32, 32), (48, 64)]
FPS_SIZE, QUICK_FPS_SIZE = (1080, 1920), (48, 80)
# warm-up calls (cuDNN autotuning, allocator growth) then the median of `repeats` timed calls
WARMUP, REPEATS = 2, 5
QUICK_WARMUP, QUICK_REPEATS = 0, 1  # the rehearsal checks that every path runs, not its speed
FORWARD_CAP_S = 150  # the eager sweep's share of the budget; the rest stays for training, fit, DDP

TRAIN_BATCHES, QUICK_TRAIN_BATCHES = [1, 4, 16], [1, 2]
TRAIN_REPEATS, QUICK_TRAIN_REPEATS = 5, 1
TRAIN_WARMUP, QUICK_TRAIN_WARMUP = 1, 0  # the rehearsal checks that steps run, not their speed
PAPER_IT_S = 1e6 / (3 * 24 * 3600)  # one million iterations in about three days on two A100s: ~3.9 it/s

FIT_STEPS, FIT_TIMEOUT_S = 100, 150  # per stage: past the warm-up to steady steps, then each stage's eval and save
QUICK_FIT_STEPS, QUICK_FIT_TIMEOUT_S = 2, 90
DDP_STEPS, DDP_TIMEOUT_S = 20, 90
QUICK_DDP_STEPS = 2

# Compile priority: the composed model (what users run) and the bf16 path first; the budget decides
# how far down the list a run gets. mode="default": max-autotune takes many minutes per model.
COMPILE_DTYPES = ["bf16", "fp32", "fp16"]
COMPILE_RESERVE_S = 15  # left for writing the report after the compile subprocess is stopped


# ----------------------------------------------------------------------------- helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    # CPU: None. The process RSS would mix in every earlier section; benchmarks/speed.py measures it per process.
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


def timed(fn, device: torch.device, warmup: int, repeats: int):
    """(median seconds of `repeats` calls of `fn` after `warmup` untimed ones, the last result)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def to_device(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_device(v, device) for v in x]
    return x


def flat_tensors(x) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for v in x for t in flat_tensors(v)]


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def use_true_fp32() -> None:
    # "fp32" means fp32: cuDNN convolutions would otherwise run in TF32 (10-bit mantissa) on
    # Ampere and later, far coarser than the 1e-5 fixture bound; the bf16/fp16 rows show the fast paths.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def free(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def child_env() -> dict:
    """Subprocesses import this checkout's blur2blur."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_command(cmd: list[str], timeout: float, log: Path) -> dict:
    """Run `cmd`, its output into `log`; the tail of that output comes back with the exit code."""
    import signal

    t0 = time.perf_counter()
    with open(log, "w") as f:
        # Its own process group: on a timeout the whole tree goes (torchrun's workers, inductor's
        # compile workers), not only the process we started directly.
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
    tail = log.read_text(errors="replace")[-1500:]
    return {"command": " ".join(cmd), "returncode": rc, "seconds": round(time.perf_counter() - t0, 2),
            "ok": rc == 0, "log": str(log), "log_tail": tail}


# ----------------------------------------------------------------------------- sections


def section_env(ctx: dict) -> dict:
    device = ctx["device"]
    info = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device), "tf32": False,
            "cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads(),
            "hostname": platform.node()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    bf16_supported=torch.cuda.is_bf16_supported())
    return info


def _fixture_call(model, name: str, case: dict):
    import torch.nn.functional as F

    x = case["input"]
    if isinstance(x, dict):  # KernelWizard: adaptKernel or forward(sharp, blur)
        return model.apply_kernel(x["sharp"], x["kernel"]) if "kernel" in x else list(model(x["sharp"], x["blur"]))
    if case["name"].endswith("testscript_pad"):  # Restormer's Motion_Deblurring/test.py padding
        h, w = x.shape[-2:]
        ph, pw = (8 - h % 8) % 8, (8 - w % 8) % 8
        return model(F.pad(x, (0, pw, 0, ph), "reflect"))[:, :, :h, :w]
    out = model(x)
    if isinstance(out, torch.Tensor) and isinstance(case["output"], list):
        return list(out)  # the discriminator on a batch: ours is one (B,1,h,w) map, the reference B maps
    return out


def section_conformance(ctx: dict) -> dict:
    from blur2blur.models import create_model, load_weights

    device = ctx["device"]
    rows = []
    for name, arch in FIXTURES.items():
        io = torch.load(FIXTURE_DIR / f"{name}.io.pt", weights_only=True)
        model = create_model(arch, **io["config"])
        load_weights(model, FIXTURE_DIR / io["checkpoint"])
        model = model.eval().to(device)
        for case in io["cases"]:
            if case["output"] is None:  # the reference rejects this input; the CPU tests check ours does too
                continue
            ref = flat_tensors(case["output"])
            lo, hi = min(t.min().item() for t in ref), max(t.max().item() for t in ref)
            inp = dict(case, input=to_device(case["input"], device))
            for dname in PRECISIONS:
                row = {"fixture": name, "case": case["name"], "dtype": dname}
                try:
                    with torch.no_grad(), precision_context(dname, device):
                        out = flat_tensors(_fixture_call(model, name, inp))
                    if [tuple(o.shape) for o in out] != [tuple(r.shape) for r in ref]:
                        raise ValueError(f"shapes {[tuple(o.shape) for o in out]} != {[tuple(r.shape) for r in ref]}")
                    err = max((o.float().cpu() - r).abs().max().item() for o, r in zip(out, ref))
                    tol = FP32_ATOL if dname == "fp32" else AUTOCAST_REL_TOL[dname] * max(1.0, hi - lo)
                    row.update(max_err=err, tol=tol, ok=bool(err <= tol))
                except Exception as e:
                    row.update(ok=False, error=error_text(e))
                rows.append(row)
    summary = {d: {"cases": sum(r["dtype"] == d for r in rows), "failed": sum(r["dtype"] == d and not r["ok"]
                                                                               for r in rows),
                   "max_err": max((r.get("max_err", float("nan")) for r in rows if r["dtype"] == d), default=None)}
               for d in PRECISIONS}
    return {"ok": all(r["ok"] for r in rows), "summary": summary, "rows": rows}


def forward_configs(quick: bool) -> list[dict]:
    """Every (model, size, dtype, memory format) of the forward sweep, in run order.

    channels_last first (the layout tensor-core convolutions want) with the composed model's 1080p
    frame rate, then the contiguous layout to show where channels_last helps: if the time cap
    stops the sweep, it is the comparison that is lost, not a model.
    """
    sizes = QUICK_SIZES if quick else SIZES
    fps = QUICK_FPS_SIZE if quick else FPS_SIZE
    out = []
    for cl in (True, False):
        for key in MODELS:
            for size in sizes:
                for dname in PRECISIONS:
                    out.append({"model": key, "size": size, "dtype": dname, "channels_last": cl})
            if key == "composed" and cl:
                for dname in PRECISIONS:  # 1080p frames per second of what users run
                    out.append({"model": "composed", "size": fps, "dtype": dname, "channels_last": True,
                                "fps": True})
    return out


def run_forward(cfg: dict, ctx: dict, models: dict, compile_backend: str | None = None) -> dict:
    """Time one forward configuration; `models` caches built networks (one per name and memory format)."""
    from blur2blur.models import create_model

    device, quick = ctx["device"], ctx["quick"]
    arch, args = (QUICK_MODELS if quick else MODELS)[cfg["model"]]
    key = (cfg["model"], cfg["channels_last"])
    if key not in models:
        models.clear()  # one network on the device at a time
        free(device)
        torch.manual_seed(0)
        model = create_model(arch, **args).eval().to(device)
        if cfg["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        models[key] = model
    model = models[key]
    call = model
    if compile_backend:
        torch._dynamo.reset()  # a fresh compile per configuration, timed as such
        call = torch.compile(model, backend=compile_backend, dynamic=False)
    h, w = cfg["size"]
    x = torch.rand(1, 3, h, w, device=device)
    if cfg["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    def fwd():
        with torch.inference_mode(), precision_context(cfg["dtype"], device):
            return call(x)

    reset_peak(device)
    row = dict(cfg, size=f"{h}x{w}")
    if compile_backend:
        t0 = time.perf_counter()
        fwd()  # the compile itself
        sync(device)
        row["compile_s"] = time.perf_counter() - t0
    warmup, repeats = (QUICK_WARMUP, QUICK_REPEATS) if quick else (WARMUP, REPEATS)
    if h * w >= 720 * 1280:
        warmup, repeats = 1, 3  # large frames: each call is long enough to time on its own
    t, out = timed(fwd, device, warmup, repeats)
    out = out[-1] if isinstance(out, (list, tuple)) else out
    row.update(seconds=t, peak_mib=peak_mib(device), finite=bool(torch.isfinite(out).all().item()))
    if cfg.get("fps"):
        row["frames_per_s"] = 1.0 / t
    return row


def section_forward(ctx: dict) -> dict:
    device = ctx["device"]
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest algorithms
    cap = min(FORWARD_CAP_S, ctx["remaining"]() - 60)
    t_start, rows, models = time.perf_counter(), [], {}
    for cfg in forward_configs(ctx["quick"]):
        if time.perf_counter() - t_start > cap:
            rows.append(dict(cfg, size="x".join(map(str, cfg["size"])), skipped="forward time cap"))
            continue
        try:
            rows.append(run_forward(cfg, ctx, models))
        except Exception as e:
            rows.append(dict(cfg, size="x".join(map(str, cfg["size"])), error=error_text(e)))
            models.clear()
            free(device)
    models.clear()
    free(device)
    return {"rows": rows, "fp32_note": "TF32 off (true fp32)"}


def section_train(ctx: dict) -> dict:
    import dataclasses
    import logging

    from blur2blur.data.images import write_image
    from blur2blur.fit import paper_config
    from blur2blur.train.loop import Runtime, StepContext
    from blur2blur.train.translator import TranslatorTrainer

    device, quick = ctx["device"], ctx["quick"]
    logging.disable(logging.WARNING)  # the random-VGG warning: intended here (speed does not depend on weights)
    cfg = dataclasses.replace(paper_config().translator, vgg_weights="random")
    if quick:  # same trainer, a tiny G and D on 96-px crops (the smallest the 3-scale D accepts)
        cfg = dataclasses.replace(cfg, arch_args={"num_res": 1, "base_channel": 8}, disc_ndf=8, crop=96)
    batches = QUICK_TRAIN_BATCHES if quick else TRAIN_BATCHES
    repeats = QUICK_TRAIN_REPEATS if quick else TRAIN_REPEATS
    warmup = QUICK_TRAIN_WARMUP if quick else TRAIN_WARMUP
    # amp=auto picks bf16 on an H200 (and on any GPU with bf16); fp16 would add a GradScaler.
    amps = {"off": None, "bf16": torch.bfloat16}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # One trainer for every row (its data set is never read: the batches below are random).
        # The autocast mode lives in the Runtime handed to each step, so the rows differ only in it.
        path = write_image(torch.rand(3, cfg.crop, cfg.crop), Path(tmp) / "x.png")
        torch.manual_seed(0)
        trainer = TranslatorTrainer(dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, device=str(device))),
                                    [str(path)], [str(path)], Runtime(device=device))
    step = iter(range(10 ** 6))
    for amp, dtype in amps.items():
        rt = Runtime(device=device, amp_dtype=dtype)
        for b in batches:
            row = {"batch": b, "autocast": amp, "crop": cfg.crop}
            if ctx["remaining"]() < 40:
                rows.append(dict(row, skipped="budget"))
                continue
            try:
                free(device)
                data = {"blurry": torch.rand(b, 3, cfg.crop, cfg.crop, device=device),
                        "known": torch.rand(b, 3, cfg.crop, cfg.crop, device=device)}
                reset_peak(device)
                def one_step(data=data, rt=rt, trainer=trainer):
                    return trainer.train_step(data, StepContext(next(step), rt, trainer, {}, None))

                t, losses = timed(one_step, device, warmup, repeats)
                row.update(s_per_step=t, it_per_s=1 / t, s_per_sample=t / b, peak_mib=peak_mib(device),
                           finite=all(bool(torch.isfinite(torch.as_tensor(v)).all()) for v in losses.values()))
                if b == 16:  # the paper's rate was two A100s together, so 0.5 here would be par per GPU
                    row.update(paper_it_per_s=PAPER_IT_S, vs_paper=(1 / t) / PAPER_IT_S)
                del data
            except Exception as e:
                row["error"] = error_text(e)
            rows.append(row)
    del trainer
    logging.disable(logging.NOTSET)
    free(device)
    return {"rows": rows, "paper_it_per_s": PAPER_IT_S,
            "note": "paper: 1M iterations in ~3 days on two A100s (~3.9 it/s at batch 16)"}


def _demo_camera_images(folder: Path, quick: bool) -> tuple[Path, Path]:
    """B and S for `fit` from the demo's unknown-camera photos: B motion-blurred, S other scenes."""
    from blur2blur.data.demo import demo_camera_sharp
    from blur2blur.data.images import read_image, write_image
    from blur2blur.data.synthetic import blur_with_kernels, motion_kernel

    photos = demo_camera_sharp()
    n = 3 if quick else 8
    for i, p in enumerate(photos[:n]):
        img = read_image(p)[0][:, :128, :160] if quick else read_image(p)[0]
        write_image(blur_with_kernels(img[None], motion_kernel(11, 30.0 * i, 0.5)[None])[0], folder / "B" / f"{i}.png")
    for i, p in enumerate(photos[n:2 * n]):
        img = read_image(p)[0][:, :128, :160] if quick else read_image(p)[0]
        write_image(img, folder / "S" / f"{i}.png")
    return folder / "B", folder / "S"


def _loop_sets(parts: list[str], steps: int, quick: bool, prefix: str = "") -> list[str]:
    sets = []
    for part in parts:
        p = f"{prefix}{part}.loop." if part else f"{prefix}loop."
        sets += ["--set", f"{p}steps={steps}"]
        if quick:  # as tests/test_fit.py: no worker processes, batch 2, no TensorBoard
            sets += ["--set", f"{p}num_workers=0", "--set", f"{p}batch_size=2", "--set", f"{p}tensorboard=false"]
    return sets


def section_fit(ctx: dict) -> dict:
    import shutil

    quick, out = ctx["quick"], ctx["out"]
    work = out / "fit"
    shutil.rmtree(work, ignore_errors=True)  # a rerun into the same --out would otherwise resume: nothing to do
    b, s = _demo_camera_images(work, quick)
    cmd = [sys.executable, "-m", "blur2blur.cli", "fit", "--blurry", str(b), "--sharp", str(s), "--demo-pairs",
           "--out", str(work / "run"), "--preset", "tiny", "--device", str(ctx["device"])]
    cmd += _loop_sets(["extractor", "deblurrer", "translator"], QUICK_FIT_STEPS if quick else FIT_STEPS, quick)
    if quick:  # tests/test_fit.py's tiny networks: seconds on a CPU
        cmd += ["--set", "extractor.arch.nf=8", "--set", "extractor.arch.kernel_dim=16",
                "--set", "extractor.val_size=128", "--set", "deblurrer.crop=64", "--set", "deblurrer.val_size=64",
                "--set", "translator.crop=96", "--set", "translator.d_warmup=1", "--set", "translator.disc_ndf=8",
                "--set", "translator.arch_args={num_res: 1, base_channel: 8}"]
    timeout = min(QUICK_FIT_TIMEOUT_S if quick else FIT_TIMEOUT_S, ctx["remaining"]() - 30)
    res = run_command(cmd, timeout, out / "fit.log")
    res["final_model"] = (work / "run" / "blur2blur.safetensors").exists()
    res["ok"] = res["ok"] and res["final_model"]
    return res


def section_ddp(ctx: dict) -> dict:
    quick, out, device = ctx["quick"], ctx["out"], ctx["device"]
    steps = QUICK_DDP_STEPS if quick else DDP_STEPS
    sets = _loop_sets([""], steps, quick) + ["--set", "loop.eval_every=0"]
    if quick:
        sets += ["--set", "arch.nf=8", "--set", "arch.kernel_dim=16", "--set", "val_size=128"]
    import shutil

    shutil.rmtree(out / "ddp", ignore_errors=True)  # a rerun would otherwise resume the finished runs
    runs = {}
    # nproc 1 on the device: WORLD_SIZE=1, so setup_runtime starts no process group; it checks the
    # torchrun launch and training on the device. Two processes cannot share one GPU under NCCL, so
    # a full run adds two gloo processes on the CPU: real DDP (gradient all-reduce, sampler split).
    plans = [("torchrun_1proc", 1, str(device))] + ([] if quick else [("torchrun_2proc_cpu_gloo", 2, "cpu")])
    for name, nproc, dev in plans:
        if ctx["remaining"]() < 60:
            runs[name] = {"skipped": "budget", "ok": False}
            continue
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               "-m", "blur2blur.cli", "extractor", "train", "--demo", "--preset", "tiny", "--device", dev,
               "--out", str(out / "ddp" / name / "extractor.safetensors")] + sets
        runs[name] = run_command(cmd, min(DDP_TIMEOUT_S, ctx["remaining"]() - 30), out / f"ddp_{name}.log")
        runs[name]["ok"] = runs[name]["ok"] and (out / "ddp" / name / "extractor.safetensors").exists()
    return {"ok": all(r["ok"] for r in runs.values()), "runs": runs}


def compile_configs(quick: bool) -> list[dict]:
    sizes = QUICK_SIZES if quick else SIZES
    out = []
    for dname in COMPILE_DTYPES:  # priority order: bf16 first, the largest frame first, composed first
        for size in reversed(sizes):
            for key in ["composed"] + [k for k in MODELS if k != "composed"]:
                out.append({"model": key, "size": size, "dtype": dname, "channels_last": True, "compiled": True})
    return out[:1] if quick else out  # quick: one dynamo trace of the composed model


def compile_child(ctx: dict, rows_path: Path) -> None:
    """In the compile subprocess: time each compiled configuration, one JSON line each as it finishes."""
    torch.backends.cudnn.benchmark = True
    use_true_fp32()
    models = {}
    for cfg in compile_configs(ctx["quick"]):
        try:
            row = run_forward(cfg, ctx, models, compile_backend=ctx["compile_backend"])
        except Exception as e:
            row = dict(cfg, size="x".join(map(str, cfg["size"])), error=error_text(e))
        with open(rows_path, "a") as f:
            f.write(json.dumps(row) + "\n")


def section_compile(ctx: dict) -> dict:
    out = ctx["out"]
    rows_path = out / "compile_rows.jsonl"
    rows_path.unlink(missing_ok=True)
    timeout = ctx["remaining"]() - COMPILE_RESERVE_S
    if timeout < 20:
        return {"skipped": "budget", "rows": []}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-compile", str(rows_path), "--out", str(out),
           "--device", str(ctx["device"]), "--compile-backend", ctx["compile_backend"]] + (["--quick"] if
                                                                                        ctx["quick"] else [])
    res = run_command(cmd, timeout, out / "compile.log")
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    done = {(r["model"], r["size"], r["dtype"]) for r in rows}
    reason = "budget (compile subprocess stopped)" if res["returncode"] == "timeout" else \
        f"compile subprocess ended (rc {res['returncode']})"
    for cfg in compile_configs(ctx["quick"]):
        size = "x".join(map(str, cfg["size"]))
        if (cfg["model"], size, cfg["dtype"]) not in done:
            rows.append(dict(cfg, size=size, skipped=reason))
    return {"backend": ctx["compile_backend"], "subprocess": res, "rows": rows}


# ----------------------------------------------------------------------------- report


def _fmt(v, digits=4):
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def vs_paper(row: dict) -> str:
    return f"{row['vs_paper']:.2f}x the paper's {PAPER_IT_S:.1f} it/s (two A100s)" if "vs_paper" in row else ""


def markdown(report: dict) -> str:
    meta, sec = report["meta"], report["sections"]
    lines = [f"# gpu_check ({'quick' if meta['quick'] else 'full'}) on {meta['device']}", "",
             f"{meta['started']}, budget {meta['budget_s']} s, took {meta['seconds']:.0f} s", "",
             "| section | status | seconds | note |", "|---|---|---|---|"]
    for name in SECTIONS:
        s = sec.get(name, {})
        note = (s.get("error") or s.get("reason") or "").replace("\n", " ")[:120]
        lines.append(f"| {name} | {s.get('status', '-')} | {_fmt(s.get('seconds'), 3)} | {note} |")
    env = sec.get("env", {}).get("result")
    if env:
        lines += ["", "Environment: " + ", ".join(f"{k}={v}" for k, v in env.items())]
    conf = sec.get("conformance", {}).get("result")
    if conf:
        lines += ["", "## Conformance (reference fixtures)", "", "| dtype | cases | failed | max error |",
                  "|---|---|---|---|"]
        for d, s in conf["summary"].items():
            lines.append(f"| {d} | {s['cases']} | {s['failed']} | {_fmt(s['max_err'], 3)} |")
        bad = [r for r in conf["rows"] if not r["ok"]]
        for r in bad[:20]:
            why = r.get("error") or "max error {:.3g} > {:.3g}".format(r["max_err"], r["tol"])
            lines.append(f"\nFAILED {r['fixture']}/{r['case']} {r['dtype']}: {why}")
    for name, title in (("forward", "Forward (eager)"), ("compile", "Forward (torch.compile)")):
        res = sec.get(name, {}).get("result")
        if not res:
            continue
        lines += ["", f"## {title}", "",
                  "| model | size | dtype | channels_last | s / call | peak MiB (weights incl.) | note |",
                  "|---|---|---|---|---|---|---|"]
        for r in res["rows"]:
            note = r.get("error") or r.get("skipped") or ""
            if "frames_per_s" in r:
                note = f"{r['frames_per_s']:.2f} frames/s"
            if "compile_s" in r:
                note = f"compile {r['compile_s']:.1f} s"
            if r.get("finite") is False:  # e.g. fp16 overflow with random weights: shown, not a failure
                note = f"NON-FINITE output {note}"
            lines.append(f"| {r['model']} | {r['size']} | {r['dtype']} | {r['channels_last']} | "
                         f"{_fmt(r.get('seconds'))} | {_fmt(r.get('peak_mib'), 5)} | {note[:100]} |")
    tr = sec.get("train", {}).get("result")
    if tr:
        lines += ["", f"## Translator training step (paper: ~{PAPER_IT_S:.1f} it/s at batch 16, two A100s)", "",
                  "| batch | crop | autocast | s / step | it / s | s / sample | peak MiB | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in tr["rows"]:
            lines.append(f"| {r['batch']} | {r['crop']} | {r['autocast']} | {_fmt(r.get('s_per_step'))} | "
                         f"{_fmt(r.get('it_per_s'))} | {_fmt(r.get('s_per_sample'))} | {_fmt(r.get('peak_mib'), 5)} | "
                         f"{(r.get('error') or r.get('skipped') or vs_paper(r))[:100]} |")
    runs = {}
    if sec.get("fit", {}).get("result"):
        runs["fit"] = sec["fit"]["result"]
    for k, v in (sec.get("ddp", {}).get("result") or {}).get("runs", {}).items():
        runs[f"ddp {k}"] = v
    if runs:
        lines += ["", "## Subprocess runs", "", "| run | ok | exit | seconds |", "|---|---|---|---|"]
        for k, v in runs.items():
            exit_code = v.get("returncode", v.get("skipped"))
            lines.append(f"| {k} | {v.get('ok')} | {exit_code} | {_fmt(v.get('seconds'))} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json, gpu_check.md and logs")
    ap.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda if available)")
    ap.add_argument("--quick", action="store_true", help="tiny models, sizes and steps (the CPU rehearsal)")
    ap.add_argument("--budget-s", type=float, default=480, help="overall time limit; later sections are skipped")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset to run")
    ap.add_argument("--compile-backend", default=None,
                    help="torch.compile backend (default: inductor; with --quick: eager, i.e. dynamo "
                         "tracing only, seconds instead of minutes of C++ compiling on a CPU)")
    ap.add_argument("--child-compile", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    t0 = time.perf_counter()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if device.index is None:  # torch.cuda.set_device refuses a bare "cuda"
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    use_true_fp32()
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = {"device": device, "quick": args.quick, "out": args.out.resolve(),
           "compile_backend": args.compile_backend or ("eager" if args.quick else "inductor"),
           "remaining": lambda: args.budget_s - (time.perf_counter() - t0)}
    if args.child_compile is not None:
        compile_child(ctx, args.child_compile)
        return 0

    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; known: {SECTIONS}")
    report = {"meta": {"command": " ".join(sys.argv), "device": str(device), "quick": args.quick,
                       "budget_s": args.budget_s, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
              "sections": {}}
    funcs = {"env": section_env, "conformance": section_conformance, "forward": section_forward,
             "train": section_train, "fit": section_fit, "ddp": section_ddp, "compile": section_compile}
    # Seconds a section needs at least to be worth starting (it then bounds itself by what is left).
    min_s = {"env": 0, "conformance": 10, "forward": 60, "train": 40, "fit": 60, "ddp": 60, "compile": 35}
    if args.quick:
        min_s = dict.fromkeys(min_s, 0)
    for name in SECTIONS:
        if name not in wanted:
            report["sections"][name] = {"status": "skipped", "reason": "not in --sections"}
            continue
        if ctx["remaining"]() < min_s[name]:
            report["sections"][name] = {"status": "skipped", "reason": f"budget: {ctx['remaining']():.0f} s left"}
            continue
        s0 = time.perf_counter()
        print(f"[gpu_check] {name} ...", file=sys.stderr, flush=True)
        try:
            result = funcs[name](ctx)
            failed = result.get("ok") is False or any("error" in r for r in result.get("rows", []))
            entry = {"status": "fail" if failed else "ok", "result": result}
        except Exception as e:
            entry = {"status": "error", "error": error_text(e), "traceback": traceback.format_exc()[-3000:]}
            free(device)
        entry["seconds"] = round(time.perf_counter() - s0, 2)
        report["sections"][name] = entry
        # Written after every section: a run killed from outside still leaves what it measured.
        report["meta"]["seconds"] = time.perf_counter() - t0
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    report["meta"]["seconds"] = time.perf_counter() - t0
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    md = markdown(report)
    (args.out / "gpu_check.md").write_text(md)
    print(md)
    return 0 if all(s["status"] in ("ok", "skipped") for s in report["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
