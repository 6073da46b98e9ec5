"""`data.augment` runs as Keras layers in the training step; the classifier that is evaluated and
exported holds none of them and predicts exactly like a model built without augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from melanoma_exp.data.augment import augment_settings
from melanoma_exp.training.augmentation import (
    AUGMENTATION_LAYER,
    augmentation_layer,
    split_settings,
    training_model,
)

FULL = augment_settings({"flip": True, "rotate": 0.25, "zoom": 0.1, "contrast": 0.1, "brightness": 0.1})
HEAD = {"units": 8, "activation": "relu", "batch_norm": True, "dropout1": 0.1, "second_dense": False,
        "units2": 4, "dropout2": 0.0, "regularizer": None, "regularization": 0.0}
AUG_LAYER_CLASSES = {"Pipeline", "RandomGeometry", "RandomColour"}


def _classifier(name="efficientnetv2b0", size=32):
    from melanoma_exp.models.build import build_model

    return build_model(OmegaConf.create({"name": name, "weights": None}), OmegaConf.create(HEAD), size)


def _images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("uint8")


def _layer_classes(model) -> set[str]:
    classes = set()
    for layer in model.layers:
        classes.add(type(layer).__name__)
        if hasattr(layer, "layers"):
            classes |= _layer_classes(layer)
    return classes


def test_settings_split_between_model_and_host():
    in_model, on_host = split_settings({"flip": True, "rotate": 0.25, "capture": 0.5})
    assert in_model == {"flip": 1.0, "rotate": 0.25, "zoom": 0.0, "contrast": 0.0, "brightness": 0.0}
    assert on_host == {"capture": 0.5}  # Pillow/SciPy degradations: host only
    assert split_settings(FULL)[1] is None


def test_each_setting_adds_its_layer_and_all_off_adds_none():
    layer = augmentation_layer(FULL, seed=0)
    assert layer.name == AUGMENTATION_LAYER
    assert [type(sub).__name__ for sub in layer.layers] == ["RandomGeometry", "RandomColour"]
    only_flip = augmentation_layer(augment_settings({"flip": True}), seed=0)
    assert [type(sub).__name__ for sub in only_flip.layers] == ["RandomGeometry"]
    only_colour = augmentation_layer(augment_settings({"brightness": 0.1}), seed=0)
    assert [type(sub).__name__ for sub in only_colour.layers] == ["RandomColour"]
    assert augmentation_layer(augment_settings({"flip": False, "rotate": 0}), seed=0) is None


def test_training_model_shares_the_classifiers_weights_in_their_order():
    classifier = _classifier()
    model = training_model(classifier, augmentation_layer(FULL, seed=0))
    # checkpoints are `model.weights` in order: the same variables means the same last.npz layout
    assert len(model.weights) == len(classifier.weights)
    assert all(a is b for a, b in zip(model.weights, classifier.weights, strict=True))
    assert model.get_layer("backbone") is classifier.get_layer("backbone")
    assert model.get_layer(AUGMENTATION_LAYER) is not None
    assert AUG_LAYER_CLASSES.isdisjoint(_layer_classes(classifier))
    assert training_model(classifier, None) is classifier


def test_augmentation_is_active_only_in_training_and_stays_in_range():
    import keras

    layer = augmentation_layer(FULL, seed=3)
    x = _images().astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == x.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 255.0
    assert np.abs(out - x).mean() > 1.0  # it did something
    again = keras.ops.convert_to_numpy(augmentation_layer(FULL, seed=3)(x, training=True))
    np.testing.assert_allclose(again, out, atol=1e-4)  # the same seed, the same first batch


def test_flips_are_exact_pixel_permutations_of_the_four_orientations():
    import keras

    x = _images(n=16).astype("float32")
    layer = augmentation_layer(augment_settings({"flip": True}), seed=0)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    seen = set()
    for image, flipped in zip(x, out, strict=True):
        variants = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]
        matches = [i for i, v in enumerate(variants) if np.array_equal(v, flipped)]
        assert matches, "a flip-only augmentation produced something other than a flip"
        seen.add(matches[0])
    assert len(seen) > 1  # 16 images: not all left as they were


def test_rotation_and_zoom_resample_existing_pixels_with_reflected_borders():
    import keras

    x = _images(n=8).astype("float32")
    out = keras.ops.convert_to_numpy(
        augmentation_layer(augment_settings({"rotate": 0.25, "zoom": 0.1}), seed=1)(x, training=True))
    for image, moved in zip(x, out, strict=True):  # nearest neighbour: every output pixel is an input pixel
        pixels = {tuple(p) for p in image.reshape(-1, 3)}
        assert all(tuple(p) in pixels for p in moved.reshape(-1, 3))
    assert not np.array_equal(out, x)


def test_brightness_shifts_each_image_by_one_amount_within_its_range():
    import keras

    x = np.full((8, 16, 16, 3), 128.0, "float32")
    x[:, :8] = 100.0
    out = keras.ops.convert_to_numpy(
        augmentation_layer(augment_settings({"brightness": 0.1}), seed=2)(x, training=True))
    shift = out - x
    assert np.allclose(shift, shift[:, :1, :1, :1], atol=1e-4)  # one shift per image
    assert np.abs(shift).max() <= 25.5 + 1e-4 and len(np.unique(np.round(shift[:, 0, 0, 0], 3))) > 1


def test_uint8_batches_through_the_training_model_match_the_classifier_on_float32():
    classifier = _classifier()
    model = training_model(classifier, augmentation_layer(FULL, seed=0))
    x = _images()
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               classifier.predict(x.astype("float32"), verbose=0), atol=1e-6)


def test_trainer_puts_augmentation_in_front_only_when_data_augment_is_on(tmp_path):
    """The trainer's own builder: augmentation in front when data.augment is on, nothing when off."""
    from melanoma_exp.config import compose
    from melanoma_exp.training.checkpoints import Checkpoints, RunState
    from melanoma_exp.training.trainer import _load_or_build
    from melanoma_exp.training.unfreeze import UnfreezeSchedule

    def built(*overrides):
        cfg = compose(["+experiment=smoke", f"trainer.run_dir={tmp_path}", *overrides])
        return _load_or_build(cfg, Checkpoints(tmp_path), RunState(), UnfreezeSchedule.from_config(cfg.unfreeze))

    classifier, model, phase = built()
    assert phase is None and model is not classifier
    assert [type(sub).__name__ for sub in model.get_layer(AUGMENTATION_LAYER).layers] == [
        "RandomGeometry", "RandomColour"]
    assert AUG_LAYER_CLASSES.isdisjoint(_layer_classes(classifier))
    off = [f"data.augment.{k}={v}" for k, v in
           {"flip": False, "rotate": 0, "zoom": 0, "contrast": 0, "brightness": 0}.items()]
    classifier, model, _ = built(*off)
    assert model is classifier


