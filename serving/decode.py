"""Decode untrusted image bytes with Pillow into the model's input, safely and in memory only.

Steps: identify the format (JPEG/PNG/WebP, HEIC when pillow-heif is installed), refuse decompression
bombs from the header alone, DCT-scale big JPEGs while decoding (`draft`), apply the EXIF orientation,
convert any mode to 8-bit RGB, and copy the pixels into a fresh image so no metadata (EXIF, GPS,
ICC, comments) survives. Nothing here touches the disk.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from serving.errors import invalid_image, too_large, unsupported

try:  # HEIC/HEIF (iPhone photos) only when the maintained decoder is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the image's installed extras
    HEIF_AVAILABLE = False

Image.init()  # register every built-in plugin now (MPO, WebP), not lazily on the first request

# Our own pixel limit (below) replaces Pillow's warning; its hard error stays as a second guard.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

ACCEPTED_FORMATS = ["JPEG", "PNG", "WEBP"]  # Pillow opens MPO (multi-picture phone JPEGs) as JPEG
ACCEPTED_FORMATS += (["HEIF"] if HEIF_AVAILABLE else [])
ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp"] + (
    ["image/heic", "image/heif"] if HEIF_AVAILABLE else []
)
# Formats we recognise but do not accept: answered with 415 instead of "not an image".
_KNOWN_OTHER_MAGIC = {
    b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
    b"\x00\x00\x01\x00": "ICO", b"%PDF": "PDF",
}
_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST, "area": Image.Resampling.BOX, "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


@dataclass(frozen=True)
class DecodedImage:
    """An oriented 8-bit RGB image without metadata, and the size it had before DCT scaling."""

    image: Image.Image
    original_size: tuple[int, int]
    format: str


def decode_image(data: bytes, *, min_side: int, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into an oriented, metadata-free RGB image.

    Args:
        data: the request body (already size-limited).
        min_side: smallest side the caller needs; big JPEGs are DCT-scaled down to no less.
        max_pixels: width x height limit checked from the header, before decoding pixels.

    Raises:
        ApiError: 400 not an image / corrupt, 413 too many pixels, 415 unsupported format.
    """
    if not data:
        raise invalid_image("the request body is empty; send the image bytes")
    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise too_large(f"image dimensions exceed the limit: {exc}") from exc
    except UnidentifiedImageError as exc:
        other = _known_other_format(data)
        if other:
            raise unsupported(f"{other} images are not supported; send {_accepted_names()}",
                              code="unsupported_image_format") from exc
        raise invalid_image(f"the body is not a decodable image ({_accepted_names()})") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise invalid_image(f"the image header is corrupt: {exc}") from exc
    try:
        return _decode_opened(img, min_side=min_side, max_pixels=max_pixels)
    finally:
        img.close()


def _decode_opened(img: Image.Image, *, min_side: int, max_pixels: int) -> DecodedImage:
    """Size checks, DCT draft, orientation, mode conversion and metadata strip of an open image."""
    width, height = img.size
    if width < 1 or height < 1:
        raise invalid_image(f"image has no pixels ({width}x{height})")
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    if fmt == "JPEG":
        # DCT scaling decodes a 4032x3024 photo at 1/2..1/8 size: far less work and memory.
        img.draft(None, (min_side, min_side))
    if img.size[0] * img.size[1] > max_pixels:
        raise too_large(f"image is {width}x{height} pixels; the limit is {max_pixels:,} pixels")
    try:
        img.load()
        oriented = ImageOps.exif_transpose(img) or img
        rgb = _to_rgb(oriented)
    except Image.DecompressionBombError as exc:
        raise too_large(f"image dimensions exceed the limit: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise invalid_image(f"the image data is corrupt or truncated: {exc}") from exc
    # A fresh image from raw pixels carries no EXIF/GPS/ICC/comments from the upload.
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    orientation_swaps = oriented.size != img.size
    original = (height, width) if orientation_swaps else (width, height)
    return DecodedImage(clean, original, fmt)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB: 16-bit/float scaled, alpha composited on white, rest converted."""
    if img.mode in _WIDE_MODES:
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I;16") else max(255.0, float(np.nanmax(arr)) if arr.size else 255.0)
        gray = np.clip(np.nan_to_num(arr) / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def to_model_input(image: Image.Image, *, height: int, width: int, resize_method: str,
                   resize_aspect: str = "center_crop") -> np.ndarray:
    """Crop/resize an RGB image to the model's input; float32 0-255 ``(height, width, 3)``.

    ``center_crop`` takes the centred box of the model's aspect ratio first, exactly as the data
    pipeline does (`melanoma_exp.data.imageops.crop_resize`), so both see the same pixels.
    """
    resample = _RESAMPLE.get(resize_method)
    if resample is None:
        raise ValueError(f"model.json input.resize_method {resize_method!r} is not one of {sorted(_RESAMPLE)}")
    w, h = image.size
    box = (0, 0, w, h)
    if resize_aspect == "center_crop":
        if w * height > h * width:  # too wide: trim the sides
            side_w = max(1, h * width // height)
            box = ((w - side_w) // 2, 0, (w - side_w) // 2 + side_w, h)
        else:  # too tall: trim top and bottom
            side_h = max(1, w * height // width)
            box = (0, (h - side_h) // 2, w, (h - side_h) // 2 + side_h)
    if image.size == (width, height):
        return np.asarray(image, dtype=np.float32)
    return np.asarray(image.resize((width, height), resample, box=box), dtype=np.float32)


def _known_other_format(data: bytes) -> str | None:
    """Name a recognised but unaccepted format from its magic bytes."""
    for magic, name in _KNOWN_OTHER_MAGIC.items():
        if data.startswith(magic):
            return name
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc") and not HEIF_AVAILABLE:
        return "HEIC"
    return None


def _accepted_names() -> str:
    """Human list of accepted formats for error messages."""
    return "JPEG, PNG or WebP" + (" (HEIC also accepted)" if HEIF_AVAILABLE else "")


def upload_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size a client uploads a ``(width, height)`` photo at: long side ``max_side`` (model.json
    ``quality_gate.upload_max_side_px``), never upscaled, rounded half to even like the app's
    `UploadPhoto.targetSize` and the browser page. The Python reference for their tests."""
    longest = max(size)
    if longest <= max_side:
        return size
    scale = max_side / longest
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
