"""Ensembles: a model with itself equals the model; weights mean a weighted mean; saves as .keras."""

import numpy as np
import pytest

from melanoma_exp.evaluation.ensemble import build_ensemble, compare_members

from .tiny_models import brightness_model, constant_model, small_cnn, smooth_images


def test_ensemble_of_a_model_with_itself_equals_the_model():
    model = small_cnn()
    images = smooth_images(6)
    plain = model.predict(images, verbose=0)
    for weights in (None, [0.3, 0.7]):
        ens = build_ensemble([model, model], weights)
        np.testing.assert_allclose(ens.predict(images, verbose=0), plain, atol=1e-6)


def test_weighted_soft_vote_is_the_weighted_mean(tmp_path):
    import keras

    a, b = constant_model(p=0.2), brightness_model()
    images = smooth_images(4)
    pa, pb = a.predict(images, verbose=0), b.predict(images, verbose=0)
    ens = build_ensemble([a, b], weights=[1, 3])
    np.testing.assert_allclose(ens.predict(images, verbose=0), 0.25 * pa + 0.75 * pb, atol=1e-6)
    # Two members that were saved with the same layer names still load and save as one model.
    ens.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), 0.25 * pa + 0.75 * pb, atol=1e-6)


def test_members_loaded_from_one_file_twice_build_and_round_trip(tmp_path):
    import keras

    model = small_cnn()
    model.save(tmp_path / "member.keras")
    a = keras.saving.load_model(tmp_path / "member.keras")
    b = keras.saving.load_model(tmp_path / "member.keras")
    assert [lyr.name for lyr in a.layers] == [lyr.name for lyr in b.layers]  # clashing names
    ens = build_ensemble([a, b])
    ens.save(tmp_path / "ensemble.keras")
    images = smooth_images(3)
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "ensemble.keras").predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)


def test_compare_members_scores_each_on_the_same_images():
    a, b = constant_model(), brightness_model()
    images = smooth_images(10)
    labels = (images.mean(axis=(1, 2, 3)) > 128).astype(int)
    result = compare_members(build_ensemble([a, b]), [a, b], images, labels)
    assert len(result["members"]) == 2
    assert result["members"][1]["auc"] == pytest.approx(1.0)  # brightness model ranks perfectly
    assert result["ensemble"]["auc"] == pytest.approx(1.0)  # a constant member cannot spoil ranking


def test_members_must_share_input_shape_and_weights_must_be_valid():
    with pytest.raises(ValueError, match="same data.image_size"):
        build_ensemble([constant_model(32), constant_model(48)])
    with pytest.raises(ValueError, match="non-negative"):
        build_ensemble([constant_model(), constant_model()], weights=[1, -1])


def _overconfident(seed):
    """An untrained classifier whose logits are scaled up: confident and often wrong."""
    from .tiny_models import nested_classifier

    model = nested_classifier(seed=seed)
    layer = model.get_layer("prediction")
    layer.set_weights([w * 40 for w in layer.get_weights()])
    return model


def test_ensemble_gets_its_own_temperature_and_operating_point_on_validation(prepared_small, tmp_path):
    import keras

    from melanoma_exp.commands.ensemble import _predict, evaluate_ensemble
    from melanoma_exp.data.pipeline import load_split_index
    from melanoma_exp.evaluation.calibration import apply_temperature, calibration_metrics
    from melanoma_exp.evaluation.operating_point import sensitivity_specificity

    members = [_overconfident(0), _overconfident(1)]
    raw_val = _predict(build_ensemble(members), prepared_small, "val", 32)
    ensemble, report = evaluate_ensemble(members, [{}, {}], None, prepared_small, eval_overrides={"bootstrap": 50})
    y_val = load_split_index(prepared_small, "val")["label"].to_numpy()
    cal, op = report["clinical"]["calibration"], report["clinical"]["operating_point"]

    # Recalibrated on validation: softened, and validation ECE does not get worse.
    assert cal["temperature"] > 1.5
    assert cal["validation"]["after"]["ece"] <= cal["validation"]["before"]["ece"]
    assert cal["validation"]["before"] == calibration_metrics(y_val, raw_val, cal["n_bins"])
    # The temperature is inside the returned (logged, registered, exported) model ...
    served_val = _predict(ensemble, prepared_small, "val", 32)
    np.testing.assert_allclose(served_val, apply_temperature(raw_val, cal["temperature"]), atol=1e-5)
    ensemble.save(tmp_path / "ensemble.keras")
    reloaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(_predict(reloaded, prepared_small, "val", 32), served_val, atol=1e-6)
    # ... and the threshold, chosen for the ensemble itself, reaches the target on that served scale.
    assert report["threshold"] == op["threshold"] and op["method"] == "target_sensitivity"
    sensitivity, _ = sensitivity_specificity(y_val, apply_temperature(raw_val, cal["temperature"]), report["threshold"])
    assert sensitivity >= op["target_sensitivity"] == 0.95
    # The test metrics are those of the served (calibrated) ensemble at that threshold.
    assert report["test"]["sensitivity"] == pytest.approx(op["test"]["sensitivity"])
