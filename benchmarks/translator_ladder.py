"""Does the translator learn? Blur2Blur on a ladder of rising difficulty, per simulated camera.

For each unknown camera the translator G is trained on the camera's blurry images B against a
known-blur set K of four kinds (rungs), and every rung reports the signals that say whether the
result means anything: D's held-out accuracy on K vs B, the drift PSNR(G(y), y), and D'(G(y))
against D' direct on held-out test pairs, with the gap closed ``(B2B - direct) / (upper - direct)``
along the way (the learning curve):

  (a) K = the camera's own sharp images S: G must learn to sharpen; D separates the sets easily;
  (b) K = the known camera's blur, in the camera's look, on the *same scenes* as B;
  (c) the same on the scenes of S (the real setting with a perfect kernel extractor);
  (d) K from a kernel extractor F trained on the known pairs (``--extractor``, optional).

A rung where G stays at the identity (drift above 60 dB) or D stays at chance is marked failed. Two
references bound what G can do: a perfect G (D' on the same test shots exposed with the known blur)
and the best fixed Gaussian pre-blur before D' (a G that only smooths its input gains that much: a
gain no larger is not a translation).

The known camera: straight, uniform motion blur in linear light (gamma 2.2, no noise). D' is the
bundled sample deblurrer (a small NAFNet trained on straight motion blur), or, with
``--deblurrer-steps N``, that network fine-tuned N steps on the known camera's pairs (the bundled
demo's known-camera photos, its 6 known test scenes held out: the known camera's test set). The unknown cameras
(camera_sim configs below) differ from it in look only, in blur shape only (`shape`: curved, rotating shake;
`ghost`: strobed, three sharp copies per exposure), or in both. K carries the camera's look (it is made from
the camera's own images), so for `look` rungs b and c D has nothing to tell apart by design. Their
scenes come from the photographs given with ``--photos`` (downscaled, split by whole photo into
test, B and S; photos that share a name with a bundled known-camera photo are left out, since
D' has seen them). Everything lands in ``--out`` and is skipped when present, so the script
resumes; jobs can run in separate processes (``--only``). A run whose photos, seed, long side, D' or
upper-bound steps differ from those ``--out`` was made with is refused (``settings.json``): use another
``--out``.

  python benchmarks/translator_ladder.py --photos PHOTOS_DIR [MORE_DIRS] --out runs/ladder
  python benchmarks/translator_ladder.py ... --only deblurrer          # then, in parallel:
  python benchmarks/translator_ladder.py ... --only upper:shape translate:shape:b
  python benchmarks/translator_ladder.py ... --only report             # ladder.json + ladder.md
  python benchmarks/translator_ladder.py ... --only ceiling:ghost       # the same G trained supervised
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from blur2blur.config import to_dict
from blur2blur.data import camera_sim
from blur2blur.data.images import expand_inputs, read_image, write_image
from blur2blur.data.pairs import BlurPair, find_pairs
from blur2blur.evaluate import EvalConfig, evaluate_stored, paired_difference
from blur2blur.fileio import atomic_write_text
from blur2blur.train.loop import setup_runtime, train_and_save
from blur2blur.train.translator import CHANCE_ACCURACY, IDENTITY_DRIFT_DB

MOTION = ("exposure", "subframes", "trajectory_steps", "momentum", "acceleration", "translation",
          "translation_units", "rotation", "rotation_centre")
KNOWN = camera_sim.CameraConfig(
    name="known", exposure=1.0, subframes=24, momentum=1.0, acceleration=0.0, translation=(5.0, 13.0),
    response="gamma", gamma=2.2)
_LOOK = dict(response="srgb", contrast=1.25, noise_a=4e-4, noise_b=1e-5, jpeg_quality=85)
_SHAPE = dict(momentum=0.6, acceleration=1.0, rotation=(1.0, 3.0), rotation_centre="random")
CAMERAS = {
    "look": dataclasses.replace(KNOWN, name="look", **_LOOK),      # the known blur; other tone, noise, JPEG
    "shape": dataclasses.replace(KNOWN, name="shape", **_SHAPE),   # curved, rotating shake; the known look
    "both": dataclasses.replace(KNOWN, name="both", **_SHAPE, **_LOOK),
    # Strobed: three sharp copies per exposure instead of a smear (a camera under flickering LED light,
    # or frame averaging of a slow video): the known blur's path and look, another kernel shape.
    "ghost": dataclasses.replace(KNOWN, name="ghost", subframes=3),
}
# Differences of D'(G(y)) from D' direct smaller than this are not read as a gain or a loss (issue 13 allows
# G to cost at most 0.1 dB; a +0.07 dB run had 53% of its crops improved: a coin toss).
NOISE_DB = 0.1
# Fixed Gaussian pre-blurs (px) tried before D': the control a translator must beat (`best_preblur`).
PREBLUR_SIGMAS = (0.5, 0.75, 1.0, 1.5)
RUNGS = {"a": "K = the camera's sharp images S", "b": "K = known blur on B's scenes",
         "c": "K = known blur on S's scenes", "d": "K = the kernel extractor's"}


def log(msg: str) -> None:
    print(f"[ladder] {msg}", file=sys.stderr, flush=True)


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))


# ----------------------------------------------------------------------------- data


def scenes(args) -> dict[str, list[Path]]:
    """The photos downscaled to ``--long-side`` and split by whole photo into test / B / S."""
    from blur2blur.data.demo import split_demo_photos

    root = args.out / "scenes"
    if not (root / "split.json").exists():
        known_stems = {p.stem for p in split_demo_photos()[0]}
        photos = [p for p in expand_inputs(args.photos) if p.stem not in known_stems]
        groups: dict[str, list[str]] = {"test": [], "b": [], "s": []}
        for i, p in enumerate(photos):
            group = "test" if i % 5 == 4 else ("b" if (i - i // 5) % 2 == 0 else "s")
            img, _ = read_image(p)
            scale = args.long_side / max(img.shape[-2:])
            if scale < 1:
                img = F.interpolate(img[None], scale_factor=scale, mode="bicubic", antialias=True)[0].clamp(0, 1)
            write_image(img, root / group / f"{p.stem}.png", overwrite=True)
            groups[group].append(p.stem)
        write_json(root / "split.json", {"long_side": args.long_side, "groups": groups})
    groups = json.loads((root / "split.json").read_text())["groups"]
    return {g: [root / g / f"{s}.png" for s in stems] for g, stems in groups.items()}


def shoot(photos: list[Path], folder: Path, camera, seed: int, sharp: str = "clean"):
    """`camera` on `photos` into `folder` as pairs, or the pairs already there when its manifest records these
    photos and settings. A folder shot with another seed, camera or photos is refused, not reused: a run with
    another ``--seed`` needs its own ``--out``. A folder without a manifest (a shoot cut short) is shot over."""
    manifest = folder / "manifest.json"
    try:
        camera_sim.write_camera_pairs(photos, folder, camera, seed=seed, sharp=sharp,
                                      overwrite=folder.exists() and not manifest.exists(), show_progress=False)
    except FileExistsError:
        done = json.loads(manifest.read_text())
        raise SystemExit(f"{folder} was shot with camera {done['camera']['name']!r}, seed {done['seed']}, "
                         f"{len(done['images'])} photos (its manifest.json); this run asks camera {camera.name!r}, "
                         f"seed {seed}, {len(photos)} photos, or other photos or camera settings: give it another "
                         "--out") from None
    return find_pairs(folder, "folders")


def known_pairs(args):
    from blur2blur.data.demo import known_test_photos, split_demo_photos

    test = set(known_test_photos())
    train = [p for p in split_demo_photos()[0] if p not in test]
    return (shoot(train, args.out / "known" / "train", KNOWN, args.seed),
            shoot(sorted(test), args.out / "known" / "test", KNOWN, args.seed + 1))


def known_blur_camera(name: str):
    """Camera `name` with the known camera's motion: its look, the known blur."""
    return dataclasses.replace(CAMERAS[name], name=f"{name}-known-blur", **{f: getattr(KNOWN, f) for f in MOTION})


