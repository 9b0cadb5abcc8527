"""Deprecated: the old name of :mod:`blur2blur.train.extractor` (training the blur-kernel extractor F).

Renamed so that the extractor has one name everywhere: ``KernelTrainConfig`` is ``ExtractorConfig``
and ``KernelTrainer`` is ``ExtractorTrainer``. This path and the old names keep working, with a
DeprecationWarning, for one release.
"""

import warnings

from blur2blur.data.split import split_by_scene  # noqa: F401  (an older home of it, kept importable)
from blur2blur.train.extractor import *  # noqa: F403  (everything public, under the old path)
from blur2blur.train.extractor import PRESETS, reblur_psnr, tiny_config  # noqa: F401  (the names users import)
from blur2blur.train.extractor import ExtractorConfig as KernelTrainConfig  # noqa: F401  (the old names)
from blur2blur.train.extractor import ExtractorTrainer as KernelTrainer  # noqa: F401

warnings.warn("blur2blur.train.kernels is renamed blur2blur.train.extractor (KernelTrainConfig: ExtractorConfig, "
              "KernelTrainer: ExtractorTrainer); the old names go in the next release",
              DeprecationWarning, stacklevel=2)
