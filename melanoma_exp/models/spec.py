"""The data type of the backbone registry: one `BackboneSpec` per `model.name`.

Kept free of TensorFlow so config validation and `--cfg job` never pay for a TF start-up: the
constructor is a dotted name resolved only when a model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BackboneSpec:
    """Everything the trainer needs to know about one backbone, as data.

    Attributes:
        name: the `model.name` value (lower case, e.g. ``efficientnetv2b3``).
        family: ``efficientnetv2`` | ``resnetv2`` | ``densenet`` | ``efficientnet_lite``; selects the
            normalisation layer.
        constructor: dotted path of the `keras.applications` function (or of the project's own, with the
            same arguments: ``melanoma_exp.models.efficientnet_lite.EfficientNetLite0``).
        default_size: the image size the family was designed and pre-trained for.
        last_conv_layer: name (inside the backbone) of the last convolutional activation: Grad-CAM's
            target. With ``include_top=False`` it is also the backbone's output.
        kwargs: extra constructor arguments (e.g. EfficientNetV2's built-in preprocessing).
    """

    name: str
    family: str
    constructor: str
    default_size: int
    last_conv_layer: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def resolve_constructor(self):
        """Import and return the constructor (imports Keras when it is called)."""
        module_name, _, attr = self.constructor.rpartition(".")
        return getattr(importlib.import_module(module_name), attr)
