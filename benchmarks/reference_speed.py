"""CPU forward time of our networks beside the reference implementations, and as a share of the machine's limit.

    python benchmarks/reference_speed.py --reference SCRATCH --threads 2 --rounds 7

SCRATCH is a folder outside the project holding the public reference code: NAFNet's
``basicsr/models/archs/{NAFNet_arch,arch_util,local_arch}.py`` (megvii-research/NAFNet) and
MIMO-UNet's ``models/{MIMOUNet,layers}.py`` (chosj95/MIMO-UNet), Restormer's
``basicsr/models/archs/restormer_arch.py`` (swz30/Restormer) and the ``einops`` package it imports
(``pip install --target SCRATCH einops``), with empty ``__init__.py`` files and a
``basicsr/utils/__init__.py`` defining ``get_root_logger`` (the only other import arch_util makes).
The project never imports it; only this script does, from that path.

In one process, for each network: ours and the reference's are built with the same weights (the
reference's outputs are checked equal to ours first, so the two run the same computation), then
timed alternately (one call each per round, so a slow patch of the machine hits both), on a
1x3x256x256 input, float32, ``torch.inference_mode``. Reported: the median time of each, the ratio,
the forward FLOPs (``torch.utils.flop_counter``: convolutions and matrix products, 2 per
multiply-add; element-wise work is not counted), the FLOP/s each achieves, and that as a share of
the machine's own fp32 matmul throughput (a 2048x2048 product, measured in the same run at the same
thread count): the share carries over between machines where seconds do not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from blur2blur.models import create_model

NAFNET_GOPRO_W32 = dict(img_channel=3, width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1,
                        dec_blk_nums=[1, 1, 1, 1])

RESTORMER_MOTION = dict(dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=4, heads=[1, 2, 4, 8],
                        ffn_expansion_factor=2.66, bias=False, LayerNorm_type="WithBias")


def reference_nets(reference: Path) -> dict:
    """name -> (our network, the reference's network builder)."""
    sys.path.insert(0, str(reference))
    from basicsr.models.archs.NAFNet_arch import NAFNetLocal
    from basicsr.models.archs.restormer_arch import Restormer
    from models.MIMOUNet import MIMOUNet

    return {
        "nafnet_gopro_w32": (lambda: create_model("nafnet_local", **NAFNET_GOPRO_W32),
                             lambda: NAFNetLocal(train_size=(1, 3, 256, 256), fast_imp=False, **NAFNET_GOPRO_W32)),
        "mimo_unet": (lambda: create_model("mimo_unet", num_res=8), lambda: MIMOUNet(num_res=8)),
        "restormer_motion": (lambda: create_model("restormer", **RESTORMER_MOTION),
                             lambda: Restormer(**RESTORMER_MOTION)),
    }


def matmul_flops(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """The machine's fp32 matmul throughput (FLOP/s): the median of `repeats` n x n products."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times)


def forward_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass (convolutions and matrix products)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        net(x)
    return counter.get_total_flops()


def first(out):
    return out[-1] if isinstance(out, (list, tuple)) else out


def side_by_side(name: str, ours_fn, ref_fn, threads: int, rounds: int, peak: float, compile_: bool = False) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = ours_fn().eval()
    ref = ref_fn().eval()
    ref.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        err = (first(ours(x)) - first(ref(x))).abs().max().item()
    if err > 1e-4:
        raise SystemExit(f"{name}: ours and the reference differ by {err:.2e}: not the same network")
    flops = forward_flops(ours, x)
    contenders = [("ours", ours), ("reference", ref)]
    compile_s = None
    if compile_:
        compiled = torch.compile(ours)
        with torch.inference_mode():
            t = time.perf_counter()
            compiled(x)  # the compilation itself, reported on its own
            compile_s = time.perf_counter() - t
            err_c = (first(compiled(x)) - first(ours(x))).abs().max().item()
        if err_c > 1e-4:
            raise SystemExit(f"{name}: the compiled network differs from ours by {err_c:.2e}")
        contenders.append(("compiled", compiled))
    times: dict[str, list[float]] = {key: [] for key, _ in contenders}
    with torch.inference_mode():
        for _ in range(rounds + 1):  # the first round warms every contender up and is not counted
            for key, net in contenders:
                t = time.perf_counter()
                net(x)
                times[key].append(time.perf_counter() - t)
    med = {k: statistics.median(v[1:]) for k, v in times.items()}
    row = {"network": name, "gflops": flops / 1e9, "max_abs_diff": err}
    for key in times:
        row.update({f"{key}_s": med[key], f"{key}_share": flops / med[key] / peak, f"{key}_all_s": times[key][1:]})
    row["ratio"] = med["ours"] / med["reference"]
    if compile_:
        row.update(compile_s=compile_s, compiled_ratio=med["compiled"] / med["reference"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True, help="folder holding the reference code (see above)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="", help="comma-separated network names")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--compile", action="store_true",
                    help="also time ours under torch.compile (inductor); the compilation time is reported apart")
    args = ap.parse_args()
    nets = reference_nets(args.reference)
    peak = matmul_flops(args.threads)
    rows = [side_by_side(name, *nets[name], args.threads, args.rounds, peak, args.compile)
            for name in (args.only.split(",") if args.only else nets)]
    peak_after = matmul_flops(args.threads)
    print(f"\n{args.threads} threads, fp32, 1x3x256x256, median of {args.rounds} alternating rounds; fp32 matmul "
          f"(2048^2): {peak / 1e9:.1f} GFLOP/s before, {peak_after / 1e9:.1f} after\n")
    print("| network | GFLOPs | ours (s) | reference (s) | ours / reference | ours: share of matmul | "
          "reference: share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['gflops']:.1f} | {r['ours_s']:.3f} | {r['reference_s']:.3f} | "
              f"{r['ratio']:.2f}x | {r['ours_share']:.0%} | {r['reference_share']:.0%} |")
    if args.compile:
        print("\n| network | compiled (s) | compiled / reference | share of matmul | compilation (s) |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['network']} | {r['compiled_s']:.3f} | {r['compiled_ratio']:.2f}x | "
                  f"{r['compiled_share']:.0%} | {r['compile_s']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"matmul_gflops": [peak / 1e9, peak_after / 1e9], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
