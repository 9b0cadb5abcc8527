"""Forward time and peak memory of every architecture at its released configuration.

    python benchmarks/speed.py --threads 2 --repeats 3 [--only nafnet_gopro_w32,mimo_unet] [--big]

Each configuration runs in its own subprocess (so peak memory is its own): random weights,
``torch.inference_mode()``, float32, a warm-up call, then the median of `--repeats` timed
calls on a 1x3x256x256 input. With ``--big``, a 720x1280 frame is also run through
``blur2blur.inference.restore`` in 256-pixel tiles (32 px overlap). Peak memory is the
process's maximum resident set size minus the size after building the model (weights
included in neither). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "nafnet_gopro_w32": ("nafnet_local", dict(img_channel=3, width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1,
                                              dec_blk_nums=[1, 1, 1, 1])),
    "nafnet_gopro_w64": ("nafnet_local", dict(img_channel=3, width=64, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1,
                                              dec_blk_nums=[1, 1, 1, 1])),
    "restormer_motion": ("restormer", dict(dim=48, num_blocks=[4, 6, 6, 8], num_refinement_blocks=4,
                                           heads=[1, 2, 4, 8], ffn_expansion_factor=2.66, bias=False,
                                           LayerNorm_type="WithBias")),
    "mimo_unet": ("mimo_unet", dict(num_res=8)),
    "mimo_unet_plus": ("mimo_unet_plus", dict(num_res=20)),
    "b2b_translator": ("b2b_translator", dict(num_res=8)),
    "unet_translator": ("unet_translator", dict()),
    "nafnet_translator": ("nafnet_translator", dict(width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1,
                                                     dec_blk_nums=[1, 1, 1, 1])),
    "b2b_discriminator": ("b2b_discriminator", dict(ndf=64)),
    "kernel_wizard_gopro": ("kernel_wizard", dict(nf=64, front_RBs=10, back_RBs=20, kernel_dim=512)),
}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(key: str, threads: int, repeats: int, big: bool) -> dict:
    import torch

    from blur2blur.inference import restore
    from blur2blur.models import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    name, args = CONFIGS[key]
    model = create_model(name, **args).eval()
    base = _rss_mib()
    x = torch.rand(1, 3, 256, 256)

    if name == "kernel_wizard":
        def call(inp):
            mean, sigma = model.encode(inp, inp)
            return model.apply_kernel(inp, mean)
    elif name == "b2b_discriminator":
        def call(inp):
            return model([inp[..., ::4, ::4], inp[..., ::2, ::2], inp])
    else:
        def call(inp):
            return restore(model, inp, clamp=False)

    times = []
    with torch.inference_mode():
        call(x)
        for _ in range(repeats):
            t = time.perf_counter()
            call(x)
            times.append(time.perf_counter() - t)
    out = {"config": key, "arch": name, "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
           "t256_s": statistics.median(times), "peak256_MiB": _rss_mib() - base}
    if big and name not in ("kernel_wizard", "b2b_discriminator"):
        frame = torch.rand(1, 3, 720, 1280)
        with torch.inference_mode():
            t = time.perf_counter()
            restore(model, frame, tile=256, tile_overlap=32)
            out["t720p_tiled_s"] = time.perf_counter() - t
        out["peak720p_MiB"] = _rss_mib() - base
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated config names")
    ap.add_argument("--big", action="store_true", help="also time a tiled 720x1280 frame")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.repeats, args.big)))
        return
    keys = [k for k in args.only.split(",") if k] or list(CONFIGS)
    rows = []
    for key in keys:
        cmd = [sys.executable, __file__, "--child", key, "--threads", str(args.threads),
               "--repeats", str(args.repeats)] + (["--big"] if args.big else [])
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            print(f"{key}: failed\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"\n{args.threads} threads, median of {args.repeats}, torch.inference_mode, float32, CPU\n")
    print("| configuration | arch | params (M) | 256x256 (s) | peak mem 256 (MiB) | 720x1280 tiled (s) "
          "| peak mem 720p (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['arch']} | {r['params_M']:.2f} | {r['t256_s']:.3f} | {r['peak256_MiB']:.0f} | "
              f"{r.get('t720p_tiled_s', float('nan')):.2f} | {r.get('peak720p_MiB', float('nan')):.0f} |")


if __name__ == "__main__":
    main()
