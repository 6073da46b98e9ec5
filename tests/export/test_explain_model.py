"""explain.tflite: the Grad-CAM gradient inside the exported graph matches Keras's Grad-CAM.

Parity on real inputs nobody here made: dermoscopy of the ISIC sample and a phone-style portrait
(matplotlib's Grace Hopper photograph), through an ImageNet EfficientNet-Lite0 classifier; the map
after serving's upsampling correlates with `gradcam_heatmaps` (Pearson >= 0.99) and the probability
equals model.tflite's.
"""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from melanoma_exp.data.imageops import crop_resize, load_resized
from melanoma_exp.data.real_photos import real_photos
from melanoma_exp.paths import project_root
from serving.explain import upsample

SAMPLE = project_root() / "samples" / "isic_uda1"


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _tflite_probability(path, image: np.ndarray) -> float:
    interpreter = _interpreter(path)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None].astype(np.float32))
    interpreter.invoke()
    return float(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1)[0])


def _portrait(size: int) -> np.ndarray:
    """matplotlib's Grace Hopper photograph, centre square: a real portrait, skin and all."""
    (photo,) = [p for p in real_photos(("matplotlib",)) if p.name == "grace_hopper"]
    return crop_resize(Image.fromarray(photo.rgb), size).astype(np.float32)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_upsampling_is_tensorflows_bilinear_resize():
    import tensorflow as tf

    grid = np.random.default_rng(0).uniform(0, 1, (7, 5)).astype(np.float32)
    for height, width in ((224, 224), (97, 31), (7, 5), (3, 2)):
        want = tf.image.resize(grid[None, ..., None], (height, width), method="bilinear").numpy()[0, ..., 0]
        np.testing.assert_allclose(upsample(grid, height, width), want, atol=1e-6)


def test_a_model_without_a_spatial_layer_has_nothing_to_explain():
    import keras

    from melanoma_exp.explain.gradcam import gradcam_layer_name

    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(flat), name="flat")
    with pytest.raises(ValueError, match="no layer with a spatial"):
        gradcam_layer_name(model, None)


@pytest.mark.parametrize("activation", ["relu", "gelu", "swish", "silu", "elu", "selu", "tanh", "sigmoid",
                                        "linear", "leaky_relu"])
def test_every_head_activation_exports_with_builtin_ops_and_the_right_gradient(activation, tmp_path):
    """Each `head.activation` the schema allows: the gradient through it converts to LiteRT builtins
    (ReluGrad, EluGrad, ... have none) and is the true gradient (the map matches Keras's)."""
    import keras

    from melanoma_exp.explain.gradcam import gradcam_heatmaps
    from melanoma_exp.export.explain_model import write_explain_model
    from serving.explain import ExplainModel

    keras.utils.set_random_seed(1)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, activation=activation)(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    if activation == "gelu":  # exact GELU is erfc, which LiteRT lacks once the graph carries a gradient
        with pytest.raises(ValueError, match="no builtin for.*Erfc"):
            write_explain_model(tmp_path, model, None)
        return
    explainer = ExplainModel(tmp_path, write_explain_model(tmp_path, model, None), threads=1)
    images = np.random.default_rng(2).uniform(0, 255, (3, 24, 24, 3)).astype(np.float32)
    keras_maps = gradcam_heatmaps(model, images, None)
    for image, keras_map in zip(images, keras_maps, strict=True):
        probability, grid = explainer.explain(image)
        assert probability == pytest.approx(float(model.predict(image[None], verbose=0)[0, 0]), abs=1e-5)
        if keras_map.max() > 0:
            assert _pearson(upsample(grid, 24, 24), keras_map) >= 0.99


def test_every_schema_activation_is_covered():
    from melanoma_exp.schema import Activation

    assert {a.name for a in Activation} == {"relu", "gelu", "swish", "silu", "elu", "selu", "tanh", "sigmoid",
                                            "linear", "leaky_relu"}


@pytest.mark.slow
def test_explain_tflite_matches_keras_gradcam_on_real_dermoscopy_and_a_portrait(tmp_path):
    import keras

    from melanoma_exp.explain.gradcam import gradcam_heatmaps
    from melanoma_exp.export.explain_model import write_explain_model
    from melanoma_exp.export.litert import convert_to_litert
    from melanoma_exp.models.build import build_model
    from serving.explain import ExplainModel

    size = 224
    keras.utils.set_random_seed(3)
    head = OmegaConf.create({"units": 64, "activation": "relu", "batch_norm": False, "dropout1": 0.3,
                             "second_dense": False, "units2": 8, "dropout2": 0.0, "regularizer": None,
                             "regularization": 0.0})
    model = build_model(OmegaConf.create({"name": "efficientnet_lite0", "weights": "imagenet"}), head, size)
    entry = write_explain_model(tmp_path, model, "efficientnet_lite0")
    assert entry["layer"] == "backbone/top_activation"
    assert entry["outputs"]["heatmap"]["shape"] == [1, 7, 7]
    (tmp_path / "model.tflite").write_bytes(convert_to_litert(model, quantize=False))
    explainer = ExplainModel(tmp_path, entry, threads=1)

    # melanomas and naevi of the sample, some with ink, rulers or hair at the border; and the portrait
    dermoscopy = [load_resized(path, size) for path in sorted(SAMPLE.glob("*.jpg"))[:4]]
    images = np.stack([*dermoscopy, _portrait(size)]).astype(np.float32)
    keras_maps = gradcam_heatmaps(model, images, "efficientnet_lite0")
    for index, image in enumerate(images):
        probability, grid = explainer.explain(image)
        assert grid.shape == (7, 7) and grid.min() >= 0.0 and grid.max() == pytest.approx(1.0)
        assert probability == pytest.approx(_tflite_probability(tmp_path / "model.tflite", image), abs=1e-5)
        assert _pearson(upsample(grid, size, size), keras_maps[index]) >= 0.99, f"image {index}"


def test_tiny_bundle_ships_explain_and_its_probability_is_model_tflites(tmp_path):
    from melanoma_exp.explain.gradcam import gradcam_heatmaps
    from melanoma_exp.export.tiny_bundle import make_tiny_bundle, synthetic_arrays
    from serving.explain import load_explain
    from serving.model import load_model_json

    bundle = make_tiny_bundle(tmp_path / "bundle", 48, n=24, epochs=2)
    spec = load_model_json(bundle)
    assert spec["explain"]["file"] == "explain.tflite" and spec["explain"]["size_bytes"] > 0
    explainer = load_explain(bundle, spec)
    images, _ = synthetic_arrays(4, 48, seed=5)
    import keras

    model = keras.saving.load_model(bundle / "model.keras", compile=False)
    keras_maps = gradcam_heatmaps(model, images.astype(np.float32), None)
    for index, image in enumerate(images.astype(np.float32)):
        probability, grid = explainer.explain(image)
        assert probability == pytest.approx(_tflite_probability(bundle / "model.tflite", image), abs=1e-5)
        if keras_maps[index].max() > 0:
            assert _pearson(upsample(grid, 48, 48), keras_maps[index]) >= 0.99
