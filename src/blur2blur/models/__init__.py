"""Every network of Blur2Blur, one file per architecture, behind a small registry.

    >>> from blur2blur.models import create_model, load_weights
    >>> net = create_model("nafnet", width=32, enc_blk_nums=[1, 1, 1, 28])
    >>> load_weights(net, "NAFNet-GoPro-width32.pth")          # official file, strict
    >>> net = load_checkpoint("run/deblurrer.safetensors")        # ours: knows its own architecture
"""

# Importing the architecture files registers them.
from blur2blur.models import composed, discriminator, kernel_wizard, mimo_unet, nafnet, restormer, unet, vgg  # noqa: F401
from blur2blur.models import filter_translator  # noqa: F401  (a translator that changes blur only; not the paper's)
from blur2blur.models import cyclegan, dualgan  # noqa: F401  (Table 2's unpaired baselines)
from blur2blur.models.checkpoint import (
    CheckpointError,
    check_header,
    identify_weights,
    load_any,
    load_checkpoint,
    load_weights,
    non_finite_tensors,
    read_state_dict,
    save_checkpoint,
)
from blur2blur.models.registry import create_model, get_spec, list_models, register_model, spec_of

__all__ = [
    "CheckpointError",
    "check_header",
    "create_model",
    "get_spec",
    "identify_weights",
    "list_models",
    "load_any",
    "load_checkpoint",
    "load_weights",
    "non_finite_tensors",
    "read_state_dict",
    "register_model",
    "save_checkpoint",
    "spec_of",
]
