"""Run folders: the names of the files in them, and the one check that refuses a folder made with other settings.

A run folder records its settings in ``config.yaml``. Rerunning with the same settings resumes;
settings that only say how long or where to train (or, for an experiment, which results to add)
may change; any other change is refused, so one folder never mixes results of two configurations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG = "config.yaml"                 # the settings of a run folder
COMPOSED = "blur2blur.safetensors"     # a fit's delivered model D'(G(x))
EXTRACTOR = "extractor.safetensors"    # a fit's blur-kernel extractor F
DEBLURRER = "deblurrer.safetensors"    # a fit's known-blur deblurrer D'
TRANSLATOR = "translator.safetensors"  # a fit's translator G
KNOWN_SET = "K"                        # a fit's known-blur set K (folder)
BLUR_SCORES = "blur_scores.json"       # the blur degree of B, for the curriculum

# Settings a training run may change when resumed: its length, its device, its progress bar.
RESUMABLE_SETTINGS = ("loop.steps", "loop.device", "loop.progress")


def resumable(key: str) -> bool:
    """Whether a rerun may change this dotted setting of a training run (any stage's ``loop.steps`` ...)."""
    return key.endswith(RESUMABLE_SETTINGS)


def check_settings(run_dir: str | os.PathLike, cfg: Any, may_change: Callable[[str], bool] = resumable, *,
                   what: str = "a run", advice: str = "use another output folder") -> None:
    """Raise ValueError when ``run_dir/config.yaml`` holds other settings than `cfg` (save for those
    `may_change` allows); a folder without one is fine.

    A folder recorded before a key was renamed (``FitConfig.RENAMED_KEYS``) is read with the new names, silently:
    the user did not write those keys, and :func:`record_settings` records the new ones.
    """
    import warnings

    from blur2blur.config import diff_configs, load_config

    saved = Path(run_dir) / CONFIG
    if not saved.exists():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        recorded = load_config(type(cfg), saved)
    changed = [k for k in diff_configs(recorded, cfg) if not may_change(k)]
    if changed:
        raise ValueError(f"{run_dir} holds {what} with other settings ({', '.join(changed[:8])}); {advice}")


def record_settings(run_dir: str | os.PathLike, cfg: Any) -> Path:
    """Save `cfg` as ``run_dir/config.yaml``, replacing what a resumed run recorded (call after
    :func:`check_settings`: only allowed settings differ)."""
    from blur2blur.config import save_config

    saved = Path(run_dir) / CONFIG
    saved.unlink(missing_ok=True)
    return save_config(cfg, saved)


__all__ = ["BLUR_SCORES", "COMPOSED", "CONFIG", "DEBLURRER", "EXTRACTOR", "KNOWN_SET", "RESUMABLE_SETTINGS",
           "TRANSLATOR", "check_settings", "record_settings", "resumable"]
