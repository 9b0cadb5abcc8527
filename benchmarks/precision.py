"""Half precision against fp32: the measurements behind ``blur2blur.devices.HALF_PRECISION_SAFE``.

    OMP_NUM_THREADS=1 python benchmarks/precision.py [--device cpu] [--precisions bf16,fp16]

Two measurements, both through the inference path users run (:func:`blur2blur.inference.restore`,
autocast as :func:`blur2blur.devices.precision_context` sets it):

1. the bundled sample deblurrer (a NAFNet) on the bundled examples: PSNR against the sharp
   originals in fp32 and in half precision, and the difference (the 0.05 dB rule, directly);
2. every image-to-image reference fixture of ``tests/reference/fixtures`` (synthetic weights,
   random inputs: no sharp image to score against). There the half-precision output's mean squared
   difference e from the fp32 output is turned into the PSNR it would cost an output whose own
   error against a sharp image is m: ``10 log10(1 + e / m)`` (errors independent), with m at 35 dB,
   better than any released model scores on its benchmark, where a given e costs most.

An architecture qualifies for the CUDA default when its worst case is within
``HALF_PRECISION_MAX_DB``; prints a Markdown table and the architectures that qualify.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "blur2blur").is_dir():  # run from a checkout: use its code, not an installed copy
    sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

REFERENCE_PSNR_DB = 35.0  # the output quality at which a fixture's half-precision error is priced


def _gpu_check():
    # The fixture -> architecture table and the fixtures' calling conventions live in gpu_check.py.
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def implied_loss_db(mse_vs_fp32: float, reference_psnr_db: float = REFERENCE_PSNR_DB) -> float:
    """PSNR lost by adding an independent error of mean square `mse_vs_fp32` to an output at `reference_psnr_db`."""
    return 10 * math.log10(1 + mse_vs_fp32 / 10 ** (-reference_psnr_db / 10))


def example_rows(device: torch.device, precisions: list[str]) -> list[dict]:
    from blur2blur import assets
    from blur2blur.data.images import read_image
    from blur2blur.inference import restore
    from blur2blur.metrics import psnr
    from blur2blur.models import load_any

    model = load_any(assets.sample_deblurrer_path()).eval().to(device)
    rows = []
    for blurry in assets.example_blurry_images():
        x = read_image(blurry)[0][None].to(device)
        sharp = read_image(assets.example_sharp_for(blurry))[0][None]
        with torch.inference_mode():
            ref = restore(model, x).cpu()
            for p in precisions:
                out = restore(model, x, precision=p).cpu()
                rows.append({"arch": model.arch_name, "source": f"example {blurry.stem}", "precision": p,
                             "psnr_fp32": psnr(ref, sharp), "loss_db": psnr(ref, sharp) - psnr(out, sharp),
                             "psnr_vs_fp32": psnr(out, ref)})
    return rows


def fixture_rows(device: torch.device, precisions: list[str]) -> list[dict]:
    from blur2blur.devices import precision_context
    from blur2blur.models import create_model, get_spec, load_weights
    from blur2blur.models.registry import IMAGE, MULTISCALE

    gc = _gpu_check()
    rows = []
    for name, arch in gc.FIXTURES.items():
        if get_spec(arch).output not in (IMAGE, MULTISCALE):
            continue  # discriminators and kernel extractors: not what --precision runs
        io = torch.load(gc.FIXTURE_DIR / f"{name}.io.pt", weights_only=True)
        model = create_model(arch, **io["config"])
        load_weights(model, gc.FIXTURE_DIR / io["checkpoint"])
        model = model.eval().to(device)
        for case in io["cases"]:
            if case["output"] is None:
                continue
            inp = dict(case, input=gc.to_device(case["input"], device))
            with torch.inference_mode():
                ref = gc.flat_tensors(gc._fixture_call(model, name, inp))[-1].float().cpu()  # the full-scale image
                for p in precisions:
                    with precision_context(p, device):
                        out = gc.flat_tensors(gc._fixture_call(model, name, inp))[-1].float().cpu()
                    mse = float(((out - ref) ** 2).mean())
                    rows.append({"arch": arch, "source": f"fixture {name}/{case['name']}", "precision": p,
                                 "loss_db": implied_loss_db(mse), "psnr_vs_fp32": -10 * math.log10(max(mse, 1e-20))})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precisions", default="bf16,fp16")
    args = ap.parse_args()
    from blur2blur.devices import HALF_PRECISION_MAX_DB, HALF_PRECISION_SAFE, check_device

    device = check_device(args.device)
    precisions = args.precisions.split(",")
    rows = example_rows(device, precisions) + fixture_rows(device, precisions)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); loss = PSNR lost "
          f"against fp32 (examples: measured; fixtures: implied at {REFERENCE_PSNR_DB:g} dB)\n")
    print("| architecture | source | precision | loss dB | PSNR vs fp32 dB |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['source']} | {r['precision']} | {r['loss_db']:+.4f} | {r['psnr_vs_fp32']:.1f} |")
    print()
    for p in precisions:
        worst: dict[str, float] = {}
        for r in rows:
            if r["precision"] == p:
                worst[r["arch"]] = max(worst.get(r["arch"], -math.inf), r["loss_db"])
        ok = sorted(a for a, w in worst.items() if w <= HALF_PRECISION_MAX_DB)
        print(f"{p}: worst loss per architecture " + ", ".join(f"{a} {w:+.4f}" for a, w in sorted(worst.items()))
              + f"; within {HALF_PRECISION_MAX_DB} dB: {', '.join(ok) or 'none'}")
    print(f"\nthe code's table (HALF_PRECISION_SAFE): {', '.join(sorted(HALF_PRECISION_SAFE))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
