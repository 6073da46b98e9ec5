"""EfficientNetV2 family. Normalisation (Rescaling + ImageNet Normalization) is built into the
backbone by `include_preprocessing=True`, so the model takes raw 0-255 RGB as is."""

from melanoma_exp.models.spec import BackboneSpec

_SIZES = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "s": 384, "m": 480, "l": 480}

SPECS = [
    BackboneSpec(
        name=f"efficientnetv2{variant}",
        family="efficientnetv2",
        constructor=f"keras.applications.EfficientNetV2{variant.upper()}",
        default_size=size,
        last_conv_layer="top_activation",
        kwargs={"include_preprocessing": True},
    )
    for variant, size in _SIZES.items()
]
