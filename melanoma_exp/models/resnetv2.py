"""ResNetV2 family. Nothing inside the backbone normalises: it wants x / 127.5 - 1, which
`build_model` adds as a stock Rescaling layer."""

from melanoma_exp.models.spec import BackboneSpec

SPECS = [
    BackboneSpec(
        name=f"resnet{depth}v2",
        family="resnetv2",
        constructor=f"keras.applications.ResNet{depth}V2",
        default_size=224,
        last_conv_layer="post_relu",
    )
    for depth in (50, 101, 152)
]
