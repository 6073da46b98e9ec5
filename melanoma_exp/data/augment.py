"""Training-time augmentation on whole batches with stateless random ops (reproducible per seed).

The thesis set (flip, rotation, zoom, contrast) plus brightness, configured by `data.augment`:

    flip: true          random horizontal and vertical flips
    rotate: 0.25        rotation up to +-rotate x 360 degrees (Keras RandomRotation's convention)
    zoom: 0.1           zoom in/out up to +-10 % of the side
    contrast: 0.1       contrast factor in [0.9, 1.1] around each image's per-channel mean
    brightness: 0.1     shift by up to +-10 % of 255
    capture: 0.5        phone-photo capture conditions (blur, defocus, motion, JPEG, exposure,
                        white balance, zoom, sensor noise; melanoma_exp.clinical.robustness) on this
                        share of images; off unless set (`+data.augment.capture=0.5`)

Images stay float32 RGB in 0..255 (clipped); rotation/zoom reflect at the borders so no black
corners appear that a model could learn from. Every random draw is `tf.random.stateless_*` keyed
by a per-batch seed, so the same seed gives the same augmented batches on every run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

AUGMENT_KEYS = ("flip", "rotate", "zoom", "contrast", "brightness", "capture")


def augment_settings(augment: Mapping | None) -> dict[str, float]:
    """Validate `data.augment` -> {flip, rotate, zoom, contrast, brightness} as floats (0 = off)."""
    if not augment:
        return dict.fromkeys(AUGMENT_KEYS, 0.0)
    unknown = sorted(set(augment) - set(AUGMENT_KEYS))
    if unknown:
        raise ValueError(f"Unknown data.augment key(s) {unknown}. Known: {', '.join(AUGMENT_KEYS)}")
    out = {key: float(augment.get(key) or 0.0) for key in AUGMENT_KEYS}
    for key, value in out.items():
        if value < 0 or (key != "rotate" and key != "flip" and value >= 1):
            raise ValueError(f"data.augment.{key} must be in [0, 1), got {value}")
    return out


def _affine(batch: int, size, rotate: float, zoom: float, seeds):
    """Per-image projective transforms (rotation about the centre, zoom) for ImageProjectiveTransformV3."""
    import tensorflow as tf

    angle = tf.random.stateless_uniform([batch], seeds[0], -rotate * 2 * math.pi, rotate * 2 * math.pi)
    scale = tf.random.stateless_uniform([batch], seeds[1], 1 - zoom, 1 + zoom)
    h, w = tf.cast(size[0], tf.float32), tf.cast(size[1], tf.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # Output pixel (x, y) samples input (cos*(x-cx) - sin*(y-cy) + cx, sin*(x-cx) + cos*(y-cy) + cy).
    zeros = tf.zeros([batch])
    return tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, zeros, zeros], axis=1
    )


def augment_batch(images, seed, settings: Mapping[str, float]):
    """Augment a float32 batch (B, H, W, 3) in 0..255 with the stateless `seed` (shape [2] int)."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 7)
    batch = tf.shape(images)[0]
    if settings["flip"]:
        lr = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[0]) < 0.5
        images = tf.where(lr, tf.reverse(images, axis=[2]), images)
        ud = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[1]) < 0.5
        images = tf.where(ud, tf.reverse(images, axis=[1]), images)
    if settings["rotate"] or settings["zoom"]:
        size = tf.shape(images)[1:3]
        transforms = _affine(batch, size, settings["rotate"], settings["zoom"], seeds[2:4])
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=size, fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT",
        )
    if settings["contrast"]:
        c = settings["contrast"]
        factor = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[4], 1 - c, 1 + c)
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        images = (images - mean) * factor + mean
    if settings["brightness"]:
        b = settings["brightness"] * 255.0
        images = images + tf.random.stateless_uniform([batch, 1, 1, 1], seeds[5], -b, b)
    images = tf.clip_by_value(images, 0.0, 255.0)
    if settings.get("capture"):
        from melanoma_exp.clinical.robustness import capture_augment_batch

        images = capture_augment_batch(images, seeds[6], settings["capture"])
    return images
