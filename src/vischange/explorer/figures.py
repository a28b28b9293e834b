"""The images the explorer draws itself: small thumbnails of renders for the channel table.

The table of the real study holds thousands of channels per layer; its rows show
thumbnails (a few kB each) and the channel view shows the full renders.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from ..runtime import atomic_path

__all__ = ["thumbnail"]


def thumbnail(source: str | os.PathLike, target: str | os.PathLike, size: int, quality: int) -> tuple[int, int]:
    """Write a JPEG thumbnail of image `source` at `target`: the longer side `size` pixels
    (never enlarged), RGB, JPEG `quality` (1-95). Returns its (width, height) in pixels."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            image.save(tmp, format="JPEG", quality=int(quality), optimize=True)
        return image.size
