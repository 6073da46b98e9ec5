"""`data.augment` as Keras layers inside the training step, never inside the exported model.

The host input pipeline only reads, parses, shuffles and batches uint8 images; flips, rotation,
zoom, contrast and brightness run as stock Keras preprocessing layers (one `keras.layers.Pipeline`
named ``augmentation``) at the front of a *training model* that shares every other layer, and so
every variable, with the classifier `build_model` returns:

    training model:   image -> augmentation -> [normalisation] -> backbone -> head
    classifier:       image ->                 [normalisation] -> backbone -> head   (evaluated, exported)

The training model is what `fit` compiles, trains and checkpoints. Its `weights` are the
classifier's, in the same order (the augmentation layers own none: their random seeds are
`variables`, not `weights`), so checkpoints are interchangeable with those of a model trained
without it, and the classifier handed to evaluation and export is the one `build_model` made:
no augmentation layer in `model.keras` or the LiteRT files (contract 4 unchanged). The layers run
on whatever device runs the training step (a GPU when there is one) and only when `training=True`.

Semantics match the host version in `melanoma_exp.data.augment` (rotation up to +-rotate x 360
degrees, zoom +-zoom of the side, reflected borders, nearest-neighbour resampling, contrast around
each image's per-channel mean, brightness +-brightness x 255, clipped to 0..255). The ``capture``
preset (Pillow/SciPy degradations through `tf.numpy_function`) cannot run on an accelerator and
stays in the host pipeline when it is set.
"""

from __future__ import annotations

from collections.abc import Mapping

AUGMENTATION_LAYER = "augmentation"
IN_MODEL_KEYS = ("flip", "rotate", "zoom", "contrast", "brightness")


def split_settings(settings: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float] | None]:
    """Validated `data.augment` settings -> (in the model, on the host or None).

    Everything but ``capture`` goes into the model; ``capture`` stays on the host when it is on.
    """
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

    # float32 whatever the global policy: augmentation of 0..255 values is not worth fp16's error
    common = {"dtype": "float32"}
    layers = []
    if settings.get("flip"):
        layers.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed, name="aug_flip", **common))
    if settings.get("rotate"):
        layers.append(keras.layers.RandomRotation(
            float(settings["rotate"]), fill_mode="reflect", interpolation="nearest", seed=seed + 1,
            name="aug_rotate", **common))
    if settings.get("zoom"):
        zoom = min(float(settings["zoom"]), 0.4)
        layers.append(keras.layers.RandomZoom(
            (-zoom, zoom), fill_mode="reflect", interpolation="nearest", seed=seed + 2,
            name="aug_zoom", **common))
    if settings.get("contrast"):
        layers.append(keras.layers.RandomContrast(
            float(settings["contrast"]), value_range=(0, 255), seed=seed + 3, name="aug_contrast", **common))
    if settings.get("brightness"):
        layers.append(keras.layers.RandomBrightness(
            float(settings["brightness"]), value_range=(0, 255), seed=seed + 4, name="aug_brightness",
            **common))
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
