"""Small files shipped inside the package: a sample deblurrer and example images (see CREDITS.md).

The sample deblurrer is a small NAFNet trained on CPU by ``scripts/train_sample_deblurrer.py
--known-camera`` on the demo's known camera (straight motion blur in linear light) and on its
photos only, so it also serves as the demo's known-domain deblurrer D' without having seen a
scene of the demo's other cameras or the examples. It exists so that a fresh install can deblur
something at once; it is not one of the paper's models: use official weights or train your own.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent
EXAMPLES = ASSETS / "examples"


def sample_deblurrer_path() -> Path:
    """Path of the bundled sample deblurrer (a blur2blur safetensors checkpoint)."""
    return ASSETS / "sample_deblurrer.safetensors"


def example_blurry_images() -> list[Path]:
    """The bundled blurry example images, sorted."""
    return sorted(EXAMPLES.glob("*_blurry.png"))


def example_sharp_for(blurry: Path) -> Path:
    """The sharp original of a bundled blurry example."""
    return blurry.with_name(blurry.name.replace("_blurry", "_sharp"))


PHOTOS = ASSETS / "photos"


def demo_photos() -> list[Path]:
    """The 91 bundled demo photographs (short side 288 px, WebP; credits in ``photos/CREDITS.md``), sorted."""
    return sorted(PHOTOS.glob("*.webp"))
