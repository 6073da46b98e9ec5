"""The training-time augmentation layers (`training.augmentation` puts them in front of the model).

Backend-neutral Keras layers (`keras.ops`, `keras.random` with a `SeedGenerator`), so they run in the
compiled training step on whatever device runs it, and act only with ``training=True``. They do
what the host version (`melanoma_exp.data.augment`) does, with the same fused operations that keep
it cheap: flips, rotation and zoom as one nearest-neighbour gather, contrast and brightness as one
affine map per image. Three stock layers (RandomFlip, RandomRotation, RandomZoom) plus
RandomContrast cost about five times more CPU per image (measured on the 2-core dev box).
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _reflect(coord, n: int):
    """Mirror coordinates into [0, n-1] (reflect padding: no black corners a model could learn).

    One reflection, valid for coordinates in [-(n-1), 2(n-1)]: any rotation with zoom <= 1.4.
    """
    last = float(n - 1)
    return ops.clip(last - ops.abs(last - ops.abs(coord)), 0.0, last)


def _per_image(v):
    return ops.reshape(v, (-1, 1, 1))


class RandomGeometry(keras.layers.Layer):
    """Random horizontal and vertical flips, rotation about the centre (up to +-rotate x 360 degrees)
    and zoom (+-zoom of the side, at most 0.4) as ONE nearest-neighbour resampling with reflected
    borders."""

    def __init__(self, flip: bool, rotate: float, zoom: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.flip, self.rotate, self.zoom, self.seed = bool(flip), float(rotate), float(zoom), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch, (h, w, channels) = ops.shape(images)[0], tuple(images.shape[1:])
        turn, zoom = self.rotate * 2 * math.pi, min(self.zoom, 0.4)
        angle = keras.random.uniform((batch,), -turn, turn, seed=self.seed_generator)
        scale = keras.random.uniform((batch,), 1 - zoom, 1 + zoom, seed=self.seed_generator)
        signs = ops.ones((batch, 2))
        if self.flip:
            signs = ops.where(keras.random.uniform((batch, 2), seed=self.seed_generator) < 0.5, -1.0, 1.0)
        sign_x, sign_y = signs[:, 0], signs[:, 1]
        cx, cy = (w - 1) / 2, (h - 1) / 2
        cos, sin = ops.cos(angle) * scale, ops.sin(angle) * scale
        # Output pixel p samples the input at R(angle) * scale * diag(sign_x, sign_y) * (p - c) + c.
        # Separable: the x and y terms are (B, 1, W) and (B, H, 1); only their sum is full size.
        xs = ops.reshape(ops.arange(w, dtype="float32") - cx, (1, 1, w))
        ys = ops.reshape(ops.arange(h, dtype="float32") - cy, (1, h, 1))
        src_x = _per_image(cos * sign_x) * xs + (_per_image(-sin * sign_y) * ys + cx)
        src_y = _per_image(sin * sign_x) * xs + (_per_image(cos * sign_y) * ys + cy)
        col = ops.cast(_reflect(src_x, w) + 0.5, "int32")
        row = ops.cast(_reflect(src_y, h) + 0.5, "int32")
        flat_index = row * w + (col + _per_image(ops.arange(batch, dtype="int32") * (h * w)))
        return ops.take(ops.reshape(images, (-1, channels)), flat_index, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "flip": self.flip, "rotate": self.rotate, "zoom": self.zoom,
                "seed": self.seed}


class RandomColour(keras.layers.Layer):
    """Contrast (factor 1 +- contrast around each image's per-channel mean) and brightness (shift
    +- brightness x 255) as one affine map per image, clipped to 0..255."""

    def __init__(self, contrast: float, brightness: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.contrast, self.brightness, self.seed = float(contrast), float(brightness), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch, c, b = ops.shape(images)[0], self.contrast, self.brightness * 255.0
        factor = keras.random.uniform((batch, 1, 1, 1), 1 - c, 1 + c, seed=self.seed_generator)
        shift = keras.random.uniform((batch, 1, 1, 1), -b, b, seed=self.seed_generator)
        if c:  # x * f + mean * (1 - f); the mean of every 4th row and column: 16x cheaper, the same
            shift = shift + ops.mean(images[:, ::4, ::4, :], axis=(1, 2), keepdims=True) * (1 - factor)
        return ops.clip(images * factor + shift, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "contrast": self.contrast, "brightness": self.brightness,
                "seed": self.seed}
