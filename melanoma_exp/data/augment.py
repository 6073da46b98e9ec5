"""Training-time augmentation on whole batches with stateless random ops (reproducible per seed).

The thesis set (flip, rotation, zoom, contrast) plus brightness, configured by `data.augment`:

    flip: true          random horizontal and vertical flips
    rotate: 0.25        rotation up to +-rotate x 360 degrees (Keras RandomRotation's convention)
    zoom: 0.1           zoom in/out up to +-10 % of the side
    contrast: 0.1       contrast factor in [0.9, 1.1] around each image's per-channel mean
    brightness: 0.1     shift by up to +-10 % of 255
    capture: 0.5        phone-photo capture conditions (blur, defocus, motion, JPEG, exposure,
                        white balance, zoom, sensor noise; melanoma_exp.data.capture) on this
                        share of images; off unless set (`+data.augment.capture=0.5`)

Images come out float32 RGB in 0..255 (clipped). Flips, rotation and zoom are folded into one
nearest-neighbour resampling with reflected borders (no black corners a model could learn from).
Every random draw is `tf.random.stateless_*` keyed by a per-batch seed, so the same seed gives the
same augmented batches on every run.
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


def _reflect(coord, n: int):
    """Mirror coordinates into [0, n-1] (reflect padding: no black corners a model could learn).

    One reflection, valid for coordinates in [-(n-1), 2(n-1)], which covers any rotation with
    zoom <= 1.4 (the corners of the output reach at most 0.71 * 1.4 ~ 1 side from the centre).
    """
    import tensorflow as tf

    last = float(n - 1)
    return tf.clip_by_value(last - tf.abs(last - tf.abs(coord)), 0.0, last)


def _geometry(images, settings: Mapping[str, float], seeds):
    """Flips, rotation about the centre and zoom folded into ONE nearest-neighbour resampling.

    One gather per image instead of reverse + select + bilinear resample: several times cheaper on
    a CPU than `ImageProjectiveTransformV3` (bench_pipeline), which keeps augmentation from
    dominating the input pipeline. At these angles and zooms nearest-neighbour aliasing is small
    next to what the augmentation itself changes.
    """
    import tensorflow as tf

    batch, h, w, channels = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    rotate, zoom = settings["rotate"], min(settings["zoom"], 0.4)
    angle = tf.random.stateless_uniform([batch], seeds[0], -rotate * 2 * math.pi, rotate * 2 * math.pi)
    scale = tf.random.stateless_uniform([batch], seeds[1], 1 - zoom, 1 + zoom)
    if settings["flip"]:
        flips = tf.random.stateless_uniform([batch, 2], seeds[2]) < 0.5
        sign_x, sign_y = tf.unstack(tf.where(flips, -1.0, 1.0), axis=1)
    else:
        sign_x = sign_y = tf.ones([batch])
    cx, cy = (w - 1) / 2, (h - 1) / 2
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # Output pixel p samples the input at R(angle) * scale * diag(sign_x, sign_y) * (p - c) + c.
    # The map is affine and separable, so the x and y terms are built on (B, 1, W) and (B, H, 1)
    # arrays and only their sum is full size.
    xs = (tf.range(w, dtype=tf.float32) - cx)[None, None, :]
    ys = (tf.range(h, dtype=tf.float32) - cy)[None, :, None]
    per_image = lambda v: v[:, None, None]  # noqa: E731
    src_x = per_image(cos * sign_x) * xs + (per_image(-sin * sign_y) * ys + cx)
    src_y = per_image(sin * sign_x) * xs + (per_image(cos * sign_y) * ys + cy)
    col = tf.cast(_reflect(src_x, w) + 0.5, tf.int32)
    row = tf.cast(_reflect(src_y, h) + 0.5, tf.int32)
    flat_index = row * w + (col + per_image(tf.range(batch) * (h * w)))
    return tf.gather(tf.reshape(images, [-1, channels]), flat_index)


def augment_batch(images, seed, settings: Mapping[str, float]):
    """Augment a batch (B, H, W, 3), uint8 or float32 in 0..255, with the stateless `seed` ([2] int).

    Returns float32 in 0..255. Geometry runs first on the input dtype (uint8 = 4x less memory
    traffic), then contrast and brightness as one fused affine map per image.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 6)
    batch = tf.shape(images)[0]
    if settings["flip"] or settings["rotate"] or settings["zoom"]:
        images = _geometry(images, settings, seeds[:3])
    images = tf.cast(images, tf.float32)
    if not (settings["contrast"] or settings["brightness"]):
        return _capture(images, seeds[5], settings)
    c, b = settings["contrast"], settings["brightness"] * 255.0
    factor = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[3], 1 - c, 1 + c)
    shift = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[4], -b, b)
    if c:  # contrast around each image's per-channel mean: x * f + mean * (1 - f)
        # (mean of every 4th row and column: 16x cheaper, the same to a fraction of a level)
        shift = shift + tf.reduce_mean(images[:, ::4, ::4, :], axis=[1, 2], keepdims=True) * (1 - factor)
    return _capture(tf.clip_by_value(images * factor + shift, 0.0, 255.0), seeds[5], settings)


def _capture(images, seed, settings: Mapping[str, float]):
    """Phone-photo capture conditions (`data.augment.capture`, melanoma_exp.data.capture)."""
    if not settings.get("capture"):
        return images
    from melanoma_exp.data.capture import capture_augment_batch

    return capture_augment_batch(images, seed, settings["capture"])
