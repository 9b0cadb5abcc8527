"""`blur2blur experiment`: the paper's comparison (Table 2) and B:S ratio ablation (Table 3), end to end.

For every camera with unknown blur the experiment builds the unpaired sets B and S (scenes
disjoint), a test set of (blurry, sharp) pairs from other scenes, and then scores one row per
method on the same test samples:

==============  ===============================================================================
``blurry``      the camera's blurry input itself
``direct``      D', the deblurrer of the known blur, applied directly
``synthetic``   D' fine-tuned on S blurred with random straight motion kernels ("w/ Synthetic Data")
``bsrgan``      D' fine-tuned on S degraded by the BSRGAN-style shuffled pipeline
``rsblur``      D' fine-tuned on S degraded by RSBlur-style synthesis
``cyclegan``    CycleGAN trained on B <-> S (unpaired), its B -> S generator used as the deblurrer
``dualgan``     DualGAN, the same way
``blur2blur``   D'(G(y)): the translator G trained on B against the known-blur set K (``blur2blur fit``)
``blur2blur_true_k``  the same with K made by the known camera itself instead of the extractor F: a
                diagnostic that separates F's error from the translator's (the demo's simulated
                known camera only)
``upper``       D' fine-tuned on the camera's own training pairs (the upper bound, needs paired data)
==============  ===============================================================================

A camera is either *simulated* from sharp photographs (a preset of
:mod:`blur2blur.data.camera_sim`; the photos are divided by scene into test, B and S) or a
*paired dataset* on disk (REDS, RSBlur, RB2V, ...: its training split is divided into B and S
at the ratio, its test split is the test set), so the same config runs on the paper's data.

Everything lands in one run folder and every piece is skipped when it exists, so an
interrupted experiment resumes. The results are ``results.json``, ``results.md`` and an HTML
report (``report/index.html``). The figures that decide whether a comparison means anything
are reported next to it, with warnings: the known deblurrer's gain on its own blur, and the
discriminator's held-out accuracy on K vs B (at chance, the Blur2Blur row is invalid, not
negative).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from blur2blur.data.pairs import BlurPair
from blur2blur.evaluate import EvalConfig, evaluate, evaluation_samples, paired_difference
from blur2blur.fileio import atomic_write_text
from blur2blur.fit import FitConfig, tiny_config
from blur2blur.train.deblurrer import DeblurrerConfig
from blur2blur.train.loop import LoopConfig
from blur2blur.train.unpaired import UnpairedConfig

ROWS = ("blurry", "direct", "synthetic", "bsrgan", "rsblur", "cyclegan", "dualgan", "blur2blur", "blur2blur_true_k",
        "upper")
# Rows that are a Blur2Blur fit: their run folder in the camera's folder and their key of held-out signals.
FIT_ROWS = {"blur2blur": ("fit", "signals"), "blur2blur_true_k": ("fit-true-k", "signals_true_k")}
# Rows whose deblurrer is D' fine-tuned on S degraded by this blur2blur.data.degradations pipeline.
DEGRADATION_ROWS = {"synthetic": "synthetic", "bsrgan": "bsrgan", "rsblur": "rsblur"}
ROW_TITLES = {"blurry": "blurry input", "direct": "D' direct", "synthetic": "D' w/ synthetic data",
              "bsrgan": "D' w/ BSRGAN-style data", "rsblur": "D' w/ RSBlur-style data",
              "cyclegan": "CycleGAN (B -> S)", "dualgan": "DualGAN (B -> S)",
              "blur2blur": "D' + Blur2Blur", "blur2blur_true_k": "D' + Blur2Blur, true K (diagnostic)",
              "upper": "D' trained on the camera's pairs (upper bound)"}
MIN_KNOWN_GAIN_DB = 2.0   # below this D' leaves no headroom: the comparison is not meaningful
CHANCE_ACCURACY = 0.6     # held-out K-vs-B accuracy of D below this: the Blur2Blur row is invalid


@dataclass
class CameraSpec:
    """One camera with unknown blur: simulated from photos, or a paired dataset on disk."""

    name: str = "phone_like"
    simulate: str | None = "phone_like"    # a camera_sim preset; None: use `pairs`
    camera: dict[str, Any] = field(default_factory=dict)   # overrides of the preset's CameraConfig fields
    pairs: str | None = None               # a paired dataset of this camera (train split -> B/S, test split -> test)
    layout: str = "auto"
    test_split: str = "test"
    test_fraction: float = 0.2             # datasets without a test split (RSBlur): share of scenes held out
    # Simulated cameras: the ground truth of the camera's pairs (test set, upper bound). "camera": its still
    # shot without noise or JPEG, so its tone (gain, clipping) is in the target as in a real paired dataset
    # and scores measure blur; "photo": the photo itself (a supervised model then also learns the tone).
    ground_truth: Literal["camera", "photo"] = "camera"

    def __post_init__(self):
        if self.ground_truth not in ("camera", "photo"):
            raise ValueError(f"camera {self.name!r}: ground_truth must be 'camera' or 'photo', "
                             f"got {self.ground_truth!r}")


@dataclass
class ExperimentConfig:
    name: str = "Blur2Blur experiment"
    photos: str | None = None        # sharp photos for simulated cameras; None: the demo's unknown-camera photos
    test_every: int = 3              # simulated cameras: every N-th photo (by name) is a test scene
    b_variants: int = 1              # simulated cameras: blurry versions of each photo of B
    known_pairs: str | None = None   # known-blur pairs P; None: the bundled demo's known camera
    known_layout: str = "auto"
    known_test_split: str = "test"
    deblurrer: str | None = None     # D' weights; None: train it on P (or, for the demo, the bundled one)
    extractor: str | None = None     # F weights; None: train it on P
    cameras: list[CameraSpec] = field(default_factory=lambda: [CameraSpec()])
    ratio: float = 0.6               # B's share of the training scenes (paper: 0.6)
    ratios: list[float] = field(default_factory=list)   # Table 3: Blur2Blur again at each of these ratios
    rows: list[str] = field(default_factory=lambda: ["blurry", "direct", "synthetic", "blur2blur", "upper"])
    fit: FitConfig = field(default_factory=FitConfig)           # the paper's stages (GPU-sized)
    # Baseline and upper-bound deblurrers: D' fine-tuned with NAFNet's recipe, the same budget for each.
    finetune: DeblurrerConfig = field(default_factory=DeblurrerConfig)
    cyclegan: UnpairedConfig = field(default_factory=lambda: UnpairedConfig(method="cyclegan"))
    dualgan: UnpairedConfig = field(default_factory=lambda: UnpairedConfig(method="dualgan"))
    eval: EvalConfig = field(default_factory=EvalConfig)        # whole test images, as the paper scores
    report_crops: int = 4
    seed: int = 0

    def __post_init__(self):
        unknown = [r for r in self.rows if r not in ROWS]
        if unknown:
            raise ValueError(f"unknown rows {unknown}; choose among {', '.join(ROWS)}")
        if "blur2blur_true_k" in self.rows and self.known_pairs is not None:
            raise ValueError("the blur2blur_true_k row needs the demo's simulated known camera (known_pairs: null): "
                             "a known dataset on disk has no blur function to make K with")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must differ, got {names}")


@dataclass
class CameraData:
    blurry: list[Path]             # B
    sharp: list[Path]              # S (other scenes)
    train_pairs: list[BlurPair]    # the camera's own training pairs (upper bound only)
    test_pairs: list[BlurPair]
    sharp_blurry: list[Path]       # the camera's blurry shot of each scene of S (same order): a check only


def _log(msg: str) -> None:
    print(f"[experiment] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


def _photos(cfg: ExperimentConfig) -> list[Path]:
    from blur2blur.data.demo import demo_camera_sharp
    from blur2blur.data.images import expand_inputs

    return demo_camera_sharp() if cfg.photos is None else sorted(expand_inputs([cfg.photos]))


def simulated_camera(cfg: ExperimentConfig, spec: CameraSpec, out: Path, ratio: float) -> CameraData:
    """Test, B and S scenes from the photos; B and the test pairs shot by the simulated camera,
    S by the same camera held still (its noise, response and JPEG, no motion). The pairs' targets
    follow ``spec.ground_truth``."""
    from blur2blur.data import camera_sim
    from blur2blur.data.pairs import find_pairs
    from blur2blur.data.split import split_scenes

    camera = dataclasses.replace(camera_sim.get_camera(spec.simulate), **spec.camera)
    # The camera held still: its response, noise and JPEG, no motion (the sharp images S it takes).
    still = dataclasses.replace(camera, name=f"{camera.name}-still", exposure=0.0)
    photos = _photos(cfg)
    test = [p for i, p in enumerate(photos) if i % cfg.test_every == cfg.test_every - 1]
    train = [p for p in photos if p not in test]
    if len(train) < 2 or not test:
        raise ValueError(f"{len(photos)} photos are too few for a simulated camera (test_every={cfg.test_every})")

    target = "clean" if spec.ground_truth == "camera" else "original"

    def shot(name: str, chosen: list[Path], cam, seed: int) -> list[BlurPair]:
        folder = out / "data" / name
        manifest = folder / "manifest.json"
        if not manifest.exists():
            camera_sim.write_camera_pairs(chosen, folder, cam, seed=seed, sharp=target, overwrite=folder.exists())
        elif (written := json.loads(manifest.read_text(encoding="utf-8")).get("sharp")) != target:
            # A run folder of an older version (or edited by hand): its targets are not this config's.
            raise ValueError(f"{folder} holds pairs with sharp={written!r} targets, this config wants {target!r} "
                             f"(ground_truth {spec.ground_truth!r}); use a new run folder")
        return find_pairs(folder, "folders")

    train_pairs = shot("train", train, camera, cfg.seed)
    test_pairs = shot("test", test, camera, cfg.seed + 1)
    b_pairs, _ = split_scenes(train_pairs, ratio, cfg.seed)
    b_photos = {p.scene for p in b_pairs}   # the folders layout names a pair's scene by its photo's stem
    blurry = [p.blurry for p in b_pairs]
    for v in range(1, cfg.b_variants):
        blurry += [p.blurry for p in shot(f"train-v{v}", [q for q in train if q.stem in b_photos], camera,
                                          cfg.seed + 10 + v)]
    s_shots = shot("still", [q for q in train if q.stem not in b_photos], still, cfg.seed + 2)
    blurry_of = {p.blurry.stem: p.blurry for p in train_pairs}
    return CameraData(blurry, [p.blurry for p in s_shots], train_pairs, test_pairs,
                      [blurry_of[p.blurry.stem] for p in s_shots])



def dataset_camera(cfg: ExperimentConfig, spec: CameraSpec, ratio: float) -> CameraData:
    """B and S from the dataset's training split (whole scenes, at `ratio`), its test split as test set."""
    from blur2blur.data.pairs import _sharp_paths, find_pairs
    from blur2blur.data.split import split_scenes
    from blur2blur.train.kernels import split_by_scene

    train = find_pairs(spec.pairs, spec.layout, split="train")
    test = find_pairs(spec.pairs, spec.layout, split=spec.test_split)
    if {p.blurry for p in test} & {p.blurry for p in train}:  # the layout has no splits
        train, test = split_by_scene(train, spec.test_fraction, cfg.seed)
    b_pairs, s_pairs = split_scenes(train, ratio, cfg.seed)
    sharp = [_sharp_paths(p)[(len(_sharp_paths(p)) - 1) // 2] for p in s_pairs]
    return CameraData([p.blurry for p in b_pairs], sharp, train, test, [p.blurry for p in s_pairs])


def camera_data(cfg: ExperimentConfig, spec: CameraSpec, out: Path, ratio: float) -> CameraData:
    if spec.pairs:
        return dataset_camera(cfg, spec, ratio)
    if not spec.simulate:
        raise ValueError(f"camera {spec.name!r}: give `simulate` (a camera_sim preset) or `pairs` (a dataset)")
    return simulated_camera(cfg, spec, out, ratio)


# ----------------------------------------------------------------------------- models


def _known(cfg: ExperimentConfig) -> tuple[list[BlurPair], list[BlurPair]]:
    from blur2blur.data.pairs import find_pairs

    if cfg.known_pairs is None:
        from blur2blur.data.demo import demo_known_pairs

        root = demo_known_pairs()
        return find_pairs(root / "train", "folders"), find_pairs(root / "test", "folders")
    return (find_pairs(cfg.known_pairs, cfg.known_layout, split="train"),
            find_pairs(cfg.known_pairs, cfg.known_layout, split=cfg.known_test_split))


def _train(name: str, cfg_part, make_trainer, out: Path, run: Path) -> Path:
    from blur2blur.fit import train_stage

    return train_stage(name, cfg_part, make_trainer, out, run, message=f"training {name}",
                       trained_by="blur2blur experiment", log=_log)


def known_models(cfg: ExperimentConfig, out: Path, known_train, known_test) -> tuple[Path, Path]:
    """(extractor F, deblurrer D') paths: given, bundled (the demo's D') or trained into ``out/known``."""
    from blur2blur.train.deblurrer import DeblurrerTrainer
    from blur2blur.train.kernels import KernelTrainer

    run = out / "known"
    extractor = Path(cfg.extractor) if cfg.extractor else _train(
        "extractor", cfg.fit.kernels, lambda rt: KernelTrainer(cfg.fit.kernels, known_train, known_test, rt),
        run / "extractor.safetensors", run)
    if cfg.deblurrer:
        deblurrer = Path(cfg.deblurrer)
    elif cfg.known_pairs is None:
        from blur2blur.assets import sample_deblurrer_path

        deblurrer = sample_deblurrer_path()  # trained on the demo's known camera only
    else:
        deblurrer = _train("deblurrer", cfg.fit.deblurrer,
                           lambda rt: DeblurrerTrainer(cfg.fit.deblurrer, known_train, known_test, rt),
                           run / "deblurrer.safetensors", run)
    return extractor, deblurrer


def _finetuned(cfg: ExperimentConfig, name: str, base: Path, pairs: list[BlurPair], cam_dir: Path) -> Path:
    """D' fine-tuned on `pairs` (a baseline or the upper bound); the same budget for every row."""
    from blur2blur.models import load_any
    from blur2blur.train.deblurrer import DeblurrerTrainer
    from blur2blur.train.kernels import split_by_scene

    train, held = split_by_scene(pairs, 0.1, cfg.seed)
    return _train(f"deblurrer-{name}", cfg.finetune,
                  lambda rt: DeblurrerTrainer(cfg.finetune, train, held, rt, model=load_any(base)),
                  cam_dir / f"deblurrer-{name}.safetensors", cam_dir)


def _unpaired(cfg: ExperimentConfig, method: str, data: CameraData, cam_dir: Path) -> Path:
    """The B -> S generator of an unpaired translation network trained on B and S."""
    from blur2blur.train.unpaired import UnpairedTranslationTrainer

    ucfg = getattr(cfg, method)
    if ucfg.method != method:
        raise ValueError(f"the {method} row needs {method}.method = {method}, got {ucfg.method}")
    blurry, sharp = [str(p) for p in data.blurry], [str(p) for p in data.sharp]
    held = max(1, len(blurry) // 10)
    return _train(method, ucfg, lambda rt: UnpairedTranslationTrainer(
        ucfg, blurry[:-held], sharp, rt, val_blurry=blurry[-held:], val_sharp=sharp[:held]),
        cam_dir / f"{method}.safetensors", cam_dir)


def _degraded_pairs(cfg: ExperimentConfig, row: str, sharp: list[Path], cam_dir: Path) -> list[BlurPair]:
    from blur2blur.data.degradations import degrade_dataset
    from blur2blur.data.pairs import find_pairs

    folder = cam_dir / f"degraded-{row}"
    if not (folder / "manifest.json").exists():
        degrade_dataset(sharp, folder, DEGRADATION_ROWS[row], seed=cfg.seed, variants=2, overwrite=folder.exists())
    return find_pairs(folder, "folders")


def _fit(cfg: ExperimentConfig, data: CameraData, known_train, known_test, extractor: Path, deblurrer: Path,
         run: Path, known_set: list[Path] | None = None) -> Path:
    from blur2blur.fit import FitInputs, run_fit

    return run_fit(FitInputs(data.blurry, data.sharp, known_train, known_test, extractor, deblurrer,
                             known_set=known_set), cfg.fit, run)


def _true_known_set(cfg: ExperimentConfig, data: CameraData, cam_dir: Path) -> list[tuple[Path, Path]]:
    """K made by the demo's known camera on S (with K's settings: variants, camera look)."""
    from blur2blur.data.demo import write_known_camera_set

    return write_known_camera_set(data.sharp, cam_dir / "true-K", variants=cfg.fit.transfer.variants,
                                  seed=cfg.seed, camera_noise=cfg.fit.transfer.camera_noise)


# ----------------------------------------------------------------------------- the experiment


def _evaluated(path: Path, load_model: Callable[[], torch.nn.Module | None], pairs, cfg: ExperimentConfig,
               desc: str) -> dict:
    """The evaluation stored at `path`, or a new one of ``load_model()`` (loaded only then) on `pairs`."""
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    result = evaluate(load_model(), pairs, cfg.eval, desc=desc)
    atomic_write_text(path, json.dumps(result, indent=1))
    return result


def translator_signals(fit_run: Path) -> dict[str, float]:
    """The translator's held-out signals stored in its checkpoint (d_acc_b_vs_k, d_acc_heldout, drift_psnr)."""
    from blur2blur.models.checkpoint import read_state_dict

    path = fit_run / "translator.safetensors"
    if not path.exists():
        return {}
    return dict(read_state_dict(path)[1].get("header", {}).get("info", {}).get("heldout") or {})


def known_set_sources(fit_run: Path, sharp: list[Path]) -> list[tuple[Path, Path]]:
    """(K image, the image of S it was made from) for each whole-image K of a fit run, from K's manifest.

    K images cut from a window of their sharp image (``transfer.crop``) are left out: they are not
    aligned with a whole image of S.
    """
    from PIL import Image

    from blur2blur.data.known_blur import load_manifest

    k_dir = fit_run / "K"
    if not (k_dir / "manifest.jsonl").exists():
        return []
    # The manifest's paths are as `fit` was given them (maybe relative to another working directory):
    # match on the last three path components.
    by_tail = {Path(p).parts[-3:]: p for p in sharp}
    out = []
    for item in load_manifest(k_dir)[1]:
        source = by_tail.get(Path(item.sharp).parts[-3:])
        if source is None or not (k_dir / item.output).exists():
            continue
        with Image.open(source) as im:
            whole = item.sharp_box == [0, 0, im.height, im.width]
        if whole:
            out.append((k_dir / item.output, source))
    return sorted(out)


def same_scene_accuracy(cfg: ExperimentConfig, data: CameraData, known_set: list[tuple[Path, Path]],
                        fit_run: Path) -> float | None:
    """D's accuracy on K vs the camera's own blurry shots of the *same* scenes of S.

    K is S re-blurred, so the scenes of K are those of S, while B shows other scenes. With few scenes D
    can tell K from B by what they show instead of how they are blurred; then it is near chance here,
    however well it separates K from B, and G learns a content or colour shift, not the blur.
    `known_set`: :func:`known_set_sources` of the run. None when it is empty or the run has no training
    state (or the camera has no blurry shots of S's scenes).
    """
    from blur2blur.train.translator import discriminator_accuracy, load_discriminator

    path = fit_run / "eval-same-scene.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))["d_acc_same_scene"]
    run_dir = fit_run / "translator-run"
    if not known_set or not data.sharp_blurry or not (run_dir / "checkpoints").is_dir():
        return None
    blurry_of = dict(zip(data.sharp, data.sharp_blurry, strict=True))
    real = [k for k, _ in known_set]
    fake = [blurry_of[source] for _, source in known_set]
    disc = load_discriminator(run_dir, cfg.fit.translator.disc_ndf)
    acc = discriminator_accuracy(disc, real, fake, cfg.fit.translator.crop)
    path.write_text(json.dumps({"d_acc_same_scene": acc, "pairs": len(real)}), encoding="utf-8")
    return acc


def fit_signals(cfg: ExperimentConfig, data: CameraData, fit_run: Path, known_set: list[tuple[Path, Path]],
                deblurrer: Path, desc: str) -> dict[str, float]:
    """A Blur2Blur fit's checks: the translator's held-out signals, D's accuracy on the same scenes and
    D' on K (`known_set`: (K image, its source in S); empty: the first only)."""
    signals = translator_signals(fit_run)
    if known_set:
        same = same_scene_accuracy(cfg, data, known_set, fit_run)
        if same is not None:
            signals["d_acc_same_scene"] = same
        # Blur2Blur hands D' images like K; D' must gain on K about as much as on its own blur.
        on_k = _evaluated(fit_run / "eval-deblurrer-on-K.json", lambda: _load_row_model("direct", deblurrer),
                          [BlurPair(k, src, src.stem) for k, src in known_set], cfg, f"{desc}: D' on K")
        signals["deblurrer_gain_on_k"] = on_k["summary"]["gain_over_input"]
    return signals


def _load_row_model(row: str, path: Path) -> torch.nn.Module:
    from blur2blur.models import load_any, load_checkpoint

    # Official deblurrer weights need load_any's shape recognition; composed models are always ours.
    return (load_checkpoint(path) if row in FIT_ROWS else load_any(path)).eval()


def run_camera(cfg: ExperimentConfig, spec: CameraSpec, out: Path, known_train, known_test,
               extractor: Path, deblurrer: Path) -> dict:
    """Every row of one camera (and the ratio ablation); returns its part of ``results.json``."""
    from blur2blur.models import load_checkpoint

    cam_dir = out / "cameras" / spec.name
    data = camera_data(cfg, spec, cam_dir, cfg.ratio)
    _log(f"{spec.name}: |B| = {len(data.blurry)}, |S| = {len(data.sharp)}, {len(data.test_pairs)} test pairs, "
         f"{len(data.train_pairs)} training pairs")
    results: dict[str, dict] = {}
    models: dict[str, Path] = {}
    true_k: list[tuple[Path, Path]] = []   # K made by the known camera (blur2blur_true_k) and its sources
    for row in cfg.rows:
        if row == "direct":
            models[row] = deblurrer
        elif row in DEGRADATION_ROWS:
            models[row] = _finetuned(cfg, row, deblurrer, _degraded_pairs(cfg, row, data.sharp, cam_dir), cam_dir)
        elif row == "upper":
            models[row] = _finetuned(cfg, row, deblurrer, data.train_pairs, cam_dir)
        elif row in ("cyclegan", "dualgan"):
            models[row] = _unpaired(cfg, row, data, cam_dir)
        elif row == "blur2blur":
            models[row] = _fit(cfg, data, known_train, known_test, extractor, deblurrer, cam_dir / "fit")
        elif row == "blur2blur_true_k":
            true_k = _true_known_set(cfg, data, cam_dir)
            models[row] = _fit(cfg, data, known_train, known_test, extractor, deblurrer, cam_dir / "fit-true-k",
                               known_set=[k for k, _ in true_k])
        load = (lambda r=row: _load_row_model(r, models[r])) if row in models else (lambda: None)  # blurry: input
        results[row] = _evaluated(cam_dir / "eval" / f"{row}.json", load, data.test_pairs, cfg, f"{spec.name}/{row}")
    ablation = {}
    for ratio in cfg.ratios:
        run = cam_dir / f"fit-ratio-{ratio:.2f}"
        split = camera_data(cfg, spec, cam_dir, ratio)
        final = _fit(cfg, split, known_train, known_test, extractor, deblurrer, run)
        ev = _evaluated(run / "eval.json", lambda f=final: load_checkpoint(f), data.test_pairs, cfg,
                        f"{spec.name}/ratio {ratio}")
        ablation[f"{ratio:.2f}"] = {"summary": ev["summary"], "signals": translator_signals(run),
                                    "blurry": len(split.blurry), "sharp": len(split.sharp)}
    checks: dict[str, dict] = {"signals": {}}   # "signals": the blur2blur row's (also when it is not run)
    for row, (folder, key) in FIT_ROWS.items():
        if row in cfg.rows:
            known_set = known_set_sources(cam_dir / folder, data.sharp) if row == "blur2blur" else true_k
            checks[key] = fit_signals(cfg, data, cam_dir / folder, known_set, deblurrer, f"{spec.name}/{row}")
    return {"rows": results, "models": {k: str(v) for k, v in models.items()},
            **checks, "ablation": ablation,
            "sizes": {"B": len(data.blurry), "S": len(data.sharp), "test_pairs": len(data.test_pairs),
                      "train_pairs": len(data.train_pairs)}}


def summary_table(camera: dict) -> list[dict[str, Any]]:
    """One line per row: PSNR/SSIM means, paired differences against D' direct, share improved."""
    rows = camera["rows"]
    base = rows.get("direct")
    lines = []
    for name, result in rows.items():
        s = result["summary"]
        line = {"row": name, "method": ROW_TITLES[name], "psnr": s["psnr"], "ssim": s["ssim"], "samples": s["samples"]}
        if base is not None and name != "direct":
            d = paired_difference(result, base)
            line.update(d_psnr=d["psnr"], d_ssim=d["ssim"], improved=d["improved"])
        lines.append(line)
    return lines


def gap_closed(camera: dict) -> float | None:
    """(Blur2Blur - direct) / (upper bound - direct) in PSNR, where all three rows exist."""
    rows = camera["rows"]
    if not {"direct", "blur2blur", "upper"} <= rows.keys():
        return None
    direct, b2b, upper = (rows[k]["summary"]["psnr"] for k in ("direct", "blur2blur", "upper"))
    return (b2b - direct) / (upper - direct) if upper != direct else None


def _signed(x: float) -> str:
    """A difference with its sign, two decimals; a tie (|x| < 0.005) reads +0.00, never -0.00."""
    return f"{x:+.2f}" if round(x, 2) != 0 else "+0.00"


def _fit_warnings(where: str, sig: dict, known_gain: float, extractor_k: bool) -> list[str]:
    """Warnings on one Blur2Blur fit's checks (`extractor_k`: its K was made by the extractor F)."""
    notes = []
    acc, on_k, same = (sig.get(k) for k in ("d_acc_b_vs_k", "deblurrer_gain_on_k", "d_acc_same_scene"))
    if acc is not None and acc < CHANCE_ACCURACY:
        notes.append(f"WARNING: {where}the discriminator tells K from B only {100 * acc:.0f}% of the time on "
                     "held-out crops: G had no adversarial target, so the Blur2Blur row is invalid, not negative.")
    if extractor_k and on_k is not None and on_k < known_gain / 2:
        notes.append(f"WARNING: {where}D' gains {on_k:+.2f} dB on the known-blur set K (against the sharp "
                     f"images K was made from) but {known_gain:+.2f} dB on its own blur: K does "
                     "not carry the known blur, so translating B into K cannot help D'. The kernel extractor "
                     "is the weak link (train it longer, or use official weights).")
    if acc is not None and acc >= CHANCE_ACCURACY and same is not None and same < CHANCE_ACCURACY:
        notes.append(f"WARNING: {where}the discriminator tells K from B ({100 * acc:.0f}%) but not K from the "
                     f"camera's blur of the same scenes ({100 * same:.0f}%): it separates them by what the scenes "
                     "show, not by blur, so what G learns is not the blur (a colour or content shift); the "
                     "Blur2Blur row is invalid, not negative. S (and B) need more scenes.")
    return notes


def warnings_for(results: dict) -> list[str]:
    notes = []
    known = results["known"]["summary"]
    if known["gain_over_input"] < MIN_KNOWN_GAIN_DB:
        notes.append(f"WARNING: D' gains only {known['gain_over_input']:+.2f} dB on its own (known) blur; below "
                     f"{MIN_KNOWN_GAIN_DB} dB it leaves too little headroom for a meaningful comparison.")
    for name, cam in results["cameras"].items():
        for row, (_, key) in FIT_ROWS.items():
            if row in cam["rows"]:
                notes += _fit_warnings(f"{name}: " if row == "blur2blur" else f"{name} ({row}): ",
                                       cam.get(key, {}), known["gain_over_input"], row == "blur2blur")
        n = cam["rows"][next(iter(cam["rows"]))]["summary"]["samples"]
        if n < 30:
            notes.append(f"{name}: only {n} test samples; use at least 30 for a comparison.")
    return notes


def markdown(results: dict) -> str:
    """The results as Markdown tables (one per camera, plus the ablation)."""
    out = [f"# {results['name']}", ""]
    k = results["known"]["summary"]
    out += [f"Known camera, D' on its own held-out blur: {k['psnr_input']:.2f} -> {k['psnr']:.2f} dB "
            f"({k['gain_over_input']:+.2f} dB, {k['samples']} samples).", ""]
    for name, cam in results["cameras"].items():
        out += [f"## {name}", "", "| method | PSNR | SSIM | ΔPSNR vs direct (paired) | improved vs direct |",
                "|---|---|---|---|---|"]
        for line in summary_table(cam):
            d = _signed(line["d_psnr"]) if "d_psnr" in line else "–"
            imp = f"{100 * line['improved']:.0f}%" if "improved" in line else "–"
            out.append(f"| {line['method']} | {line['psnr']:.2f} | {line['ssim']:.4f} | {d} | {imp} |")
        gap = gap_closed(cam)
        out.append("")
        for row, (_, key) in FIT_ROWS.items():
            sig = cam.get(key) or {}
            if sig:
                out.append(f"{ROW_TITLES[row]}, held-out checks: D accuracy K vs B "
                           f"{sig.get('d_acc_b_vs_k', float('nan')):.2f}, K vs G(B) "
                           f"{sig.get('d_acc_heldout', float('nan')):.2f}, K vs the camera's blur of the same scenes "
                           f"{sig.get('d_acc_same_scene', float('nan')):.2f}, drift PSNR(G(y), y) "
                           f"{sig.get('drift_psnr', float('nan')):.2f} dB. D' on K: "
                           f"{sig.get('deblurrer_gain_on_k', float('nan')):+.2f} dB.")
        if gap is not None:
            out.append(f"Gap closed by Blur2Blur: {round(100 * gap) or 0}% of (upper bound - direct).")
        if cam["ablation"]:
            out += ["", "| B:S ratio | PSNR | SSIM | D acc K vs B |", "|---|---|---|---|"]
            for ratio, ab in cam["ablation"].items():
                out.append(f"| {ratio} : {1 - float(ratio):.2f} | {ab['summary']['psnr']:.2f} | "
                           f"{ab['summary']['ssim']:.4f} | {ab['signals'].get('d_acc_b_vs_k', float('nan')):.2f} |")
        out.append("")
    notes = warnings_for(results)
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


# Settings a rerun may change in an existing run folder: they add or drop results, never alter one.
_ADDABLE = ("name", "rows", "ratios", "report_crops")


def run_experiment(cfg: ExperimentConfig, out_dir: str | os.PathLike, *, report: bool = True) -> dict:
    """Run (or resume) the whole comparison into `out_dir`; returns the results (also ``results.json``)."""
    from blur2blur.config import diff_configs, load_config, save_config, to_dict
    from blur2blur.models import load_any

    out = Path(out_dir)
    saved = out / "config.yaml"
    if saved.exists():
        changed = [k for k in diff_configs(load_config(ExperimentConfig, saved), cfg) if k not in _ADDABLE]
        if changed:
            raise ValueError(f"{out} holds an experiment with other settings ({', '.join(changed[:8])}); "
                             "use another output folder")
        saved.unlink()  # only rows/ratios/report settings changed: every result made so far stays valid
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, saved)
    known_train, known_test = _known(cfg)
    extractor, deblurrer = known_models(cfg, out, known_train, known_test)
    known = _evaluated(out / "known" / "eval-deblurrer.json", lambda: load_any(deblurrer), known_test, cfg,
                       "known/direct")
    results: dict[str, Any] = {"name": cfg.name, "config": to_dict(cfg), "known": known, "cameras": {}}
    for spec in cfg.cameras:
        results["cameras"][spec.name] = run_camera(cfg, spec, out, known_train, known_test, extractor, deblurrer)
    results["notes"] = warnings_for(results)
    (out / "results.json").write_text(json.dumps(_compact(results), indent=1), encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
    if report:
        write_experiment_report(cfg, results, out)
    return results


def _compact(results: dict) -> dict:
    """results.json keeps summaries and paired differences; per-image rows stay in cameras/*/eval/."""
    slim = copy.deepcopy(results)
    slim["known"] = results["known"]["summary"]
    for cam in slim["cameras"].values():
        cam["table"] = summary_table({"rows": cam["rows"]})
        cam["gap_closed"] = gap_closed(cam)
        cam["rows"] = {k: v["summary"] for k, v in cam["rows"].items()}
    return slim


# ----------------------------------------------------------------------------- report


@torch.no_grad()
def _crops(cfg: ExperimentConfig, results: dict, out: Path) -> list:
    from blur2blur.inference import restore
    from blur2blur.metrics import psnr
    from blur2blur.report import ReportCrop

    crops = []
    for name, cam in results["cameras"].items():
        models = {row: _load_row_model(row, Path(p)) for row, p in cam["models"].items()}
        spec = next(c for c in cfg.cameras if c.name == name)
        test_pairs = camera_data(cfg, spec, out / "cameras" / name, cfg.ratio).test_pairs
        ecfg = dataclasses.replace(cfg.eval, crops_per_image=1)
        for i, sample in enumerate(evaluation_samples(test_pairs, ecfg)):
            if i >= cfg.report_crops:
                break
            images = {"blurry": sample.blurry}
            for row, model in models.items():
                if row == "blur2blur":
                    images["G(y)"] = model.translate(sample.blurry[None])[0]
                images[ROW_TITLES[row]] = restore(model, sample.blurry[None])[0]
            images["sharp"] = sample.sharp
            scores = {k: f"{psnr(v, sample.sharp):.2f} dB" for k, v in images.items() if k != "sharp"}
            crops.append(ReportCrop(f"{name} / {sample.name}", images, scores))
    return crops


def write_experiment_report(cfg: ExperimentConfig, results: dict, out: Path) -> Path:
    """``out/report/index.html``: the tables, side-by-side crops, training curves and the settings."""
    from blur2blur.config import to_dict
    from blur2blur.report import ReportTable, read_jsonl_curves, write_report

    k = results["known"]["summary"]
    tables = [ReportTable("Known camera: D' on its own held-out blur", ["input", "PSNR", "SSIM", "samples"],
                          [["blurry", k["psnr_input"], k["ssim_input"], k["samples"]],
                           ["D'", k["psnr"], k["ssim"], k["samples"]]], highlight="PSNR")]
    curves = {}
    for name, cam in results["cameras"].items():
        rows = []
        for line in summary_table(cam):
            sig = (cam.get(FIT_ROWS[line["row"]][1]) or {}) if line["row"] in FIT_ROWS else {}
            acc, same = sig.get("d_acc_b_vs_k"), sig.get("d_acc_same_scene")
            d_psnr = _signed(line["d_psnr"]) if "d_psnr" in line else None
            rows.append([line["method"], line["psnr"], line["ssim"], d_psnr,
                         None if "improved" not in line else f"{100 * line['improved']:.0f}%", acc, same])
        gap = gap_closed(cam)
        note = f"Gap closed by Blur2Blur: {round(100 * gap) or 0}%." if gap is not None else ""
        for row, (_, key) in FIT_ROWS.items():
            if "deblurrer_gain_on_k" in (cam.get(key) or {}):
                k_of = "the known-blur set K" if row == "blur2blur" else "K made by the known camera"
                note += f" D' on {k_of}: {cam[key]['deblurrer_gain_on_k']:+.2f} dB."
        tables.append(ReportTable(f"Camera {name} ({cam['sizes']['B']} B, {cam['sizes']['S']} S, "
                                  f"{cam['rows'][next(iter(cam['rows']))]['summary']['samples']} test samples)",
                                  ["method", "PSNR", "SSIM", "ΔPSNR vs direct", "improved vs direct",
                                   "D acc K vs B (held-out)", "D acc K vs B, same scenes"], rows, note=note,
                                  highlight="PSNR"))
        if cam["ablation"]:
            tables.append(ReportTable(f"Camera {name}: B:S ratio ablation", ["B : S", "PSNR", "SSIM", "D acc K vs B"],
                                      [[f"{r} : {1 - float(r):.2f}", a["summary"]["psnr"], a["summary"]["ssim"],
                                        a["signals"].get("d_acc_b_vs_k")] for r, a in cam["ablation"].items()],
                                      highlight="PSNR"))
        log = out / "cameras" / name / "fit" / "translator-run" / "log.jsonl"
        if log.exists():
            curves[f"{name}: translator losses"] = read_jsonl_curves(log, ["loss_d", "loss_g_adv", "loss_rec"])
            curves[f"{name}: discriminator accuracy (training batches)"] = read_jsonl_curves(log, ["d_acc"])
            curves[f"{name}: drift PSNR(G(y), y)"] = read_jsonl_curves(log, ["drift_psnr"])
    return write_report(out / "report", title=results["name"], tables=tables, crops=_crops(cfg, results, out),
                        curves=curves, settings=to_dict(cfg), notes=results["notes"], overwrite=True)


# ----------------------------------------------------------------------------- the demo


def demo_config(quick: bool = False) -> ExperimentConfig:
    """`blur2blur demo`: the demo's known camera against simulated cameras, CPU-sized.

    The translator's reconstruction loss is the pixel variant: the VGG19 weights of the paper's
    perceptual loss cannot be assumed on a fresh, offline install.
    """
    from blur2blur.train.unpaired import tiny_config as unpaired_tiny

    fit = tiny_config()
    tr = fit.translator
    steps, translator_steps, finetune_steps = (30, 40, 20) if quick else (400, 800, 300)
    fit = dataclasses.replace(
        fit,
        kernels=dataclasses.replace(fit.kernels, periods=[steps], loop=dataclasses.replace(
            fit.kernels.loop, steps=steps, checkpoint_every=max(steps // 2, 1), eval_every=0, progress=not quick)),
        translator=dataclasses.replace(
            tr, perceptual="pixel", crop=96 if quick else 128, d_warmup=10 if quick else 200,
            hold_steps=translator_steps // 2, decay_steps=translator_steps - translator_steps // 2,
            curriculum_widen_at=translator_steps // 3,
            loop=dataclasses.replace(tr.loop, steps=translator_steps, batch_size=2 if quick else 4,
                                     checkpoint_every=max(translator_steps // 3, 1), eval_every=0,
                                     image_every=0, progress=not quick)),
        transfer=dataclasses.replace(fit.transfer, variants=1 if quick else 2))
    cameras = [CameraSpec("phone_like", "phone_like")] if quick else \
        [CameraSpec("phone_like", "phone_like"), CameraSpec("webcam_like", "webcam_like")]
    finetune = DeblurrerConfig(crop=64 if quick else 128, lr=2e-4, eta_min=1e-6, loop=LoopConfig(
        steps=finetune_steps, batch_size=4 if quick else 8, num_workers=1, checkpoint_every=max(finetune_steps // 2, 1),
        eval_every=0, image_every=0, progress=not quick))
    unpaired = {}
    for method in ("cyclegan", "dualgan"):
        u = unpaired_tiny(method, steps=translator_steps)
        unpaired[method] = dataclasses.replace(
            u, crop=64 if quick else 128, generator_args={**u.generator_args, "ngf": 16},
            discriminator_args={**u.discriminator_args, "ndf": 32}, loop=dataclasses.replace(
                u.loop, batch_size=2 if quick else 4, num_workers=1, checkpoint_every=max(translator_steps // 3, 1),
                log_every=10, progress=not quick))
    return ExperimentConfig(
        name="blur2blur demo (quick)" if quick else "blur2blur demo", cameras=cameras, fit=fit, finetune=finetune,
        **unpaired,
        b_variants=1 if quick else 2,
        eval=EvalConfig(crop=64 if quick else 128, crops_per_image=1 if quick else 4),
        report_crops=2 if quick else 4)


__all__ = ["CameraSpec", "ExperimentConfig", "ROWS", "demo_config", "gap_closed", "markdown", "run_experiment",
           "summary_table", "write_experiment_report"]
