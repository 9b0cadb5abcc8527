"""`blur2blur demo`: the experiment's settings for the bundled photos, CPU-sized."""

from __future__ import annotations

from blur2blur.config import with_settings
from blur2blur.evaluate import EvalConfig
from blur2blur.experiment.config import CameraSpec, ExperimentConfig
from blur2blur.fit import tiny_config
from blur2blur.train.deblurrer import DeblurrerConfig
from blur2blur.train.loop import LoopConfig


def demo_config(quick: bool = False) -> ExperimentConfig:
    """The demo's known camera against simulated cameras, CPU-sized (`quick`: about a minute, for tests).

    The translator's reconstruction term is the tiny preset's offline low-pass content term: the VGG19
    weights of the paper's perceptual loss cannot be assumed on a fresh, offline install.
    """
    from blur2blur.train.unpaired import tiny_config as unpaired_tiny

    steps, translator_steps, finetune_steps = (30, 40, 20) if quick else (400, 800, 300)
    cameras = [CameraSpec("phone_like", "phone_like")] if quick else \
        [CameraSpec("phone_like", "phone_like"), CameraSpec("webcam_like", "webcam_like")]
    finetune = DeblurrerConfig(crop=64 if quick else 128, lr=2e-4, eta_min=1e-6, loop=LoopConfig(
        steps=finetune_steps, batch_size=4 if quick else 8, num_workers=1, checkpoint_every=max(finetune_steps // 2, 1),
        eval_every=0, image_every=0, progress=not quick))
    cfg = ExperimentConfig(
        name="blur2blur demo (quick)" if quick else "blur2blur demo", cameras=cameras, fit=tiny_config(),
        finetune=finetune, cyclegan=unpaired_tiny("cyclegan", steps=translator_steps),
        dualgan=unpaired_tiny("dualgan", steps=translator_steps), b_variants=1 if quick else 2,
        eval=EvalConfig(crop=64 if quick else 128, crops_per_image=1 if quick else 4), report_crops=2 if quick else 4)
    settings = {
        "fit.extractor.periods": [steps],
        "fit.extractor.loop": {"steps": steps, "checkpoint_every": max(steps // 2, 1), "eval_every": 0,
                             "progress": not quick},
        "fit.translator": {"crop": 96 if quick else 128, "d_warmup": 10 if quick else 200,
                           "hold_steps": translator_steps // 2,
                           "decay_steps": translator_steps - translator_steps // 2,
                           "curriculum_widen_at": translator_steps // 3},
        # Every translator checkpoint is kept: the report's learning curve scores each.
        "fit.translator.loop": {"steps": translator_steps, "batch_size": 2 if quick else 4,
                                "checkpoint_every": max(translator_steps // 4, 1), "keep_checkpoints": 5,
                                "eval_every": 0, "image_every": 0, "progress": not quick},
        "fit.known_set.variants": 1 if quick else 2,
    }
    for method in ("cyclegan", "dualgan"):
        settings |= {f"{method}.crop": 64 if quick else 128, f"{method}.generator_args.ngf": 16,
                     f"{method}.discriminator_args.ndf": 32,
                     f"{method}.loop": {"batch_size": 2 if quick else 4, "num_workers": 1,
                                        "checkpoint_every": max(translator_steps // 3, 1), "log_every": 10,
                                        "progress": not quick}}
    return with_settings(cfg, settings)


__all__ = ["demo_config"]
