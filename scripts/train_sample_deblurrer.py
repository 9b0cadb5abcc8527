"""Train the small sample deblurrer and the example images shipped in ``blur2blur/assets``.

    python scripts/train_sample_deblurrer.py --photos PHOTOS_DIR --minutes 20

What it does (all on CPU, seeded):
1. loads the photographs, downscales them by 2 (area), holds out three scenes as examples;
2. trains a small NAFNet on random 128x128 crops of the others, blurred on the fly by random
   straight motion kernels (7-21 px) in linear light, with NAFNet's PSNR loss;
3. measures PSNR before/after on held-out crops of the example scenes and stores the numbers
   in the checkpoint header;
4. writes the examples: a 320x240 crop of each held-out photo, sharp and blurred by a seeded
   kernel, as PNG.

This sample model exists so that a fresh install can deblur something at once; it is not a
model of the paper.

With ``--known-camera`` it trains only on the demo's known-camera photos (the bundled photos,
``blur2blur.data.demo.split_demo_photos``, without the known test split and the example
scenes), so that the demo and
the benchmark can use it as the known-domain deblurrer D' without it having seen any scene of
the unknown cameras; it is evaluated on the known test split and writes no examples::

    python scripts/train_sample_deblurrer.py --known-camera --minutes 50

The bundled file is three such runs (45, 22 and 55 minutes, one thread), each started with
``--init`` from the previous one's output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image

from blur2blur.data.images import write_image
from blur2blur.data.synthetic import blur_with_kernels, draw_motion_kernels
from blur2blur.metrics import psnr
from blur2blur.models import create_model, save_checkpoint

EXAMPLES = {  # held-out scene -> output stem
    "erase__cheetah.webp": "cheetah",
    "erase__kitten.webp": "kitten",
    "explore_monuments__wonders_tajMahal.webp": "taj_mahal",
}
ARCH = dict(img_channel=3, width=16, middle_blk_num=1, enc_blk_nums=[1, 1, 1, 2], dec_blk_nums=[1, 1, 1, 1])
GAMMA = 2.2


def load_photo(path: Path, reduce: int = 2) -> torch.Tensor:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if reduce > 1:
            im = im.reduce(reduce)  # area downscale: the original photos are lightly sharpened
        return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).reshape(im.height, im.width, 3)\
            .permute(2, 0, 1).float() / 255


def random_crops(images: list[torch.Tensor], n: int, size: int, g: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (1,), generator=g))]
        y = int(torch.randint(img.shape[1] - size + 1, (1,), generator=g))
        x = int(torch.randint(img.shape[2] - size + 1, (1,), generator=g))
        crop = img[:, y:y + size, x:x + size]
        if torch.rand((), generator=g) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    return torch.stack(out)


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # NAFNet's training loss: -PSNR, per image, averaged.
    mse = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(mse + 1e-8).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, help="folder of the source photographs (.webp); not needed with "
                    "--known-camera")
    ap.add_argument("--out", type=Path, default=Path("src/blur2blur/assets"))
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, default=None, help="continue from this blur2blur checkpoint")
    ap.add_argument("--known-camera", action="store_true",
                    help="train on the demo's known-camera photos only; evaluate on its test split")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)

    if args.known_camera:
        from blur2blur.data.demo import known_test_photos, split_demo_photos

        test = set(known_test_photos())
        train = [load_photo(p, 1) for p in split_demo_photos()[0] if p not in test and p.name not in EXAMPLES]
        held = {p.stem: load_photo(p, 1) for p in sorted(test)}
    else:
        if args.photos is None:
            ap.error("--photos is required (unless --known-camera)")
        files = sorted(p for p in args.photos.glob("*.webp"))
        train = [load_photo(p) for p in files if p.name not in EXAMPLES]
        held = {EXAMPLES[p.name]: load_photo(p) for p in files if p.name in EXAMPLES}
    print(f"{len(train)} training photos, {len(held)} held out")

    # Fixed held-out evaluation set: 8 crops per example scene, each with its own kernel.
    eg = torch.Generator().manual_seed(1234)
    per_scene = max(1, 24 // len(held))
    val_sharp = torch.cat([random_crops([img], per_scene, args.crop, eg) for img in held.values()])
    val_kernels, _ = draw_motion_kernels(len(val_sharp), eg)
    val_blurry = blur_with_kernels(val_sharp, val_kernels, gamma=GAMMA)

    model = create_model("nafnet", **ARCH)
    previous = {}
    if args.init:
        from blur2blur.models import load_checkpoint

        init = load_checkpoint(args.init)
        model.load_state_dict(init.state_dict())
        previous = init.checkpoint_info
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.9))
    deadline = time.time() + args.minutes * 60
    step, t0 = 0, time.time()
    # Cosine decay over the time budget (steps are not known in advance).
    while time.time() < deadline:
        frac = (time.time() - t0) / (deadline - t0)
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + torch.cos(torch.tensor(frac * torch.pi))).item() + 1e-6
        sharp = random_crops(train, args.batch, args.crop, g)
        kernels, _ = draw_motion_kernels(args.batch, g)
        blurry = blur_with_kernels(sharp, kernels, gamma=GAMMA)
        loss = psnr_loss(model(blurry), sharp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step}  loss {loss.item():.2f}  lr {opt.param_groups[0]['lr']:.2e}  "
                  f"{(time.time() - t0) / step:.2f} s/step", flush=True)

    model.eval()
    with torch.inference_mode():
        restored = model(val_blurry).clamp(0, 1)
    before = sum(psnr(b, s) for b, s in zip(val_blurry, val_sharp)) / len(val_sharp)
    after = sum(psnr(r, s) for r, s in zip(restored, val_sharp)) / len(val_sharp)
    improved = sum(psnr(r, s) > psnr(b, s) for r, s, b in zip(restored, val_sharp, val_blurry))
    print(f"held-out PSNR {before:.2f} -> {after:.2f} dB ({improved}/{len(val_sharp)} crops improved)")

    info = {
        "what": "sample deblurrer shipped with blur2blur (not a model of the paper)",
        "trained_by": "scripts/train_sample_deblurrer.py",
        "data": f"{len(train)} photographs (downscaled x2), random {args.crop}px crops, straight motion "
                f"kernels 7-21 px applied in linear light (gamma {GAMMA})",
        "steps": step, "batch": args.batch, "crop": args.crop, "minutes": args.minutes, "seed": args.seed,
        "continued_from": previous or None,
        "parameters": n_params,
        "heldout_psnr_blurry": round(before, 3), "heldout_psnr_deblurred": round(after, 3),
        "heldout_crops": len(val_sharp), "heldout_improved": int(improved),
    }
    if args.known_camera:
        info["data"] = (f"{len(train)} demo known-camera photos (blur2blur.data.demo), random {args.crop}px crops, "
                        f"straight motion kernels 7-21 px in linear light (gamma {GAMMA}); held out: the known "
                        "test split")
    args.out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, args.out / "sample_deblurrer.safetensors", info=info, overwrite=True)
    if args.known_camera:
        return

    ex = torch.Generator().manual_seed(7)
    (args.out / "examples").mkdir(exist_ok=True)
    for stem, img in held.items():
        h, w = img.shape[1:]
        y, x = (h - 240) // 2, (w - 320) // 2
        sharp = img[:, y:y + 240, x:x + 320]
        kernel, params = draw_motion_kernels(1, ex, size_range=(13, 19))
        blurry = blur_with_kernels(sharp[None], kernel, gamma=GAMMA)[0]
        write_image(sharp, args.out / "examples" / f"{stem}_sharp.png", overwrite=True)
        write_image(blurry, args.out / "examples" / f"{stem}_blurry.png", overwrite=True)
        print(f"example {stem}: kernel {params[0]}")


if __name__ == "__main__":
    main()
