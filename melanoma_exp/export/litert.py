"""Keras model -> LiteRT flatbuffer: the on-device and serving format of every model in a bundle."""

from __future__ import annotations

from typing import Any


def convert_to_litert(model: Any, *, quantize: bool) -> bytes:
    """Convert a Keras model (or a frozen `tf.function` concrete function) to a LiteRT flatbuffer
    (float32, or dynamic-range int8 weights).

    Raises:
        RuntimeError: TensorFlow is missing, or Keras runs on another backend in this process: the
            converter is TensorFlow's. A model trained on JAX exports from a TensorFlow environment
            (the `.keras` file is the same on every backend).
    """
    import contextlib
    import io

    import keras

    try:
        import tensorflow as tf
    except ImportError as exc:
        raise RuntimeError("exporting to LiteRT needs TensorFlow (the converter is tf.lite; pip install "
                           "tensorflow==2.21.0). Train on any backend, then run `melanoma export` where "
                           "TensorFlow is installed: the logged .keras model loads there unchanged.") from exc
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"exporting to LiteRT needs Keras on the TensorFlow backend; this process runs "
                           f"{keras.backend.backend()!r}. Run `melanoma export` in a fresh process without "
                           "KERAS_BACKEND (or KERAS_BACKEND=tensorflow).")

    if isinstance(model, tf.types.experimental.ConcreteFunction):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([model], trackable_obj=model)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        # Dynamic-range: int8 weights, float activations; ~4x smaller, no calibration data needed.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # The converter prints the temporary SavedModel's signature to stdout; keep CLI output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()
