"""Keras model -> LiteRT flatbuffer: the on-device and serving format of every model in a bundle."""

from __future__ import annotations

from typing import Any


def convert_to_litert(model: Any, *, quantize: bool) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer (float32, or dynamic-range int8 weights)."""
    import contextlib
    import io

    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        # Dynamic-range: int8 weights, float activations; ~4x smaller, no calibration data needed.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # The converter prints the temporary SavedModel's signature to stdout; keep CLI output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()