@pytest.mark.slow
def test_exported_model_has_no_augmentation_and_predicts_like_a_model_built_without_it(smoke_run):
    """The smoke run trained with augmentation (the recipe's default) and was killed and resumed."""
    import mlflow

    from melanoma_exp.config import compose
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.export.bundle import save_inference_model
    from melanoma_exp.models.build import build_model
    from melanoma_exp.training.checkpoints import Checkpoints

    cfg = compose(smoke_run.overrides)
    assert any(split_settings(cfg.data.augment)[0].values())
    mlflow.set_tracking_uri(smoke_run.tracking_uri)
    experiment = mlflow.MlflowClient().get_experiment_by_name("melanoma-smoke")
    (logged,) = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    logged_model = mlflow.keras.load_model(logged.model_uri)

    plain = build_model(cfg.model, cfg.head, int(cfg.data.image_size))  # never saw an augmentation layer
    Checkpoints.restore(plain, smoke_run.run_dir / "checkpoints" / "best.npz", optimizer=False)
    path = smoke_run.root / "export_check" / "model.keras"
    path.parent.mkdir(exist_ok=True)
    save_inference_model(logged_model, path)  # what export_bundle writes as the bundle's model.keras
    import keras

    exported = keras.saving.load_model(path, compile=False)
    for model in (logged_model, exported):
        assert AUG_LAYER_CLASSES.isdisjoint(_layer_classes(model))
        assert [layer.name for layer in model.layers] == [layer.name for layer in plain.layers]
    test = make_dataset(smoke_run.prepared, "test", batch_size=16, training=False)
    expected = plain.predict(test, verbose=0)
    np.testing.assert_array_equal(exported.predict(test, verbose=0), expected)
