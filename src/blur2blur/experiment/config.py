"""The experiment's settings: the cameras with unknown blur, the rows to run and every stage's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from blur2blur.evaluate import EvalConfig
from blur2blur.experiment.rows import ROW_TABLE, ROWS
from blur2blur.fit import FitConfig
from blur2blur.train.deblurrer import DeblurrerConfig
from blur2blur.train.unpaired import UnpairedConfig, cyclegan_config, dualgan_config


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
    # The unpaired baselines, each with its published recipe.
    cyclegan: UnpairedConfig = field(default_factory=cyclegan_config)
    dualgan: UnpairedConfig = field(default_factory=dualgan_config)
    eval: EvalConfig = field(default_factory=EvalConfig)        # whole test images, as the paper scores
    report_crops: int = 4
    seed: int = 0

    def __post_init__(self):
        unknown = [r for r in self.rows if r not in ROW_TABLE]
        if unknown:
            raise ValueError(f"unknown rows {unknown}; choose among {', '.join(ROWS)}")
        for name in self.rows:
            if ROW_TABLE[name].needs_known_camera and self.known_pairs is not None:
                raise ValueError(f"the {name} row needs the demo's simulated known camera (known_pairs: null): "
                                 "a known dataset on disk has no blur function to make K with")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must differ, got {names}")


# Settings a rerun may change in an existing run folder: they add or drop results, never alter one.
ADDABLE_SETTINGS = ("name", "rows", "ratios", "report_crops")


__all__ = ["ADDABLE_SETTINGS", "CameraSpec", "ExperimentConfig"]
