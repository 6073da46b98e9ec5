"""At export, the app's on-device model (int8 LiteRT) is scored against the float model on the run's
test split at the bundle's threshold; model.json and the model card say which one the device should
run, and why (real tiny model, real conversion, real LiteRT)."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def trained(prepared_small, tmp_path_factory):
    import keras

    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.export.bundle import export_bundle
    from melanoma_exp.export.tiny_bundle import build_tiny_model

    keras.utils.set_random_seed(0)
    model = build_tiny_model(32)
    model.fit(make_dataset(prepared_small, "train", batch_size=16, training=True), epochs=3, verbose=0)
    data = {"source": "synthetic", "prepared_dir": str(prepared_small)}
    out = export_bundle(model, tmp_path_factory.mktemp("on_device") / "bundle", progress=False,
                        meta={"name": "od", "version": "1", "threshold": 0.5, "data": data})
    return model, out, data


def test_model_json_carries_float_vs_int8_on_the_test_split(trained, prepared_small):
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.evaluation.model_checks import images_from_dataset
    from melanoma_exp.export.quantization import litert_probabilities

    _, out, _ = trained
    entry = json.loads((out / "model.json").read_text())["on_device"]
    images, labels = images_from_dataset(make_dataset(prepared_small, "test", batch_size=64, training=False))
    assert entry["measured"] is True and entry["n"] == len(labels) and entry["threshold"] == 0.5
    p_float = litert_probabilities(out / "model.tflite", images)
    p_int8 = litert_probabilities(out / "model_int8.tflite", images)
    assert entry["max_abs_delta_p"] == pytest.approx(float(np.max(np.abs(p_float - p_int8))))
    assert entry["flipped_decisions"] == int(np.sum((p_float >= 0.5) != (p_int8 >= 0.5)))
    for name in ("float", "int8"):
        assert set(entry[name]) == {"sensitivity", "specificity", "auc"}
    assert entry["recommended_model"] in ("float", "int8") and entry["reason"]
    card = (out / "MODEL_CARD.md").read_text()
    assert "## On-device model: float vs int8" in card and f"**{entry['recommended_model']}**" in card


def test_a_threshold_where_int8_flips_decisions_recommends_float_loudly(trained, tmp_path, capfd):
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.evaluation.model_checks import images_from_dataset
    from melanoma_exp.export.bundle import export_bundle
    from melanoma_exp.export.quantization import litert_probabilities

    model, out, data = trained
    images, _ = images_from_dataset(make_dataset(data["prepared_dir"], "test", batch_size=64, training=False))
    p_float = litert_probabilities(out / "model.tflite", images)
    p_int8 = litert_probabilities(out / "model_int8.tflite", images)
    moved = int(np.argmax(np.abs(p_float - p_int8)))
    assert p_float[moved] != p_int8[moved], "int8 moved no probability at all"
    threshold = float((p_float[moved] + p_int8[moved]) / 2)  # that image's decision flips
    assert 0.0 < threshold < 1.0
    capfd.readouterr()
    again = export_bundle(model, tmp_path / "bundle", progress=False,
                          meta={"name": "od", "version": "2", "threshold": threshold, "data": data})
    entry = json.loads((again / "model.json").read_text())["on_device"]
    assert entry["flipped_decisions"] >= 1 and entry["flipped_share"] > 0.01  # one of <= 40 test images
    assert entry["recommended_model"] == "float" and "flips" in entry["reason"]
    assert "WARNING" in capfd.readouterr().err


def test_without_the_test_split_nothing_is_invented(trained, tmp_path):
    from melanoma_exp.export.bundle import export_bundle

    model, _, _ = trained
    out = export_bundle(model, tmp_path / "bundle", progress=False,
                        meta={"name": "od", "version": "3", "threshold": 0.5,
                              "data": {"prepared_dir": str(tmp_path / "elsewhere")}})
    entry = json.loads((out / "model.json").read_text())["on_device"]
    assert entry == {"measured": False, "recommended_model": "float", "reason": entry["reason"]}
    assert "not measured" in entry["reason"]
