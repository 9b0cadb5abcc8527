"""Training-step throughput and peak memory of the translator (G + D + perceptual loss).

    python benchmarks/translator_speed.py --threads 2 --batches 1 4 16 --repeats 3 [--perceptual reference]

One full step of :class:`blur2blur.train.translator.TranslatorTrainer`: D update (log loss +
gradient penalty between y and G(y)), then G update (adversarial + multi-scale perceptual
loss), at the paper's sizes: b2b_translator (MIMO-UNet, 8 blocks), the 3-scale PatchGAN
(ndf 64), VGG (random weights: speed does not depend on them), 256x256 crops of random data.
K is precomputed (as with `known-set make`), so no kernel extractor runs in the step.
Each batch size runs in its own process; peak memory = max RSS minus RSS after set-up.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(batch: int, threads: int, repeats: int, perceptual: str) -> dict:
    import logging
    import tempfile
    from pathlib import Path

    import torch

    from blur2blur.data.images import write_image
    from blur2blur.train.loop import LoopConfig, StepContext, setup_runtime
    from blur2blur.train.translator import TranslatorConfig, TranslatorTrainer

    logging.disable(logging.WARNING)  # the random-VGG warning: intended here
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_image(torch.rand(3, 256, 256), Path(tmp) / "x.png")
        cfg = TranslatorConfig(vgg_weights="random", perceptual=perceptual,
                               loop=LoopConfig(batch_size=batch, device="cpu"))
        rt = setup_runtime(cfg.loop)
        trainer = TranslatorTrainer(cfg, [str(path)], [str(path)], rt)
    base = _rss_mib()
    batch_data = {"blurry": torch.rand(batch, 3, 256, 256), "known": torch.rand(batch, 3, 256, 256)}
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        trainer.train_step(batch_data, StepContext(i, rt, trainer, {}, None))
        if i:
            times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    return {"batch": batch, "s_per_step": t, "s_per_sample": t / batch, "peak_mib": _rss_mib() - base}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--perceptual", default="reference", choices=["paper", "reference"])
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.threads, args.repeats, args.perceptual)))
        return
    rows = []
    for b in args.batches:
        out = subprocess.run([sys.executable, __file__, "--child", str(b), "--threads", str(args.threads),
                              "--repeats", str(args.repeats), "--perceptual", args.perceptual],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.threads} threads, median of {args.repeats}, 256x256, perceptual={args.perceptual}, CPU\n")
    print("| batch | s / step | steps / s | s / sample | peak memory (MiB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['s_per_step']:.2f} | {1 / r['s_per_step']:.3f} | {r['s_per_sample']:.2f} | "
              f"{r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
