"""Make the bundled demo photographs (``src/blur2blur/assets/photos``) from a folder of source photographs.

    python scripts/make_demo_photos.py --photos PHOTOS_DIR

Each photo is resized so that its short side is 288 pixels (Lanczos; 512x288 for the 16:9
originals), enough for 256-pixel training crops, and stored as WebP at quality 88
(2.7 MB in all). The credits file is copied with a note on the change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

SHORT_SIDE, QUALITY = 288, 88


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, required=True, help="folder of the source photographs (.webp)")
    ap.add_argument("--out", type=Path, default=Path("src/blur2blur/assets/photos"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = sorted(args.photos.glob("*.webp"))
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            scale = SHORT_SIDE / min(im.size)
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
            im.save(args.out / f.name, "WEBP", quality=QUALITY, method=6)
    credits = (args.photos / "CREDITS.md").read_text(encoding="utf-8")
    note = (f"\n\n## Changes made for blur2blur\n\nEvery photograph was resized to a short side of {SHORT_SIDE} pixels "
            f"(Lanczos) and re-encoded as WebP at quality {QUALITY} by `scripts/make_demo_photos.py`.\n")
    (args.out / "CREDITS.md").write_text(credits.rstrip() + note, encoding="utf-8")
    print(f"{len(files)} photos -> {args.out}")


if __name__ == "__main__":
    main()
