"""The bundle's explanation model: ``explain.tflite`` returns the probability and the Grad-CAM map.

The Grad-CAM gradient (the score's derivative with respect to the last convolutional block, through
the head) is traced with TensorFlow's tape inside one `tf.function` and frozen into the exported
graph, so serving and the app get the heatmap from the LiteRT interpreter they already run, with
no TensorFlow at serving time. The map is the one `melanoma_exp.explain.gradcam` computes during
training (same layer, same score, same weighting) at the conv block's own resolution, divided by its
peak; consumers upsample it (bilinear, half-pixel centres) to the model input and colour it
(`serving.explain`, the app's `Overlay`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from melanoma_exp.explain.gradcam import conv_gradient, gradcam_layer_name, gradcam_parts, grid_cam
from melanoma_exp.export.litert import convert_to_litert

EXPLAIN_FILE = "explain.tflite"
# How consumers draw the map over the photo (serving's overlay PNG, the app's Overlay, the browser page
# shows serving's PNG): the jet colour map blended at this opacity, as the training run's Grad-CAM grid.
OVERLAY = {"colormap": "jet", "alpha": 0.4}


def explain_graph(model: Any, architecture: str | None):
    """A `tf.function` image ``(1, H, W, 3)`` float32 0-255 -> ``{"probability": (1, 1), "heatmap":
    (1, h, w)}``: the classifier's probability and its Grad-CAM map in [0, 1] (all 0 where the
    gradient vanishes), with the gradient computed inside the graph."""
    import tensorflow as tf
    from keras import ops

    features, head = gradcam_parts(model, architecture)
    _, height, width, _ = model.input_shape

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])
    def explain(image):
        conv = features(image)
        cam = grid_cam(conv, conv_gradient(head, conv))
        cam = ops.divide_no_nan(cam, ops.max(cam, axis=(1, 2), keepdims=True))
        probability = ops.reshape(ops.cast(head(conv), "float32"), [1, 1])
        return {"probability": probability, "heatmap": cam}

    with builtin_gradients(model):
        explain.get_concrete_function()  # traced now, with the swapped activations
    return explain


def _friendly_activations() -> dict[str, Any]:
    """Activations whose TensorFlow gradient op (ReluGrad, EluGrad, SeluGrad, LeakyReluGrad, ...) has
    no LiteRT builtin: the same forward op with the gradient spelled in elementwise ops LiteRT has."""
    import tensorflow as tf
    from keras import activations

    def custom(forward, derivative):
        @tf.custom_gradient
        def activation(x):
            y = forward(x)
            return y, lambda dy: dy * derivative(x, y)

        return activation

    def step(x, below):
        return tf.where(x > 0, tf.ones_like(x), below)

    alpha, scale = 1.6732632423543772, 1.0507009873554805  # SELU's constants (Klambauer et al.)
    slope = 0.2  # keras.activations.leaky_relu's default negative slope
    return {
        "relu": custom(activations.relu, lambda x, y: step(x, tf.zeros_like(x))),
        "elu": custom(activations.elu, lambda x, y: step(x, tf.exp(x))),
        "selu": custom(activations.selu, lambda x, y: scale * step(x, alpha * tf.exp(x))),
        "leaky_relu": custom(activations.leaky_relu, lambda x, y: step(x, tf.fill(tf.shape(x), slope))),
        "tanh": custom(activations.tanh, lambda x, y: 1.0 - y * y),
        "sigmoid": custom(activations.sigmoid, lambda x, y: y * (1.0 - y)),
    }


@contextmanager
def builtin_gradients(model: Any) -> Iterator[None]:
    """While tracing, every layer's activation function of `_friendly_activations` is swapped for its
    twin with an elementwise gradient (forward values unchanged), then restored."""
    friendly = _friendly_activations()
    swapped = []
    for layer in model._flatten_layers(include_self=False):
        name = getattr(getattr(layer, "activation", None), "__name__", None)
        if name in friendly:
            swapped.append((layer, layer.activation))
            layer.activation = friendly[name]
    try:
        yield
    finally:
        for layer, activation in swapped:
            layer.activation = activation


def convert_explain_model(model: Any, architecture: str | None) -> tuple[bytes, list[int]]:
    """``explain.tflite``'s bytes, the graph of `explain_graph` with its weights frozen in, and its
    heatmap output's shape ``[1, h, w]`` (static in the traced graph).

    Raises:
        ValueError: the model has no spatial layer, or its graph needs ops outside LiteRT's builtins
            (a GELU head: erfc); `export_bundle` then ships no explain.tflite and says why.
    """
    from tensorflow.lite.python.convert_phase import ConverterError
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Frozen first: converted with live variables, the gradient graph keeps them as (uninitialised)
    # resource variables and the interpreter returns NaN.
    traced = explain_graph(model, architecture).get_concrete_function()
    heatmap_shape = [int(d) for d in traced.structured_outputs["heatmap"].shape]
    frozen = convert_variables_to_constants_v2(traced)
    try:
        return convert_to_litert(frozen, quantize=False), heatmap_shape
    except ConverterError as exc:  # e.g. GELU's erfc: no LiteRT builtin once the graph carries a gradient
        ops_lines = [line.strip() for line in str(exc).splitlines() if line.strip().startswith(("Custom ops:",
                                                                                                "TF Select ops:"))]
        raise ValueError("its Grad-CAM graph needs operations LiteRT has no builtin for "
                         f"({'; '.join(ops_lines) or str(exc).splitlines()[0]})") from None


def write_explain_model(bundle_dir: str | Path, model: Any, architecture: str | None, *,
                        tta: bool = False) -> dict[str, Any]:
    """Write ``explain.tflite`` into a bundle folder; return model.json's ``explain`` entry."""
    path = Path(bundle_dir) / EXPLAIN_FILE
    flatbuffer, heatmap_shape = convert_explain_model(model, architecture)
    path.write_bytes(flatbuffer)
    return {
        "file": EXPLAIN_FILE,
        "method": "grad-cam",
        "layer": gradcam_layer_name(model, architecture),
        "input": "same as model.tflite",
        "outputs": {
            "probability": {"shape": [1, 1], "meaning": "P(malignant), as model.tflite" +
                            (" without the test-time augmentation baked into it" if tta else "")},
            "heatmap": {"shape": heatmap_shape,
                        "meaning": "Grad-CAM of the predicted class on the last convolutional block: "
                        "ReLU of the channels weighted by their mean gradient, divided by its peak (0..1; "
                        "all 0 when the gradient vanishes). Told apart from probability by its rank."},
        },
        "upsample": "bilinear with half-pixel centres, edges clamped, to the model input height x width",
        "overlay": dict(OVERLAY),
        "size_bytes": path.stat().st_size,
    }

