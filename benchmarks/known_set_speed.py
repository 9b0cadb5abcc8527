"""Throughput of known-blur synthesis (``blur2blur known-set make``) on this machine.

    python benchmarks/known_set_speed.py --threads 2 --repeats 3 [--tile 512]

The released extractor's size (KernelWizard nf=64, 10+20 residual blocks, kernel_dim 512) with
random weights (speed does not depend on them). For each size, one K image is
``reblur(sharp, known_sharp, known_blurry)``: encode the known pair's blur, apply it to the
sharp image, clamp, i.e. the work `known-set make` does per image besides file I/O. Then a
whole `make_known_set` run over 4 synthetic 720x1280 PNGs measures images/s including
decoding, encoding and writing. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from blur2blur.data.images import write_image
from blur2blur.known_set import KnownSetConfig, make_known_set, reblur
from blur2blur.data.pairs import find_pairs
from blur2blur.models import create_model

SIZES = [(256, 256), (720, 1280)]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tile", type=int, default=None, help="re-blur in tiles (multiple of 128)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = create_model("kernel_wizard", nf=64, front_RBs=10, back_RBs=20, kernel_dim=512).eval()
    rows = []
    for h, w in SIZES:
        sharp, ks, kb = (torch.rand(1, 3, h, w) for _ in range(3))
        reblur(net, sharp, ks, kb, tile=args.tile)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            reblur(net, sharp, ks, kb, tile=args.tile)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        rows.append((f"reblur {h}x{w}", t, 1 / t))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(4):
            for sub in ("pairs/blur", "pairs/sharp", "camera"):
                write_image(torch.rand(3, 720, 1280), root / sub / f"{i}.png")
        pairs = find_pairs(root / "pairs", "folders")
        sharp = sorted((root / "camera").glob("*.png"))
        t0 = time.perf_counter()
        make_known_set(net, pairs, sharp, root / "K", KnownSetConfig(camera_noise="off", tile=args.tile),
                       progress=False)
        t = (time.perf_counter() - t0) / len(sharp)
        rows.append(("make_known_set 720x1280 (PNG in/out)", t, 1 / t))

    print(f"{args.threads} threads, median of {args.repeats}, tile={args.tile}, torch {torch.__version__}, "
          f"peak RSS {_rss_mib():.0f} MiB\n")
    print("| what | s / image | images / s |\n|---|---|---|")
    for name, t, rate in rows:
        print(f"| {name} | {t:.3f} | {rate:.2f} |")


if __name__ == "__main__":
    main()
