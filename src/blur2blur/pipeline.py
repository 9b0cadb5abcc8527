"""Deprecated: the old name of :mod:`blur2blur.deblur_files` (deblurring files, folders and videos).

Renamed so that "pipeline" no longer suggests the method's stages (those are :mod:`blur2blur.fit`).
This name keeps working, with a DeprecationWarning, for one release.
"""

import warnings

from blur2blur.deblur_files import *  # noqa: F403  (everything public, under the old name)
from blur2blur.deblur_files import DeblurResult, deblur_files  # noqa: F401  (the names users import)

warnings.warn("blur2blur.pipeline is renamed blur2blur.deblur_files; the old name goes in the next release",
              DeprecationWarning, stacklevel=2)
