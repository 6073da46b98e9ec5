"""Phone-photo capture conditions as image degradations, and the ``capture`` training augmentation.

Blur, defocus, motion, JPEG re-compression, exposure and white-balance shifts, zoom/crop and sensor
noise: a fixed, seeded set of degraded copies per image (the robustness report in
`evaluation.robustness` scores them) and, drawn at random strengths, the ``capture`` augmentation
preset (`data.augment.capture`).

Images are float32 RGB in 0–255, shape (H, W, 3), like everything the pipeline feeds a model.
Strengths scale with the image size (a 3 px blur at 224 px is a 0.4 px blur at 32 px).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

Degradation = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _scale(img: np.ndarray) -> float:
    return min(img.shape[0], img.shape[1]) / 224.0


def _to_pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


def gaussian_blur(img, strength, rng):
    """Out-of-focus softness (Gaussian, radius ~2.5 px at 224 px)."""
    radius = max(0.6, 2.5 * strength * _scale(img))
    return np.asarray(_to_pil(img).filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)


def defocus(img, strength, rng):
    """Lens defocus: a uniform disk kernel (the shape of a real out-of-focus blur)."""
    r = max(1, int(round(4 * strength * _scale(img))))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (xx**2 + yy**2 <= r**2).astype(np.float32)
    disk /= disk.sum()
    return ndimage.convolve(img.astype(np.float32), disk[:, :, None], mode="reflect")


def motion_blur(img, strength, rng):
    """Hand shake: a line kernel at a seeded angle."""
    length = max(3, int(round(11 * strength * _scale(img))) | 1)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    kernel = ndimage.rotate(kernel, float(rng.uniform(0, 180)), reshape=False, order=1)
    kernel = np.clip(kernel, 0, None)
    kernel /= kernel.sum()
    return ndimage.convolve(img.astype(np.float32), kernel[:, :, None], mode="reflect")


def jpeg_recompression(img, strength, rng):
    """Messaging-app re-compression (quality ~20)."""
    quality = int(np.clip(round(40 - 20 * strength), 5, 95))
    buf = io.BytesIO()
    _to_pil(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float32)


def underexposure(img, strength, rng):
    """Dim indoor light."""
    return np.clip(img * (1 - 0.4 * strength), 0, 255)


def overexposure(img, strength, rng):
    """Flash / bright sun (clips highlights like a phone sensor)."""
    return np.clip(img * (1 + 0.5 * strength), 0, 255)


def warm_white_balance(img, strength, rng):
    """Tungsten light: more red, less blue."""
    gains = 1 + strength * np.array([0.15, 0.0, -0.2], np.float32)
    return np.clip(img * gains, 0, 255)


def cool_white_balance(img, strength, rng):
    """Shade / fluorescent light: less red, more blue."""
    gains = 1 + strength * np.array([-0.15, 0.0, 0.2], np.float32)
    return np.clip(img * gains, 0, 255)


def zoom_in(img, strength, rng):
    """Closer shot: centre crop to ~75% then resize back."""
    h, w = img.shape[:2]
    keep = float(np.clip(1 - 0.25 * strength, 0.3, 1.0))
    ch, cw = max(2, int(h * keep)), max(2, int(w * keep))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = _to_pil(img[top : top + ch, left : left + cw])
    return np.asarray(crop.resize((w, h), Image.BILINEAR), dtype=np.float32)


def zoom_out(img, strength, rng):
    """Farther shot: the lesion shrinks to ~75% with skin (edge colour) around it."""
    h, w = img.shape[:2]
    keep = float(np.clip(1 - 0.25 * strength, 0.3, 1.0))
    small = np.asarray(_to_pil(img).resize((max(2, int(w * keep)), max(2, int(h * keep))), Image.BILINEAR))
    ph, pw = h - small.shape[0], w - small.shape[1]
    padded = np.pad(small, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")
    return padded.astype(np.float32)


def sensor_noise(img, strength, rng):
    """High-ISO sensor noise (Gaussian, sigma ~10 grey levels)."""
    return np.clip(img + rng.normal(0, 10 * strength, img.shape), 0, 255).astype(np.float32)


DEGRADATIONS: dict[str, Degradation] = {
    "gaussian_blur": gaussian_blur,
    "defocus": defocus,
    "motion_blur": motion_blur,
    "jpeg": jpeg_recompression,
    "underexposure": underexposure,
    "overexposure": overexposure,
    "warm_white_balance": warm_white_balance,
    "cool_white_balance": cool_white_balance,
    "zoom_in": zoom_in,
    "zoom_out": zoom_out,
    "sensor_noise": sensor_noise,
}


def degraded_copies(image: np.ndarray, seed: int = 0, names=None) -> np.ndarray:
    """The fixed set of degraded copies of one image, shape (K, H, W, 3), float32 0–255.

    Fixed: the same image and seed always give the same copies, so reports are comparable.
    """
    names = list(names or DEGRADATIONS)
    unknown = [n for n in names if n not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"Unknown degradation(s) {unknown}. Known: {', '.join(DEGRADATIONS)}")
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {img.shape}")
    rng = np.random.default_rng(seed)
    return np.stack([DEGRADATIONS[n](img, 1.0, rng).astype(np.float32) for n in names])


def random_capture_degradation(image: np.ndarray, rng: np.random.Generator, probability: float = 0.5):
    """Training augmentation: with ``probability``, one random degradation at a random strength."""
    img = np.asarray(image, dtype=np.float32)
    if rng.random() >= probability:
        return img
    name = list(DEGRADATIONS)[rng.integers(len(DEGRADATIONS))]
    return DEGRADATIONS[name](img, float(rng.uniform(0.3, 1.3)), rng).astype(np.float32)


def capture_numpy(images: np.ndarray, seed: np.ndarray, probability: float) -> np.ndarray:
    """The ``capture`` augmentation on a float32 batch (B, H, W, 3) in 0–255, in NumPy: each image
    degraded with ``probability``; ``seed`` (ints) fixes the draws."""
    rng = np.random.default_rng([int(v) & 0xFFFFFFFF for v in np.asarray(seed).ravel()])
    return np.stack([random_capture_degradation(img, rng, probability) for img in images]).astype(np.float32)


def capture_augment_batch(images, seed, probability: float = 0.5):
    """The ``capture`` augmentation on a float32 batch (B, H, W, 3) in 0–255, as a TF op.

    ``seed`` is the per-batch stateless seed the data pipeline already draws (shape [2] int), so
    the same seed gives the same degraded batch on every run. The degradations run in NumPy/Pillow
    through ``tf.numpy_function``: training input only, never inside the exported model.
    """
    import tensorflow as tf

    out = tf.numpy_function(
        lambda x, s: capture_numpy(x, s, probability), [images, seed], tf.float32, stateful=False
    )
    out.set_shape(images.shape)
    return out


def capture_augment_fn(probability: float = 0.5, seed: int = 0):
    """The ``capture`` preset as a ``dataset.map`` function on batches of ``(images, labels)``.

    For pipelines without their own per-batch seeds; each call of the map draws a fresh seed from
    a seeded counter, so a re-run with the same ``seed`` gives the same batches.
    """
    import tensorflow as tf

    counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    def augment(images, labels):
        step = counter.assign_add(1)
        return capture_augment_batch(images, tf.stack([tf.constant(seed, tf.int64), step]), probability), labels

    return augment
