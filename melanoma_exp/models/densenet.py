"""DenseNet family. Nothing inside the backbone normalises: it wants torch mode (x / 255, then
ImageNet mean/std), which `build_model` adds as stock Rescaling + Normalization layers."""

from melanoma_exp.models.spec import BackboneSpec

SPECS = [
    BackboneSpec(
        name=f"densenet{depth}",
        family="densenet",
        constructor=f"keras.applications.DenseNet{depth}",
        default_size=224,
        last_conv_layer="relu",
    )
    for depth in (121, 169, 201)
]
