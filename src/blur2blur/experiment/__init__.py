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

The package, one job a file: :mod:`.rows` (the table of rows: title, how each is built and
loaded), :mod:`.config` (settings), :mod:`.demo` (the demo's settings), :mod:`.cameras` (B, S and
test pairs of each camera), :mod:`.models` (the builders of the rows' models), :mod:`.checks`
(signals and warnings), :mod:`.tables` (results tables), :mod:`.report` (the HTML report) and
:mod:`.run` (the run itself).

Everything lands in one run folder and every piece is skipped when it exists, so an
interrupted experiment resumes. The results are ``results.json``, ``results.md`` and an HTML
report (``report/index.html``). The figures that decide whether a comparison means anything
are reported next to it, with warnings: the known deblurrer's gain on its own blur, and the
discriminator's held-out accuracy on K vs B (at chance, the Blur2Blur row is invalid, not
negative).
"""

from blur2blur.experiment.cameras import CameraData, camera_data, dataset_camera, simulated_camera
from blur2blur.experiment.checks import (CHANCE_ACCURACY, MIN_KNOWN_GAIN_DB, fit_signals, known_set_sources,
                                         same_scene_accuracy, translator_signals, warnings_for)
from blur2blur.experiment.config import CameraSpec, ExperimentConfig
from blur2blur.experiment.demo import demo_config
from blur2blur.experiment.models import known_models
from blur2blur.experiment.report import write_experiment_report
from blur2blur.experiment.rows import FIT_ROWS, ROW_TABLE, ROW_TITLES, ROWS, Row
from blur2blur.experiment.run import run_camera, run_experiment
from blur2blur.experiment.tables import gap_closed, markdown, summary_table

__all__ = ["CHANCE_ACCURACY", "FIT_ROWS", "MIN_KNOWN_GAIN_DB", "ROWS", "ROW_TABLE", "ROW_TITLES", "CameraData",
           "CameraSpec", "ExperimentConfig", "Row", "camera_data", "dataset_camera", "demo_config", "fit_signals",
           "gap_closed", "known_models", "known_set_sources", "markdown", "run_camera", "run_experiment",
           "same_scene_accuracy", "simulated_camera", "summary_table", "translator_signals", "warnings_for",
           "write_experiment_report"]
