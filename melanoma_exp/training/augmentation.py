"""`data.augment` as Keras layers inside the training step, never inside the exported model.

The host input pipeline only reads, parses, shuffles and batches uint8 images; flips, rotation,
zoom, contrast and brightness run as Keras preprocessing layers (`RandomGeometry`, `RandomColour`
from `training.augment_layers`, in one `keras.layers.Pipeline` named ``augmentation``) at the front
of a *training model* that shares every other layer, and so every variable, with the classifier
`build_model` returns:

    training model:   image -> augmentation -> [normalisation] -> backbone -> head
    classifier:       image ->                 [normalisation] -> backbone -> head   (evaluated, exported)

The training model is what `fit` compiles, trains and checkpoints. Its `weights` are the
classifier's, in the same order (the augmentation layers own none: their random seeds are
`variables`, not `weights`), so checkpoints are interchangeable with those of a model trained
without it, and the classifier handed to evaluation and export is the one `build_model` made:
no augmentation layer in `model.keras` or the LiteRT files (contract 4 unchanged). The layers run
on whatever device runs the training step (a GPU when there is one) and only when `training=True`.

Semantics and operations are the host version's (`melanoma_exp.data.augment`): flips, rotation up
to +-rotate x 360 degrees and zoom +-zoom of the side as one nearest-neighbour gather with
reflected borders; contrast around each image's per-channel mean and brightness +-brightness x 255
as one affine map, clipped to 0..255. The ``capture``
preset (Pillow/SciPy degradations through `tf.numpy_function`) cannot run on an accelerator and
stays in the host pipeline when it is set.
"""

from __future__ import annotations

from collections.abc import Mapping

from melanoma_exp.data.augment import augment_settings

AUGMENTATION_LAYER = "augmentation"
IN_MODEL_KEYS = ("flip", "rotate", "zoom", "contrast", "brightness")


def split_settings(augment: Mapping | None) -> tuple[dict[str, float], dict[str, float] | None]:
    """`data.augment` (the config node, a dict or None; validated by `data.augment.augment_settings`)
    -> (in the model, on the host or None).

    Everything but ``capture`` goes into the model; ``capture`` stays on the host when it is on.
    """
    settings = augment_settings(augment)
    in_model = {key: float(settings.get(key) or 0.0) for key in IN_MODEL_KEYS}
    capture = float(settings.get("capture") or 0.0)
    return in_model, ({"capture": capture} if capture else None)


def augmentation_layer(settings: Mapping[str, float], seed: int):
    """The in-model augmentation as one `keras.layers.Pipeline`, or None when every key is off.

    Args:
        settings: validated settings (`data.augment.augment_settings`); ``capture`` is ignored.
        seed: the run's seed (`trainer.seed`); each layer draws from its own seed derived from it.

    Returns:
        A layer that maps float32 RGB 0..255 to float32 RGB 0..255 when called with
        ``training=True`` and passes its input through otherwise.
    """
    import keras

    from melanoma_exp.training.augment_layers import RandomColour, RandomGeometry

    # float32 whatever the global policy: augmentation of 0..255 values is not worth fp16's error
    layers = []
    if settings.get("flip") or settings.get("rotate") or settings.get("zoom"):
        layers.append(RandomGeometry(settings.get("flip"), settings.get("rotate") or 0.0,
                                   settings.get("zoom") or 0.0, seed=seed, name="aug_geometry", dtype="float32"))
    if settings.get("contrast") or settings.get("brightness"):
        layers.append(RandomColour(settings.get("contrast") or 0.0, settings.get("brightness") or 0.0,
                                 seed=seed + 1, name="aug_colour", dtype="float32"))
    if not layers:
        return None
    return keras.layers.Pipeline(layers, name=AUGMENTATION_LAYER)


def training_model(model, augmentation):
    """`model` with `augmentation` in front of its first layer; shares all of `model`'s layers.

    Args:
        model: the classifier from `build_model`: a functional chain image -> ... -> P(malignant).
        augmentation: the layer from `augmentation_layer`, or None (then `model` itself is returned).

    Returns:
        A functional model with the same input and output as `model`, whose `weights` are
        `model.weights` (the same variables, in the same order).
    """
    import keras

    if augmentation is None:
        return model
    layers = model.layers[1:]  # layers[0] is the InputLayer
    for previous, layer in zip(model.layers, layers, strict=False):
        outputs = {id(t) for node in previous._inbound_nodes for t in node.output_tensors}
        inputs = {id(t) for node in layer._inbound_nodes for t in node.input_tensors}
        if not outputs & inputs:
            raise ValueError(f"{model.name} is not a chain of layers ({layer.name} does not follow "
                             f"{previous.name}): cannot put the augmentation in front of it")
    source = model.inputs[0]
    inputs = keras.Input(tuple(source.shape[1:]), dtype=source.dtype, name=source.name)
    x = augmentation(inputs)
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_training")
