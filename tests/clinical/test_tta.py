"""Test-time augmentation: a flip-invariant model is unchanged; the Keras wrapper matches NumPy TTA."""

import numpy as np
import pytest

from melanoma_exp.evaluation.tta import TRANSFORMS, measure_tta, transform_numpy, tta_model, tta_predict

from .tiny_models import brightness_model, small_cnn, smooth_images


def test_tta_of_flip_invariant_model_equals_no_tta():
    model = brightness_model()  # global-average pooled: invariant to flips and rotations
    images = smooth_images(6)
    plain = model.predict(images, verbose=0).ravel()
    np.testing.assert_allclose(tta_predict(lambda x: model.predict(x, verbose=0), images, TRANSFORMS), plain,
                               atol=1e-6)
    np.testing.assert_allclose(tta_model(model, TRANSFORMS).predict(images, verbose=0).ravel(), plain, atol=1e-6)


def test_keras_wrapper_matches_numpy_tta_and_survives_save(tmp_path):
    import keras

    model = small_cnn()
    images = smooth_images(5)
    predict = lambda x: model.predict(x, verbose=0)  # noqa: E731
    expected = tta_predict(predict, images, TRANSFORMS)
    # a position-dependent model really does change under TTA
    assert np.abs(expected - predict(images).ravel()).max() > 1e-4
    wrapped = tta_model(model, TRANSFORMS)
    np.testing.assert_allclose(wrapped.predict(images, verbose=0).ravel(), expected, atol=1e-5)
    wrapped.save(tmp_path / "tta.keras")
    loaded = keras.saving.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0).ravel(), expected, atol=1e-5)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_numpy_transforms_are_dihedral(name):
    x = np.arange(2 * 3 * 3 * 1).reshape(2, 3, 3, 1)
    y = transform_numpy(x, name)
    assert y.shape == x.shape and sorted(y.ravel()) == sorted(x.ravel())


def test_measure_tta_reports_gain_and_latency():
    model = small_cnn()
    images = smooth_images(8)
    labels = np.array([0, 1] * 4)
    result = measure_tta(model, images, labels, transforms=("identity", "hflip"))
    assert result["plain"]["latency_ms"] > 0 and result["tta"]["latency_ms"] > 0
    assert result["accuracy_gain"] == pytest.approx(result["tta"]["accuracy"] - result["plain"]["accuracy"])


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match="Known: identity"):
        tta_predict(lambda x: x, np.zeros((1, 4, 4, 3)), ["shear"])


def test_tta_model_converts_to_litert_and_matches_keras():
    from ai_edge_litert.interpreter import Interpreter

    from melanoma_exp.export.litert import convert_to_litert

    wrapped = tta_model(small_cnn(), TRANSFORMS)
    images = smooth_images(1)
    interpreter = Interpreter(model_content=convert_to_litert(wrapped, quantize=False))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(lite, wrapped.predict(images, verbose=0), atol=1e-5)
