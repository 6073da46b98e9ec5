"""Parity: Keras vs float LiteRT (≤ 1e-4), int8 vs float (≤ 0.02), and serving's Pillow preprocessing of
the raw file vs the training pipeline's image (≤ 0.01): the model sees the same thing everywhere."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained_bundle(prepared_small, tmp_path_factory):
    """A tiny CNN trained briefly on the shared prepared dataset, exported as a real bundle."""
    import keras

    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.export.bundle import export_bundle
    from melanoma_exp.export.tiny_bundle import build_tiny_model

    keras.utils.set_random_seed(0)
    size = 32
    model = build_tiny_model(size)
    model.fit(make_dataset(prepared_small, "train", batch_size=16, training=True), epochs=4, verbose=0)
    out = export_bundle(model, tmp_path_factory.mktemp("parity") / "bundle",
                        meta={"name": "parity", "version": "1", "threshold": 0.5,
                              "quality_gate": {"min_side_px": 16}})
    test_ds = make_dataset(prepared_small, "test", batch_size=16, training=False)
    images = np.concatenate([x.numpy() for x, _ in test_ds])
    return model, out, images


def test_keras_and_litert_agree(trained_bundle):
    from serving.model import LiteRTModel, load_model_json

    model, bundle, images = trained_bundle
    spec = load_model_json(bundle)
    keras_p = model.predict(images, verbose=0).reshape(-1)
    assert keras_p.std() > 0.01, "the model must not be constant, or parity proves nothing"
    lite = LiteRTModel(bundle, spec, variant="float")
    int8 = LiteRTModel(bundle, spec, variant="int8")
    float_p = np.array([lite.predict(im) for im in images])
    int8_p = np.array([int8.predict(im) for im in images])
    assert np.max(np.abs(keras_p - float_p)) <= 1e-4
    assert np.max(np.abs(int8_p - float_p)) <= 0.02
    assert (bundle / "model_int8.tflite").stat().st_size < (bundle / "model.tflite").stat().st_size


def test_serving_preprocessing_matches_training_pipeline(trained_bundle, prepared_small, synthetic_raw):
    from melanoma_exp.data.pipeline import load_split_index
    from serving.service import LesionService
    from serving.settings import Settings

    model, bundle, images = trained_bundle
    index = load_split_index(prepared_small, "test")
    keras_p = model.predict(images, verbose=0).reshape(-1)
    service = LesionService(Settings(bundle_dir=bundle))
    served = np.array([service.analyse(next(synthetic_raw.glob(f"{isic_id}.*")).read_bytes())
                       ["malignant_probability"] for isic_id in index["isic_id"]])
    assert len(served) == len(keras_p) > 10
    assert np.max(np.abs(served - keras_p)) <= 0.01, np.max(np.abs(served - keras_p))
