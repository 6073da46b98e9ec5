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


def load_resized(path: str | Path | BinaryIO, size: int, dct_scaling: bool = True) -> np.ndarray:
    """Decode an image (path or file object; DCT-scaled for JPEG), crop/resize; RGB uint8 (S, S, 3).

    Args:
        path: image file, or a file object holding its bytes (prepare decodes the bytes it hashed).
        size: side of the square output.
        dct_scaling: let libjpeg decode a JPEG at the smallest 1/2, 1/4 or 1/8 scale whose both
            sides are still >= `size` (`Image.draft`), then crop and resize as usual. False decodes
            every pixel first (only for comparison: `bench/bench_prepare.py`).

    DCT scaling is the policy every prepared folder was written with (RESIZE_POLICY). Against a full
    decode + the same crop/resize, at 224 px, on the synthetic ISIC-like JPEGs of
    `bench/bench_prepare.py` (Pillow 13.0; BENCHMARKS.md): 1024x768 (decoded at 1/2) max |diff| 10,
    mean 0.26 grey levels; 4000x3000 (1/8) max 57, mean 0.63; 6000x4000 (1/8) max 5, mean 0.22. The
    large differences lie along thin hard edges (hair lines; in the one 4000x3000 image covered with
    hair, 5 % of the pixels differ by more than 10), elsewhere they are a few levels: the scaled IDCT
    averages 8x8 blocks, Pillow's antialiased bilinear uses a wider triangle filter. One core decodes
    2.4x, 4.5x and 4.6x as many images per second this way (293 vs 121, 55 vs 12, 29 vs 6.3).

    Raises:
        OSError / PIL.UnidentifiedImageError: the file is not a decodable image.
    """
    with Image.open(path) as img:
        if dct_scaling:
            # draft() only ever picks a scale whose result is >= the requested size on both sides.
            img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img)
        return crop_resize(img, size)
