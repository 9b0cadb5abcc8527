"""Deprecated: the old home of :mod:`blur2blur.known_set` (the known-blur set K).

K is a stage that runs the extractor F, not a data reader, so it moved next to :mod:`blur2blur.fit`
and its names say "known set": ``TransferConfig`` is ``KnownSetConfig``, ``transfer_to_folder`` is
``make_known_set``, ``TransferItem`` is ``KnownSetItem`` and ``TransferResult`` is ``KnownSetResult``.
This path and the old names keep working, with a DeprecationWarning, for one release.
"""

import warnings

from blur2blur.known_set import *  # noqa: F403  (everything public, under the old path)
from blur2blur.known_set import KnownSetConfig as TransferConfig  # noqa: F401  (the old names)
from blur2blur.known_set import KnownSetItem as TransferItem  # noqa: F401
from blur2blur.known_set import KnownSetResult as TransferResult  # noqa: F401
from blur2blur.known_set import load_manifest, reblur, regenerate  # noqa: F401  (the names users import)
from blur2blur.known_set import make_known_set as transfer_to_folder  # noqa: F401

warnings.warn("blur2blur.data.known_blur is renamed blur2blur.known_set (TransferConfig: KnownSetConfig, "
              "transfer_to_folder: make_known_set); the old names go in the next release",
              DeprecationWarning, stacklevel=2)
