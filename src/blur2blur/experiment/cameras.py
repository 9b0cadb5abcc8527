"""The experiment's data: the known camera's pairs, and for each camera with unknown blur B, S and test pairs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from blur2blur.data.pairs import BlurPair
from blur2blur.experiment.config import CameraSpec, ExperimentConfig


@dataclass
class CameraData:
    blurry: list[Path]             # B
    sharp: list[Path]              # S (other scenes)
    train_pairs: list[BlurPair]    # the camera's own training pairs (upper bound only)
    test_pairs: list[BlurPair]
    sharp_blurry: list[Path]       # the camera's blurry shot of each scene of S (same order): a check only


def known_camera_pairs(cfg: ExperimentConfig) -> tuple[list[BlurPair], list[BlurPair]]:
    """(training, test) pairs P of the known camera: ``cfg.known_pairs``, or the bundled demo's."""
    from blur2blur.data.pairs import find_pairs

    if cfg.known_pairs is None:
        from blur2blur.data.demo import demo_known_pairs

        root = demo_known_pairs()
        return find_pairs(root / "train", "folders"), find_pairs(root / "test", "folders")
    return (find_pairs(cfg.known_pairs, cfg.known_layout, split="train"),
            find_pairs(cfg.known_pairs, cfg.known_layout, split=cfg.known_test_split))


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
    from blur2blur.data.pairs import find_pairs, middle_sharp
    from blur2blur.data.split import split_by_scene, split_scenes

    train = find_pairs(spec.pairs, spec.layout, split="train")
    test = find_pairs(spec.pairs, spec.layout, split=spec.test_split)
    if {p.blurry for p in test} & {p.blurry for p in train}:  # the layout has no splits
        train, test = split_by_scene(train, spec.test_fraction, cfg.seed)
    b_pairs, s_pairs = split_scenes(train, ratio, cfg.seed)
    return CameraData([p.blurry for p in b_pairs], [middle_sharp(p) for p in s_pairs], train, test,
                      [p.blurry for p in s_pairs])


def camera_data(cfg: ExperimentConfig, spec: CameraSpec, out: Path, ratio: float) -> CameraData:
    """The camera's B, S and pairs: from its dataset (``spec.pairs``) or simulated into ``out/data``."""
    if spec.pairs:
        return dataset_camera(cfg, spec, ratio)
    if not spec.simulate:
        raise ValueError(f"camera {spec.name!r}: give `simulate` (a camera_sim preset) or `pairs` (a dataset)")
    return simulated_camera(cfg, spec, out, ratio)


__all__ = ["CameraData", "camera_data", "dataset_camera", "known_camera_pairs", "simulated_camera"]
