"""blur2blur: give any camera its own deblurring model (Blur2Blur, CVPR 2024).

Public entry points:

- :mod:`blur2blur.models` — every network, ``create_model``, ``load_weights``, ``load_checkpoint``
- :mod:`blur2blur.inference` — ``restore(model, x, tile=...)`` on any image size
- :mod:`blur2blur.deblur_files` — ``deblur_files(model, inputs, out_dir)`` (images, folders, videos)
- :mod:`blur2blur.data` — image reading and writing
- :mod:`blur2blur.metrics` — PSNR
"""

__version__ = "0.1.0"
