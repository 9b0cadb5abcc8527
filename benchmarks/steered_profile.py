"""How much one blur profile, turned to each pixel's blur direction, can translate a camera's blur.

A check on the steered filter translator (``b2b_filter_translator`` with ``steer``) without its network:
one non-negative K x K profile in the blur's own frame, turned at every pixel to the direction that
:func:`blur_direction` reads from the image, maps a camera's shot y towards the same shot with the known
camera's blur. Supervised, on a ladder camera's B scenes shot both ways along the same camera paths, and
scored on the ladder's test shots (256-pixel centre crops, an 8-pixel border left out) as PSNR to the
known-blur shot:

- ``nnls``: the best such profile, by non-negative least squares over pixels of the training crops;
- ``remainder``: the profile learned by Adam through the translator's own filter emission (off-centre
  taps turned, the centre one minus their sum, clipped and renormalised), as G's heads would learn it;
- ``mean``: the same with the first steered translator's emission, which removed the turned filter's
  change of sum as a mean over all taps.

Needs the ladder's camera data (``translator_ladder.py ... --only upper:CAMERA`` shoots it).

  python benchmarks/steered_profile.py --photos PHOTOS [MORE] --out runs/ladder --camera ghost
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).parent))
import translator_ladder as ladder

from blur2blur.data.images import read_image
from blur2blur.metrics import psnr
from blur2blur.models import create_model
from blur2blur.models.filter_translator import blur_direction, direction_features, steer_filters
from blur2blur.ops import centre_crop, filter_per_pixel

K = 9
TAPS = K * K
BORDER = 8


def direction(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return blur_direction(direction_features(x))


def psnr_inner(out: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of `out` (clamped to [0, 1]) against `target`, the border left out (filters see past it)."""
    return psnr(out.clamp(0, 1), target, crop_border=BORDER)


def nnls_profile(pairs, pixels: int, seed: int) -> torch.Tensor:
    """The non-negative profile (K*K,) that best maps y to known, turned as a whole per pixel."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for y, k in pairs:
        dirs = direction(y[None])[0]
        h, w = y.shape[1:]
        ii = torch.as_tensor(rng.integers(BORDER, h - BORDER, pixels))
        jj = torch.as_tensor(rng.integers(BORDER, w - BORDER, pixels))
        # Each sampled pixel's turning matrix: the turned basis filters (K*K image taps x K*K profile taps).
        eye = torch.eye(TAPS).view(TAPS, TAPS, 1, 1).expand(TAPS, TAPS, 1, pixels)
        turn = steer_filters(eye, dirs[:, ii, jj][None, :, None, :].expand(TAPS, 2, 1, pixels))[:, :, 0]
        patches = F.unfold(F.pad(y[:, None], (K // 2,) * 4), K).view(3, TAPS, h, w)[:, :, ii, jj]
        rows.append(torch.einsum("ctn,jtn->cnj", patches, turn).reshape(-1, TAPS))
        targets.append(k[:, ii, jj].reshape(-1))
    profile, _ = nnls(torch.cat(rows).double().numpy(), torch.cat(targets).double().numpy())
    return torch.as_tensor(profile, dtype=torch.float32)


def emit_mean(head: torch.Tensor, x: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """The first steered translator's emission (2026-12-07), kept here only to compare against."""
    unit = torch.zeros(1, TAPS, 1, 1)
    unit[0, TAPS // 2] = 1
    deviation = steer_filters(head - head.mean(1, keepdim=True), dirs)
    weights = deviation - deviation.mean(1, keepdim=True) + unit
    weights = weights + (weights.clamp(min=0) - weights).detach()
    return filter_per_pixel(x, weights / weights.sum(1, keepdim=True))


def learned_profile(args, pairs, test, emission: str) -> list[tuple[int, float]]:
    """Adam on one profile (the heads' value everywhere); PSNR on the test crops every 50 steps."""
    g = create_model("b2b_filter_translator", num_res=1, base_channel=8, kernel_size=K, nonnegative=True,
                     direction_angles=12, steer=True)
    head = torch.zeros(1, TAPS, 1, 1, requires_grad=True)

    def emit(x, dirs):
        h = head.expand(x.shape[0], TAPS, *x.shape[-2:])
        if emission == "mean":
            return emit_mean(h, x, dirs)
        g._direction = dirs
        return g.emit(h, x)

    def score():
        with torch.no_grad():
            return sum(psnr_inner(emit(y[None], d), k[None]) for (y, k), d in test) / len(test)

    opt = torch.optim.Adam([head], lr=args.lr, betas=(0.5, 0.999))
    curve = [(0, score())]
    for step, (x, target) in enumerate(ladder.paired_crops(pairs, args.steps, 8, 128, args.seed), 1):
        out = emit(x, direction(x))
        b = BORDER
        loss = F.mse_loss(out[..., b:-b, b:-b], target[..., b:-b, b:-b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            curve.append((step, score()))
            ladder.log(f"{emission}: step {step}, PSNR {curve[-1][1]:.2f}")
    return curve


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True, help="the ladder's output folder")
    p.add_argument("--camera", default="ghost")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=["nnls", "remainder", "mean"])
    args = p.parse_args(argv)
    ladder_args = ladder.parse_args(["--photos", *map(str, args.photos), "--out", str(args.out),
                                     "--cameras", args.camera, "--seed", str(args.seed)])
    args.out = ladder_args.out
    data = ladder.camera_sets(ladder_args, args.camera)
    test = [(centre_crop(read_image(t.blurry)[0], 256), centre_crop(read_image(t.sharp)[0], 256))
            for t in data["translation"]]
    test = [((y, k), direction(y[None])) for y, k in test]
    pairs = ladder.b_translation_pairs(ladder_args, args.camera)
    identity = sum(psnr_inner(y, k) for (y, k), _ in test) / len(test)
    print(f"{args.camera}: {len(pairs)} training scenes, {len(test)} test crops; y itself: {identity:.2f} dB")
    if "nnls" in args.only:
        crops = [(x[0], k[0]) for x, k in ladder.paired_crops(pairs, 4 * len(pairs), 1, 128, args.seed)]
        profile = nnls_profile(crops, 1000, args.seed)
        with torch.no_grad():
            scores = []
            for (y, k), d in test:
                w = steer_filters(profile.view(1, TAPS, 1, 1).expand(1, TAPS, *y.shape[-2:]), d)
                scores.append(psnr_inner(filter_per_pixel(y[None], w), k[None]))
        print(f"nnls on 4 x {len(pairs)} 128-px training crops: {sum(scores) / len(scores):.2f} dB "
              f"(profile sum {profile.sum():.3f})")
    for emission in ("remainder", "mean"):
        if emission in args.only:
            curve = learned_profile(args, pairs, test, emission)
            print(f"{emission}: " + ", ".join(f"step {s} {v:.2f}" for s, v in curve))


if __name__ == "__main__":
    main()
