"""Tiny Keras models with known behaviour, built in tests (input: float32 RGB 0–255)."""

import numpy as np


def constant_model(size=32, p=0.3):
    """Ignores its input: always returns p."""
    import keras

    inp = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    dense = keras.layers.Dense(1, activation="sigmoid")
    out = dense(x)
    dense.set_weights([np.zeros((3, 1), "float32"), np.array([np.log(p / (1 - p))], "float32")])
    return keras.Model(inp, out, name="constant")


def brightness_model(size=32):
    """Keyed to brightness: malignant probability = sigmoid((mean grey level - 128) / 12)."""
    import keras

    inp = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)  # flip/rotation invariant
    dense = keras.layers.Dense(1, activation="sigmoid")
    out = dense(x)
    dense.set_weights([np.full((3, 1), 1 / 36, "float32"), np.array([-128 / 12], "float32")])
    return keras.Model(inp, out, name="brightness")


def small_cnn(size=32, seed=0, name="cnn"):
    """A random small CNN with a `backbone` layer; not flip-invariant."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="backbone")(x)
    x = keras.layers.Flatten()(x)  # position-dependent on purpose
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inp, out, name=name)


def smooth_images(n=12, size=32, seed=0):
    """Images with mid-range brightness (so brightness shifts move a brightness model a lot)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(90, 170, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 20, (n, size, size, 3)), 0, 255).astype("float32")


def nested_classifier(size=32, seed=0):
    """Same structure as the trainer's models: a nested `backbone` Model, pooled head, sigmoid
    `prediction` Dense; compiled for a quick fit."""
    import keras

    keras.utils.set_random_seed(seed)
    b_in = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(b_in)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    backbone = keras.Model(b_in, x, name="backbone")
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="prediction")(x)
    model = keras.Model(inp, out, name="melanoma_tiny")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    return model
