"""Decode-and-resize once: the one image transform between a raw file and a prepared shard.

Policy (also written to every manifest.json): apply EXIF orientation, convert to RGB, **centre-crop**
to a square (the lesion is centred in dermoscopy; a 4:3 ISIC image loses only its side margins, which
are mostly dermoscope vignette), then resize to `size` x `size` with Pillow's bilinear filter, which
antialiases when shrinking. Large JPEGs are decoded with DCT scaling (`Image.draft`) at the smallest
1/2, 1/4 or 1/8 scale that still covers `size`, which is several times faster than a full decode.
Serving and the app must use the same crop-and-resize so the model sees what it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

RESIZE_POLICY = (
    "EXIF orientation applied; centre-crop to a square; Pillow bilinear (antialiased) resize; "
    "JPEGs decoded with DCT scaling (Image.draft) to the smallest scale covering the target size"
)


def crop_resize(img: Image.Image, size: int) -> np.ndarray:
    """Centre-crop `img` to a square and resize it to (size, size); returns RGB uint8 (S, S, 3)."""
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    out = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))
    return np.asarray(out, dtype=np.uint8)


def load_resized(path: str | Path | BinaryIO, size: int) -> np.ndarray:
    """Decode an image (path or file object; DCT-scaled for JPEG), crop/resize; RGB uint8 (S, S, 3).

    Raises:
        OSError / PIL.UnidentifiedImageError: the file is not a decodable image.
    """
    with Image.open(path) as img:
        # draft() only ever picks a scale whose result is >= the requested size on both sides.
        img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img)
        return crop_resize(img, size)