def camera_sets(args, name: str) -> dict:
    cam, s = CAMERAS[name], scenes(args)
    d = args.out / "cameras" / name / "data"
    known_motion = known_blur_camera(name)
    still = dataclasses.replace(cam, name=f"{name}-still", exposure=0.0)
    b_pairs = shoot(s["b"], d / "b", cam, args.seed + 10)
    s_pairs = shoot(s["s"], d / "s-pairs", cam, args.seed + 11)      # the upper bound's pairs only
    # Rungs b and c: K as pairs (the known blur and its clean target), so D' can be scored on K itself.
    k_pairs = {"b": shoot(s["b"], d / "k-b", known_motion, args.seed + 14),
               "c": shoot(s["s"], d / "k-c", known_motion, args.seed + 15)}
    test = shoot(s["test"], d / "test", cam, args.seed + 12)
    # The same test shots (the same seed, so the same camera paths: camera_sim's draws do not depend on the
    # config) exposed with the known blur: what a perfect G would hand D'.
    test_known = {p.scene: p for p in shoot(s["test"], d / "test-known", known_motion, args.seed + 12)}
    records = json.loads((d / "test" / "manifest.json").read_text())["images"]
    out = {"test": test, "b_pairs": b_pairs, "test_known": list(test_known.values()),
           "path_angles": {r["stem"]: path_angle(r["poses"]) for r in records},
           "translation": [BlurPair(t.blurry, test_known[t.scene].blurry, t.scene) for t in test],
           "train_pairs": b_pairs + s_pairs, "K_pairs": k_pairs,
           "K": {"a": [p.blurry for p in shoot(s["s"], d / "k-a-still", still, args.seed + 13, "original")],
                 **{r: [p.blurry for p in pairs] for r, pairs in k_pairs.items()}}}
    if args.extractor:
        out["K"]["d"] = extractor_k(args, name, out["K"]["a"])
    return out


def extractor_k(args, name: str, sharp: list[Path]) -> list[Path]:
    from blur2blur.known_set import KnownSetConfig, make_known_set
    from blur2blur.models import load_any

    folder = args.out / "cameras" / name / "data" / "k-d"
    if not (folder / "manifest.jsonl").exists():
        make_known_set(load_any(args.extractor, arch="kernel_wizard"), known_pairs(args)[0], sharp, folder,
                       KnownSetConfig(variants=1, camera_noise="auto"))
    return sorted(folder.glob("*.png"))


# ----------------------------------------------------------------------------- models


