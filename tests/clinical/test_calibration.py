"""Calibration: temperature scaling fixes a deliberately over-confident model."""

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from melanoma_exp.evaluation.calibration import (
    apply_temperature,
    calibrate,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    plot_reliability,
    threshold_after_temperature,
)


def overconfident(n, seed, sharpness=3.0):
    """Labels drawn from true probabilities; the 'model' reports logit * sharpness (over-confident)."""
    rng = np.random.default_rng(seed)
    true_p = expit(rng.normal(0, 1.2, n))
    y = (rng.random(n) < true_p).astype(int)
    return y, expit(sharpness * logit(true_p))


def test_temperature_scaling_lowers_ece_of_overconfident_model(tmp_path):
    y_val, p_val = overconfident(2000, seed=0)
    y_test, p_test = overconfident(2000, seed=1)
    result = calibrate(y_val, p_val, y_test, p_test)
    # The model's logits are 3x too large, so the fitted temperature is close to 3.
    assert result["temperature"] == pytest.approx(3.0, rel=0.2)
    assert result["after"]["ece"] < 0.5 * result["before"]["ece"]
    assert result["after"]["brier"] < result["before"]["brier"]
    assert result["after"]["log_loss"] < result["before"]["log_loss"]
    # Monotonic: ranking (AUC) unchanged.
    calibrated = apply_temperature(p_test, result["temperature"])
    assert roc_auc_score(y_test, calibrated) == pytest.approx(roc_auc_score(y_test, p_test))
    png = plot_reliability(y_test, p_test, calibrated, tmp_path / "reliability.png")
    assert png.stat().st_size > 5000


def test_calibrated_model_gets_temperature_near_one():
    y, p = overconfident(3000, seed=2, sharpness=1.0)
    assert fit_temperature(y, p) == pytest.approx(1.0, abs=0.15)
    assert calibration_metrics(y, p)["ece"] < 0.05


def test_ece_matches_bin_definition():
    # Two bins hit: 0.15 (3 cases, 1 positive) and 0.85 (1 case, positive).
    y = np.array([0, 0, 1, 1])
    p = np.array([0.15, 0.15, 0.15, 0.85])
    expected = 3 / 4 * abs(1 / 3 - 0.15) + 1 / 4 * abs(1 - 0.85)
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(expected)


def test_threshold_moves_with_temperature_so_verdicts_do_not_change():
    y, p = overconfident(500, seed=3)
    t = 0.3
    cal_t = threshold_after_temperature(t, 3.0)
    np.testing.assert_array_equal(p >= t, apply_temperature(p, 3.0) >= cal_t - 1e-12)


def test_folded_temperature_model_serves_calibrated_probabilities(tmp_path):
    import keras

    from melanoma_exp.evaluation.calibration import fold_temperature

    from .tiny_models import small_cnn, smooth_images

    model = small_cnn()
    images = smooth_images(6)
    raw = model.predict(images, verbose=0).ravel()
    calibrated = fold_temperature(model, 2.5)
    np.testing.assert_allclose(calibrated.predict(images, verbose=0).ravel(), apply_temperature(raw, 2.5),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.predict(images, verbose=0).ravel(), raw)  # original untouched
    calibrated.save(tmp_path / "calibrated.keras")  # standard layers only: loads without custom objects
    reloaded = keras.saving.load_model(tmp_path / "calibrated.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0).ravel(), apply_temperature(raw, 2.5),
                               rtol=1e-4, atol=1e-6)


def test_fold_temperature_rejects_models_without_sigmoid_dense():
    import keras

    from melanoma_exp.evaluation.calibration import fold_temperature

    from .tiny_models import small_cnn

    base = small_cnn()
    averaged = keras.Model(base.inputs, keras.layers.Average()([base.outputs[0], base.outputs[0]]))
    with pytest.raises(ValueError, match="Dense\\(1, activation='sigmoid'\\)"):
        fold_temperature(averaged, 2.0)


def test_fold_temperature_calibrates_an_ensemble_like_a_single_model():
    from melanoma_exp.evaluation.calibration import apply_temperature, fold_temperature
    from melanoma_exp.evaluation.ensemble import build_ensemble

    from .tiny_models import small_cnn, smooth_images

    ensemble = build_ensemble([small_cnn(), small_cnn(seed=1)])
    images = smooth_images(4)
    raw = ensemble.predict(images, verbose=0).ravel()
    calibrated = fold_temperature(ensemble, 2.0).predict(images, verbose=0).ravel()
    np.testing.assert_allclose(calibrated, apply_temperature(raw, 2.0), atol=1e-6)


def _weak_scores(seed: int, n: int = 30):
    """A weak model whose scores huddle around the base rate: log-loss wants to sharpen it."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.45).astype(int)
    return y, 0.45 + 0.04 * (2 * y - 1) + rng.normal(0, 0.03, n)


def test_recalibration_never_raises_validation_ece():
    cases = [_weak_scores(seed) for seed in range(5)] + [overconfident(300, seed) for seed in range(3)]
    for y, p in cases:
        result = calibrate(y, p, y, p)
        assert result["validation"]["after"]["ece"] <= result["validation"]["before"]["ece"]
    # Here the log-loss fit sharpens 2x and would nearly double the ECE: the model keeps its own scale.
    y, p = _weak_scores(1)
    result = calibrate(y, p, y, p)
    assert result["fitted_temperature"] == pytest.approx(0.5, rel=1e-2) and not result["applied"]
    assert result["temperature"] == 1.0 and result["after"] == pytest.approx(result["before"])
    assert "raised the validation ECE" in result["not_applied_reason"]
