"""Data: image and video readers/writers, dataset layouts, blur synthesis."""

from blur2blur.data.images import ImageInfo, ImageReadError, expand_inputs, read_image, write_image

__all__ = ["ImageInfo", "ImageReadError", "expand_inputs", "read_image", "write_image"]