def deblurrer_config(steps: int, lr: float, seed: int):
    from blur2blur.train.deblurrer import tiny_config

    cfg = tiny_config()
    return dataclasses.replace(cfg, lr=lr, eta_min=1e-6, loop=dataclasses.replace(
        cfg.loop, steps=steps, checkpoint_every=max(steps // 4, 1), eval_every=0, image_every=0,
        keep_checkpoints=1, seed=seed))


def train_deblurrer(name: str, init: Path, train, held, steps: int, lr: float, out: Path, seed: int) -> Path:
    from blur2blur.models import load_any
    from blur2blur.train.deblurrer import DeblurrerTrainer

    if out.exists():
        return out
    cfg = deblurrer_config(steps, lr, seed)
    trainer = DeblurrerTrainer(cfg, train, held, setup_runtime(cfg.loop), model=load_any(init))
    train_and_save(trainer, trainer.runtime, cfg.loop, out.parent / f"{name}-run", trainer.net, out,
                   config=to_dict(cfg), info={"trained_by": "benchmarks/translator_ladder.py"}, desc=name)
    return out


def deblurrer(args) -> Path:
    from blur2blur.assets import sample_deblurrer_path

    if args.deblurrer_steps == 0:
        return sample_deblurrer_path()
    train, test = known_pairs(args)
    path = train_deblurrer("deblurrer", sample_deblurrer_path(), train, test[:2], args.deblurrer_steps, 5e-4,
                           args.out / "known" / "deblurrer.safetensors", args.seed)
    evaluated(args.out / "known" / "eval-deblurrer.json", path, test)
    return path


def upper(args, name: str) -> Path:
    data = camera_sets(args, name)
    return train_deblurrer("upper", deblurrer(args), data["train_pairs"], data["test"][:2], args.upper_steps, 2e-4,
                           args.out / "cameras" / name / "upper.safetensors", args.seed)


def translator_config(args):
    from blur2blur.fit import tiny_config

    tr = tiny_config().translator
    steps = args.steps
    arch_args = dict(tr.arch_args)
    if args.arch == "b2b_filter_translator":
        arch_args.update(kernel_size=args.kernel_size, smooth=args.smooth, nonnegative=args.nonnegative,
                         direction_angles=args.direction_angles, steer=args.steer, stretch=args.stretch,
                         direction_reading=args.direction_reading)
    return dataclasses.replace(
        tr, arch=args.arch, arch_args=arch_args, perceptual=args.content, lambda_rec=args.lambda_rec,
        lambda_direction=args.lambda_direction, lambda_profile=args.lambda_profile, content_sigma=args.sigma,
        content_eps=args.eps,
        content_high_weight=args.high_weight, d_warmup=args.warmup,
        lambda_grad=args.lambda_grad, lr=args.lr, d_lr=args.d_lr, disc_scales=args.disc_scales,
        disc_layers=args.disc_layers, disc_features=args.disc_features, curriculum=False,
        hold_steps=steps // 2, decay_steps=steps - steps // 2,
        loop=dataclasses.replace(tr.loop, steps=steps, batch_size=args.batch or tr.loop.batch_size, seed=args.seed,
                                 checkpoint_every=args.eval_every, eval_every=args.eval_every, keep_checkpoints=10_000,
                                 image_every=0, tensorboard=False, log_every=10))


def translate(args, name: str, rung: str) -> Path:
    from blur2blur.train.translator import TranslatorTrainer

    run = args.out / "cameras" / name / f"rung-{rung}{args.tag}"
    out = run / "translator.safetensors"
    if out.exists():
        return out
    data = camera_sets(args, name)
    blurry, known = [str(p.blurry) for p in data["b_pairs"]], [str(p) for p in data["K"][rung]]
    held = max(1, len(blurry) // 10)
    cfg = translator_config(args)
    trainer = TranslatorTrainer(cfg, blurry[:-held], known[:-held], setup_runtime(cfg.loop),
                                val_blurry=blurry[-held:], val_known=known[-held:])
    log(f"{name}/{rung}: |B| = {len(blurry) - held}, |K| = {len(known) - held}, {held} held out each")
    train_and_save(trainer, trainer.runtime, cfg.loop, run / "translator-run", trainer.translator, out,
                   config=to_dict(cfg), info={"trained_by": "benchmarks/translator_ladder.py"},
                   desc=f"{name}/{rung}")
    return out


def b_translation_pairs(args, name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """B's shots (3, H, W), each with its scene shot by the known blur along the same camera path (B's seed
    again, as test-known is for the test shots): the perfect translation, for G trained supervised."""
    folder = args.out / "cameras" / name / "data" / "b-known-same-path"
    same_path = {p.scene: p for p in shoot(scenes(args)["b"], folder, known_blur_camera(name), args.seed + 10)}
    return [(read_image(p.blurry)[0], read_image(same_path[p.scene].blurry)[0])
            for p in camera_sets(args, name)["b_pairs"]]


def paired_crops(pairs, steps: int, batch: int, size: int, seed: int):
    """`steps` batches (x, target), each (batch, 3, size, size): the same random crop of a random pair."""
    from blur2blur.data.datasets import random_crop_box
    from blur2blur.seeding import randint

    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        ys, ks = [], []
        for _ in range(batch):
            y, k = pairs[randint(g, 0, len(pairs) - 1)]
            i, j = random_crop_box(y.shape[1], y.shape[2], size, g)
            ys.append(y[:, i:i + size, j:j + size])
            ks.append(k[:, i:i + size, j:j + size])
        yield torch.stack(ys), torch.stack(ks)


def ceiling(args, name: str) -> dict:
    """How far the ladder's G can go at all: the same network trained *supervised* for ``--ceiling-steps``,
    each of B's shots paired with its scene shot by the known blur along the same camera path (the perfect
    translation), L1 on 128-px crops of the finest scale, then scored as a curve point: how near the known-blur
    shots this G can get. It does not bound D's gain: a GAN's G that blurs more than L1 asks can gain more
    from a D' that wants it (BENCHMARKS.md, camera `ghost`, tenth session)."""
    from tqdm import tqdm

    from blur2blur.models import create_model, load_any
    from blur2blur.models.checkpoint import save_checkpoint
    from blur2blur.models.composed import ComposedDeblurrer
    from blur2blur.train.translator import init_identity

    cam_dir = args.out / "cameras" / name
    out = cam_dir / f"ceiling{args.tag}"
    result_file = out / "ceiling.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    data, cfg = camera_sets(args, name), translator_config(args)
    pairs = b_translation_pairs(args, name)
    torch.manual_seed(args.seed)
    g = init_identity(create_model(cfg.arch, **cfg.arch_args))
    opt = torch.optim.Adam(g.parameters(), lr=args.lr, betas=tuple(cfg.betas))
    crop = min(128, *(min(y.shape[-2:]) for y, _ in pairs))
    batches = paired_crops(pairs, args.ceiling_steps, args.batch or cfg.loop.batch_size, crop, args.seed)
    for ys, ks in tqdm(batches, total=args.ceiling_steps, desc=f"{name}/ceiling", unit="step"):
        loss = F.l1_loss(g(ys)[-1], ks)
        opt.zero_grad()
        loss.backward()
        opt.step()
    g.eval()
    save_checkpoint(g, out / "translator.safetensors", info={"trained_by": "benchmarks/translator_ladder.py ceiling"})
    d_prime_path = deblurrer(args)
    d_prime = load_any(d_prime_path).eval()
    direct = evaluated(cam_dir / "eval" / "direct.json", d_prime_path, data["test"])
    res = evaluated(out / "composed.json", lambda: ComposedDeblurrer.from_parts(g, d_prime).eval(), data["test"])
    to_known = evaluated(out / "g_to_known.json", lambda: _Finest(g), data["translation"])
    diff = paired_difference(res, direct)
    along = g_filter_along_path(g, data)
    result = {"steps": args.ceiling_steps, "d_psnr": diff["psnr"], "improved": diff["improved"],
              "translation_psnr": to_known["summary"]["psnr"], "filter_along_spread": along["along_spread"],
              "length_tracking": length_tracking(along["along_spreads"], perfect_filter(data)["along_spreads"])}
    write_json(result_file, result)
    log(f"{name}: G trained supervised for {args.ceiling_steps} steps: D'(G(y)) {diff['psnr']:+.3f} dB over direct "
        f"({100 * diff['improved']:.0f}% of crops improved), PSNR(G(y), known-blur shot) "
        f"{result['translation_psnr']:.2f} dB; spread along the path {_num(result['filter_along_spread'])} px, "
        f"length tracking {_num(result['length_tracking'])}")
    return result


# ----------------------------------------------------------------------------- scoring


def eval_config() -> EvalConfig:
    return EvalConfig(crop=128, crops_per_image=4)


def evaluated(path: Path, model, pairs) -> dict:
    """The evaluation stored at `path`, else a new one of `model`: a weight file, a function that builds
    the network (called only then), or None (the blurry input itself)."""
    from blur2blur.models import load_any

    def load():
        return load_any(model).eval() if isinstance(model, Path) else model() if callable(model) else None

    return evaluate_stored(path, load, pairs, eval_config(), desc=path.stem)


class _Finest(torch.nn.Module):
    """G(y) alone (its finest scale, clamped): scored against the sharp target it is a deblurrer of its own."""

    def __init__(self, g: torch.nn.Module):
        super().__init__()
        self.g, self.size_multiple = g, 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(x)[-1].clamp(0, 1)


class _PreBlurred(torch.nn.Module):
    """D'(y blurred by a fixed Gaussian of `sigma` px): the gain of smoothing the input, with no translation."""

    def __init__(self, d_prime: torch.nn.Module, sigma: float):
        super().__init__()
        self.d_prime, self.sigma, self.size_multiple = d_prime, sigma, getattr(d_prime, "size_multiple", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import kornia

        k = 2 * math.ceil(3 * self.sigma) + 1
        return self.d_prime(kornia.filters.gaussian_blur2d(x, (k, k), (self.sigma, self.sigma), border_type="reflect"))


def best_preblur(cam_dir: Path, d_prime_path: Path, test, direct: dict) -> dict:
    """The best fixed Gaussian pre-blur before D' (σ chosen on the test crops themselves, so an upper bound of
    what any one isotropic smoothing gains): ``{sigma, gain, improved}``. A G whose gain is no larger has
    learned to smooth its input, not to translate the blur."""
    from blur2blur.models import load_any

    d_prime = load_any(d_prime_path).eval()
    best = None
    for sigma in PREBLUR_SIGMAS:
        res = evaluated(cam_dir / "eval" / f"preblur-{sigma}.json", lambda s=sigma: _PreBlurred(d_prime, s).eval(),
                        test)
        diff = paired_difference(res, direct)
        if best is None or diff["psnr"] > best["gain"]:
            best = {"sigma": sigma, "gain": diff["psnr"], "improved": diff["improved"]}
    return best


def path_angle(poses) -> float:
    """The direction (radians, image x right, y down) of a simulated shot's path: first pose to last."""
    return math.atan2(poses[-1][1] - poses[0][1], poses[-1][0] - poses[0][0])


def filter_system(y: torch.Tensor, target: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The least-squares system of a ``size x size`` filter (one for every channel) mapping y to target, as a
    correlation over the valid region: ``rows @ taps ~ wanted``. y, target: (3, H, W). Returns rows
    (N, size * size) and wanted (N,), float64, N = 3 (H - size + 1) (W - size + 1)."""
    r = size // 2
    rows = F.unfold(y[:, None].double(), size).permute(0, 2, 1).reshape(-1, size * size)
    return rows, target[:, r:target.shape[1] - r, r:target.shape[2] - r].double().reshape(-1)


def effective_filter(y: torch.Tensor, out: torch.Tensor, size: int = 9) -> torch.Tensor:
    """The one ``size x size`` filter k (the same for every channel) that best maps y to out in least
    squares: ``k * y ~ out`` over the valid region. y, out: (3, H, W). Returns (size, size), not normalised.
    What G did to y, as one blur; written here because no library fits a filter to an image pair.
    Raises ValueError when either image holds NaN or infinity (LAPACK fails obscurely on them)."""
    if not (torch.isfinite(y).all() and torch.isfinite(out).all()):
        raise ValueError("effective_filter: an image holds NaN or infinity (a diverged G?)")
    rows, target = filter_system(y, out, size)
    return torch.linalg.lstsq(rows, target[:, None]).solution.view(size, size).float()


def best_nonnegative_filter(y: torch.Tensor, target: torch.Tensor, size: int = 9, samples: int = 60_000,
                            seed: int = 0) -> torch.Tensor:
    """The non-negative ``size x size`` filter k (one for every channel) that best maps y to target in least
    squares: ``k * y ~ target`` (a correlation, as :func:`effective_filter`), fitted by non-negative least
    squares (scipy's) on `samples` pixels of the valid region drawn with `seed`. y, target: (3, H, W).
    Returns (size, size), not normalised."""
    import numpy as np
    from scipy.optimize import nnls

    rows, wanted = (t.numpy() for t in filter_system(y, target, size))
    pick = np.random.default_rng(seed).choice(len(wanted), min(len(wanted), samples), replace=False)
    taps, _ = nnls(rows[pick], wanted[pick])
    return torch.from_numpy(taps).float().view(size, size)


def best_filter(cam_dir: Path, d_prime_path: Path, data: dict, direct: dict, size: int) -> dict:
    """The most a filter G of `size` can gain on a blur that is the same all over the frame: D' on each test shot
    filtered by its own best non-negative filter towards its known-blur shot (:func:`best_nonnegative_filter`,
    fitted on that very shot, so an upper bound): ``{size, gain, improved, translation_psnr}``, the last as
    the curve's PSNR(G(y), known-blur shot). Where this is far below the perfect G, no filter G can close the
    gap: the camera's blur has lost what the known blur keeps."""
    from blur2blur.ops import convolve_per_image

    folder = cam_dir / "eval" / f"best-filter-{size}"
    pairs, to_known = [], []
    for shot, translation in zip(data["test"], data["translation"]):
        path = folder / f"{Path(shot.blurry).stem}.png"
        if not path.exists():
            y, known = read_image(shot.blurry)[0], read_image(translation.sharp)[0]
            taps = best_nonnegative_filter(y, known, size)
            write_image(convolve_per_image(y[None], taps.flip(-1, -2)[None])[0], path)  # flipped: a correlation
        pairs.append(BlurPair(path, shot.sharp, shot.scene))
        to_known.append(BlurPair(path, translation.sharp, shot.scene))
    diff = paired_difference(evaluated(folder / "deblurred.json", d_prime_path, pairs), direct)
    return {"size": size, "gain": diff["psnr"], "improved": diff["improved"],
            "translation_psnr": evaluated(folder / "to-known.json", None, to_known)["summary"]["psnr"]}


def _second_moments(k: torch.Tensor) -> tuple[float, float, float]:
    """A filter's central second moments (cuu, cvv, cuv) in px² (u: x right, v: y down), from the taps clipped
    at zero and normalised."""
    w = k.clamp(min=0).double()
    w = w / w.sum()
    r = k.shape[0] // 2
    v, u = torch.meshgrid(torch.arange(-r, r + 1.0, dtype=w.dtype), torch.arange(-r, r + 1.0, dtype=w.dtype),
                          indexing="ij")
    u, v = u - (w * u).sum(), v - (w * v).sum()
    return (w * u * u).sum().item(), (w * v * v).sum().item(), (w * u * v).sum().item()


def filter_shape(k: torch.Tensor) -> dict:
    """A filter's spread as an ellipse: ``angle`` (radians, x right, y down) of its long axis, ``anisotropy``
    sqrt(long / short second moment) (1: round), ``spread`` sqrt of the total second moment (px), from the
    taps clipped at zero and normalised."""
    cuu, cvv, cuv = _second_moments(k)
    half, root = (cuu + cvv) / 2, math.sqrt(((cuu - cvv) / 2) ** 2 + cuv ** 2)
    return {"angle": 0.5 * math.atan2(2 * cuv, cuu - cvv),
            "anisotropy": math.sqrt((half + root) / max(half - root, 1e-9)), "spread": math.sqrt(cuu + cvv)}


def spread_along(k: torch.Tensor, angle: float) -> float:
    """A filter's spread (px: the standard deviation of its clipped, normalised taps) along direction `angle`
    (radians, x right, y down). A straight blur of length L has L / sqrt(12) along its path."""
    cuu, cvv, cuv = _second_moments(k)
    c, s = math.cos(angle), math.sin(angle)
    return math.sqrt(max(cuu * c * c + 2 * cuv * c * s + cvv * s * s, 0.0))


def length_tracking(spreads: list[float] | None, wanted: list[float] | None) -> float | None:
    """Whether G's blur length follows each shot's: the correlation (Pearson's r) over the test shots between
    G's spread along the path and a perfect G's. 1: G blurs each shot as far as that shot needs; about 0: one
    length for every shot; negative: longest where the shortest is needed. None when either has no spread to
    compare (None: G, or a perfect G, adds no blur; all equal; fewer than 3 shots)."""
    import statistics

    if spreads is None or wanted is None or len(spreads) < 3:
        return None
    try:
        return statistics.correlation(spreads, wanted)
    except statistics.StatisticsError:  # a constant list: no spread to correlate
        return None


# Below this spread (px) a fitted filter is the unit tap: it has no direction to compare.
FILTER_SPREAD_PX = 0.1


def filter_along_path(crops, outs, stems, angles: dict) -> dict:
    """How G's blur lies against each test shot's path: the mean anisotropy of its effective filter, the
    mean |cos| between the filter's long axis and the path (1: along it; 2/pi ~ 0.64 for directions at
    random), and its spread along the path (px), per shot (``along_spreads``) and their mean (``along_spread``);
    all None where G adds no blur, or its output is not finite."""
    nothing = {"alignment": None, "anisotropy": None, "along_spread": None, "along_spreads": None}
    if not all(torch.isfinite(o).all() for o in outs):
        return nothing
    filters = [effective_filter(c, o) for c, o in zip(crops, outs)]
    shapes = [filter_shape(k) for k in filters]
    moved = [(s, angles[stem]) for s, stem in zip(shapes, stems) if s["spread"] > FILTER_SPREAD_PX]
    if not moved:
        return nothing
    along = [spread_along(k, angles[stem]) for k, stem in zip(filters, stems)]
    return {"alignment": sum(abs(math.cos(s["angle"] - a)) for s, a in moved) / len(moved),
            "anisotropy": sum(s["anisotropy"] for s, _ in moved) / len(moved),
            "along_spread": sum(along) / len(along), "along_spreads": along}


def shot_crops(data: dict) -> list[torch.Tensor]:
    """The test shots' central 256-px crops (3, 256, 256), on which G's blur is fitted as filters."""
    from blur2blur.ops import centre_crop

    return [centre_crop(read_image(t.blurry)[0], 256) for t in data["test"]]


def perfect_filter(data: dict) -> dict:
    """`filter_along_path` for a perfect G: the test shots mapped to the same shots with the known blur."""
    from blur2blur.ops import centre_crop

    known = [centre_crop(read_image(k.sharp)[0], 256) for k in data["translation"]]  # (y, known-blur shot)
    return filter_along_path(shot_crops(data), known, [Path(t.blurry).stem for t in data["test"]],
                             data["path_angles"])


@torch.no_grad()
def g_filter_along_path(g: torch.nn.Module, data: dict) -> dict:
    """`filter_along_path` for translator `g` on the test shots' crops (:func:`shot_crops`)."""
    crops = shot_crops(data)
    outs = [g(c[None])[-1][0] for c in crops]
    return filter_along_path(crops, outs, [Path(t.blurry).stem for t in data["test"]], data["path_angles"])


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


@torch.no_grad()
def curve(args, name: str, rung: str, data: dict, d_prime_path: Path, direct: dict, upper_result: dict,
          perfect_along: dict, steps: set[int] | None = None) -> list[dict]:
    """D'(G(y)) on the test pairs at every checkpoint of the rung's translator (the learning curve), or only at
    `steps` (a look at a run still training). `perfect_along`: :func:`perfect_filter`, against which G's blur
    length is compared shot by shot."""
    from blur2blur.models import load_any
    from blur2blur.models.composed import ComposedDeblurrer
    from blur2blur.train.translator import drift_psnr, translators_at_checkpoints

    run = args.out / "cameras" / name / f"rung-{rung}{args.tag}"
    d_prime = load_any(d_prime_path).eval()
    crops = shot_crops(data)
    stems = [Path(t.blurry).stem for t in data["test"]]
    cfg = translator_config(args)
    heldout = {}
    log_file = run / "translator-run" / "log.jsonl"
    if log_file.exists():
        for line in log_file.read_text().splitlines():
            rec = json.loads(line)
            if "d_acc_b_vs_k" in rec:
                heldout[rec["step"]] = rec
    points = []
    for step, g in translators_at_checkpoints(run / "translator-run", cfg.arch, cfg.arch_args):
        if steps is not None and step not in steps:
            continue
        res = evaluated(run / "eval" / f"step_{step:07d}.json",
                        lambda g=g: ComposedDeblurrer.from_parts(g, d_prime).eval(), data["test"])
        g_alone = evaluated(run / "eval" / f"g_step_{step:07d}.json", lambda g=g: _Finest(g), data["test"])
        to_known = evaluated(run / "eval" / f"g_to_known_step_{step:07d}.json", lambda g=g: _Finest(g),
                             data["translation"])
        outs = [g(c[None])[-1][0] for c in crops]
        drift = [drift_psnr(o, c) for o, c in zip(outs, crops)]
        along = filter_along_path(crops, outs, stems, data["path_angles"])
        diff = paired_difference(res, direct)
        up = upper_result["summary"]["psnr"] - direct["summary"]["psnr"]
        h = heldout.get(step, {})
        points.append({"step": step, "psnr": res["summary"]["psnr"], "g_psnr": g_alone["summary"]["psnr"],
                       "translation_psnr": to_known["summary"]["psnr"],
                       "d_psnr": diff["psnr"],
                       "improved": diff["improved"], "gap_closed": diff["psnr"] / up if up > 0 else None,
                       "drift_test": sum(drift) / len(drift), "filter_alignment": along["alignment"],
                       "filter_anisotropy": along["anisotropy"], "filter_along_spread": along["along_spread"],
                       "length_tracking": length_tracking(along["along_spreads"], perfect_along["along_spreads"]),
                       "d_acc_b_vs_k": h.get("d_acc_b_vs_k"),
                       "d_acc_heldout": h.get("d_acc_heldout"), "drift_heldout": h.get("drift_psnr")})
    return points


def report(args) -> dict:
    _, known_test = known_pairs(args)
    d_prime = deblurrer(args)
    known = evaluated(args.out / "known" / "eval-deblurrer.json", d_prime, known_test)["summary"]
    results = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "only"},
               "known": known, "cameras": {}}
    lines = ["# Translator ladder", "",
             f"D' on the known camera's held-out blur: {known['psnr_input']:.2f} -> {known['psnr']:.2f} dB "
             f"({known['gain_over_input']:+.2f} dB, {known['samples']} crops).", ""]
    for name in args.cameras:
        cam_dir = args.out / "cameras" / name
        data = camera_sets(args, name)
        blurry = evaluated(cam_dir / "eval" / "blurry.json", None, data["test"])
        direct = evaluated(cam_dir / "eval" / "direct.json", d_prime, data["test"])
        up_path = cam_dir / "upper.safetensors"
        if not up_path.exists():
            log(f"{name}: no upper bound yet; skipped")
            continue
        up = evaluated(cam_dir / "eval" / "upper.json", up_path, data["test"])
        up_gain = paired_difference(up, direct)
        # A perfect G: D' on the test shots exposed with the known blur; and how far the camera's shots are
        # from those (the translation a G must make, scored as PSNR(G(y), known-blur shot) in the curve).
        perfect = evaluated(cam_dir / "eval" / "perfect-translation.json", d_prime, data["test_known"])
        perfect_gain = paired_difference(perfect, direct)
        identity = evaluated(cam_dir / "eval" / "translation-identity.json", None, data["translation"])
        preblur = best_preblur(cam_dir, d_prime, data["test"], direct)
        filtered = best_filter(cam_dir, d_prime, data, direct, args.kernel_size)
        perfect_along = perfect_filter(data)
        cam = {"sizes": {"B": len(data["b_pairs"]), "test_crops": direct["summary"]["samples"],
                         **{f"K_{r}": len(v) for r, v in data["K"].items()}},
               "blurry": blurry["summary"]["psnr"], "direct": direct["summary"]["psnr"],
               "upper": up["summary"]["psnr"], "upper_gain": up_gain["psnr"], "perfect": perfect["summary"]["psnr"],
               "perfect_gain": perfect_gain["psnr"], "translation_identity": identity["summary"]["psnr"],
               "preblur": preblur, "best_filter": filtered, "perfect_filter": perfect_along, "rungs": {}}
        lines += [f"## Camera `{name}`", "",
                  f"B: {len(data['b_pairs'])} images; test: {direct['summary']['samples']} crops. Blurry "
                  f"{cam['blurry']:.2f} dB, D' direct {cam['direct']:.2f}, upper bound {cam['upper']:.2f} "
                  f"({up_gain['psnr']:+.2f} dB over direct, {100 * up_gain['improved']:.0f}% of crops). A perfect G "
                  f"(D' on the same shots with the known blur): {cam['perfect']:.2f} dB ({perfect_gain['psnr']:+.2f} "
                  f"dB over direct, {100 * perfect_gain['improved']:.0f}% of crops); PSNR(y, known-blur shot) "
                  f"{cam['translation_identity']:.2f} dB (G at the identity). The best fixed Gaussian pre-blur "
                  f"before D' (σ {preblur['sigma']} px, chosen on these crops): {preblur['gain']:+.2f} dB, "
                  f"{100 * preblur['improved']:.0f}% of crops: a G that only smooths its input gains this much. "
                  f"The best non-negative {filtered['size']}x{filtered['size']} filter per test shot (fitted on the "
                  f"shot itself; the most a filter G gains on a blur uniform over the frame): "
                  f"{filtered['gain']:+.2f} dB, {100 * filtered['improved']:.0f}% of crops, "
                  f"{filtered['translation_psnr']:.2f} dB from the known-blur shot. "
                  f"The blur a perfect G adds, fitted as one filter per test shot: anisotropy "
                  f"{_num(perfect_along['anisotropy'])}, alignment with the camera's path "
                  f"{_num(perfect_along['alignment'])} (|cos|; 0.64 for directions at random), spread along the "
                  f"path {_num(perfect_along['along_spread'])} px.", "",
                  "| rung | K | D acc K vs B (held-out) | drift PSNR(G(y), y) | PSNR(G(y), known-blur shot) | "
                  "D' gain on K | D'(G(y)) | Δ vs direct | improved | gap closed | verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for rung in args.rungs:
            if not (cam_dir / f"rung-{rung}{args.tag}" / "translator-run").is_dir():
                continue
            points = curve(args, name, rung, data, d_prime, direct, up, perfect_along)
            if not points:
                continue
            last = points[-1]
            acc = max((p["d_acc_b_vs_k"] or 0) for p in points)
            verdict = ("failed: D at chance, G had no target" if acc < CHANCE_ACCURACY else
                       "failed: G stayed at the identity" if last["drift_test"] > IDENTITY_DRIFT_DB else
                       "failed: G moved but D' does worse on it" if last["d_psnr"] <= -NOISE_DB else
                       f"no gain beyond {NOISE_DB} dB" if last["d_psnr"] < NOISE_DB else
                       "no better than a fixed pre-blur" if last["d_psnr"] < preblur["gain"] + NOISE_DB else "learned")
            # D' must gain on K about what it gains on its own blur, or translating into K cannot help it.
            on_k = (evaluated(cam_dir / "eval" / f"deblurrer-on-K-{rung}.json", d_prime, data["K_pairs"][rung])
                    ["summary"]["gain_over_input"] if rung in data["K_pairs"] else None)
            cam["rungs"][rung] = {"curve": points, "verdict": verdict, "deblurrer_gain_on_k": on_k}
            gap = last["gap_closed"]
            lines.append(f"| {rung} | {RUNGS[rung]} | {acc:.2f} | {last['drift_test']:.1f} dB | "
                         f"{last['translation_psnr']:.2f} dB | "
                         f"{'–' if on_k is None else f'{on_k:+.2f} dB'} | {last['psnr']:.2f} | "
                         f"{last['d_psnr']:+.2f} | {100 * last['improved']:.0f}% | "
                         f"{'–' if gap is None else f'{round(100 * gap) or 0}%'} | {verdict} |")
        lines += ["", "Learning curve (gap closed; PSNR(G(y), known-blur shot); G's filter: alignment with the "
                  "path / anisotropy / spread along the path, px / length tracking, the correlation of that spread "
                  "with a perfect G's over the test shots), at each evaluated step:", ""]
        for rung, r in cam["rungs"].items():
            pts = ", ".join(f"{p['step']}: {round(100 * (p['gap_closed'] or 0)) or 0}% "
                            f"({p['translation_psnr']:.2f} dB; {_num(p['filter_alignment'])} / "
                            f"{_num(p['filter_anisotropy'])} / {_num(p['filter_along_spread'])} / "
                            f"{_num(p['length_tracking'])})" for p in r["curve"])
            lines.append(f"- rung {rung}: {pts}")
        lines.append("")
        results["cameras"][name] = cam
    write_json(args.out / "ladder.json", results)
    (args.out / "ladder.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return results


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--photos", nargs="+", required=True, help="folders or files of sharp photographs (scenes)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cameras", nargs="+", default=list(CAMERAS), choices=list(CAMERAS))
    p.add_argument("--rungs", nargs="+", default=["a", "b", "c"], choices=list(RUNGS))
    p.add_argument("--extractor", type=Path, help="kernel extractor F for rung d")
    p.add_argument("--long-side", type=int, default=512)
    p.add_argument("--steps", type=int, default=600, help="translator steps per rung")
    p.add_argument("--warmup", type=int, default=300, help="discriminator warm-up steps (G at the identity)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--content", default="lowpass", choices=["lowpass", "pixel"])
    p.add_argument("--lambda-rec", type=float, default=0.8)
    p.add_argument("--lambda-grad", type=float, default=1e-4)
    p.add_argument("--lambda-direction", type=float, default=0.0,
                   help="weight of the direction term (G may remove detail along one direction per tile)")
    p.add_argument("--lambda-profile", type=float, default=0.0,
                   help="weight of the blur-profile term (G's outputs get the known blur's autocorrelation shape)")
    p.add_argument("--sigma", type=float, default=4.0)
    p.add_argument("--eps", type=float, default=0.002)
    p.add_argument("--high-weight", type=float, default=0.2)
    p.add_argument("--batch", type=int, default=None, help="crops of B and of K per step (default: the tiny preset's)")
    p.add_argument("--lr", type=float, default=2e-4, help="G's learning rate (the paper's 2e-4)")
    p.add_argument("--d-lr", type=float, default=None, help="the discriminator's learning rate (default: G's)")
    p.add_argument("--disc-scales", type=int, default=3, choices=[1, 2, 3], help="G's scales D judges, finest first")
    p.add_argument("--disc-layers", type=int, default=3, help="D's stride-2 layers (3: the 70-pixel PatchGAN)")
    p.add_argument("--disc-features", choices=("image", "autocorrelation"), default="image",
                   help="what D sees: the image (the paper's), or the image and its blur's local autocorrelation")
    p.add_argument("--arch", default="b2b_translator", choices=["b2b_translator", "b2b_filter_translator"],
                   help="G: the paper's (pixels out) or one that predicts a blur filter per pixel")
    p.add_argument("--kernel-size", type=int, default=9, help="the filter translator's filter size (odd)")
    p.add_argument("--smooth", type=int, default=1, help="the filter translator's filter averaging window (odd)")
    p.add_argument("--nonnegative", action="store_true",
                   help="the filter translator's taps clipped at zero: it can blur, not sharpen or ring")
    p.add_argument("--direction-angles", type=int, default=0,
                   help="the filter translator also sees its input's blur direction in this many angles (0: not)")
    p.add_argument("--steer", action="store_true",
                   help="the filters turned to its input's blur direction (with --direction-angles)")
    p.add_argument("--stretch", action="store_true",
                   help="the steered filters also stretched along the blur by its length read from the input "
                        "(with --steer)")
    p.add_argument("--direction-reading", default="local", choices=["local", "whole"],
                   help="where the steering direction comes from: each pixel's direction features (local), or "
                        "the whole image's autocorrelation at every offset (whole; with --steer)")
    p.add_argument("--deblurrer-steps", type=int, default=0,
                   help="fine-tuning steps of the bundled sample deblurrer on the known camera (0: use it as is;\n"
                        "1000 measured: +2.35 dB on its own blur against +1.77; needs its own --out)")
    p.add_argument("--upper-steps", type=int, default=1000)
    p.add_argument("--ceiling-steps", type=int, default=200,
                   help="steps of the `ceiling:CAMERA` job (G trained supervised on the perfect translation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="", help="suffix of the rung folders (probes with other settings)")
    p.add_argument("--only", nargs="*", default=None,
                   help="jobs: deblurrer, upper:CAMERA, translate:CAMERA:RUNG, report (default: all, in order)")
    return p.parse_args(argv)


# What every result in --out depends on besides each job's own flags (the scenes, every shot, D', the upper
# bound, and all scores of D'): a later run with other values would mix them silently (D' direct from one
# deblurrer, a curve from another), so one --out keeps one set of them.
SHARED_SETTINGS = ("photos", "long_side", "seed", "deblurrer_steps", "upper_steps")


def check_out(args) -> None:
    """Record the shared settings in ``--out/settings.json`` on the first run; refuse (SystemExit) a later run
    into the same folder that asks for other ones."""
    path = args.out / "settings.json"
    mine = {k: getattr(args, k) for k in SHARED_SETTINGS}
    mine["photos"] = [str(Path(p).resolve()) for p in args.photos]
    if not path.exists():
        write_json(path, mine)
        return
    theirs = json.loads(path.read_text())
    differ = [k for k in SHARED_SETTINGS if theirs.get(k) != mine[k]]
    if differ:
        flags = ", ".join(f"--{k.replace('_', '-')} {theirs.get(k)} (this run: {mine[k]})" for k in differ)
        raise SystemExit(f"{args.out} holds results made with {flags} ({path}): give this run another --out")


def main(argv=None) -> None:
    args = parse_args(argv)
    check_out(args)
    jobs = args.only if args.only is not None else (
        ["deblurrer"] + [f"upper:{c}" for c in args.cameras]
        + [f"translate:{c}:{r}" for c in args.cameras for r in args.rungs] + ["report"])
    for job in jobs:
        kind, *rest = job.split(":")
        log(f"job {job}")
        if kind == "deblurrer":
            deblurrer(args)
        elif kind == "upper":
            upper(args, rest[0])
        elif kind == "translate":
            translate(args, rest[0], rest[1])
        elif kind == "ceiling":
            ceiling(args, rest[0])
        elif kind == "report":
            report(args)
        else:
            raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main()
