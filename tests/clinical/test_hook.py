"""The trainer's hook on a real prepared dataset and a tiny trained model with a nested backbone."""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from melanoma_exp.config import group_config
from melanoma_exp.evaluation.calibration import apply_temperature
from melanoma_exp.evaluation.clinical import evaluate_clinical

from .tiny_models import nested_classifier


@pytest.fixture(scope="module")
def trained(prepared_small):
    from melanoma_exp.data.pipeline import load_split_index, make_dataset

    model = nested_classifier()
    train = make_dataset(prepared_small, "train", batch_size=16, training=True, seed=0)
    model.fit(train, epochs=3, verbose=0)
    test = make_dataset(prepared_small, "test", batch_size=16, training=False)
    y_test = load_split_index(prepared_small, "test")["label"].to_numpy()
    return model, y_test, model.predict(test, verbose=0).ravel()


def test_hook_calibrates_in_place_and_writes_every_section(trained, prepared_small, tmp_path):
    from melanoma_exp.data.pipeline import make_dataset

    model, y_test, p_test = trained
    cfg = OmegaConf.create({"eval": group_config("eval"), "data": group_config("data", ["data.batch_size=16"])})
    cfg.eval.bootstrap = 200
    cfg.eval.robustness.max_images = 8
    cfg.eval.ood.n_non_lesion = 40
    cfg.eval.ood.n_components = 8
    cfg.eval.ood.gate.size, cfg.eval.ood.gate.views, cfg.eval.ood.compare = 32, 1, False  # the gate's own test: test_ood_gate
    cfg.eval.ood.n_objects = 8
    cfg.eval.ood.crops_per_photo, cfg.eval.ood.fresh_lesions.n = 2, 8
    cfg.eval.tta = True
    section, served = evaluate_clinical(model, cfg, prepared_small, y_test, p_test, tmp_path)

    assert section["operating_point"]["chosen_on"] == "val"
    temperature = section["calibration"]["temperature"]
    np.testing.assert_allclose(served, apply_temperature(p_test, temperature), atol=1e-6)
    # the model object now serves the calibrated probabilities (it is what the trainer logs)
    test = make_dataset(prepared_small, "test", batch_size=16, training=False)
    np.testing.assert_allclose(model.predict(test, verbose=0).ravel(), served, rtol=1e-4, atol=1e-5)
    assert sum(r["n"] for r in section["subgroups"]["groups"]["sex"]) == len(y_test)
    assert section["robustness"]["n_images"] == 8
    assert section["robustness"]["trained_with_capture_preset"] == 0.0  # cfg.data has no augment
    assert section["ood"]["threshold"] is not None and (tmp_path / "ood.json").is_file()
    assert section["tta"]["plain"]["latency_ms"] > 0
    names = {p.rsplit("/", 1)[-1] for p in section["plots"]}
    assert {"operating_point.png", "reliability.png", "robustness.png", "ood_scores.png"} <= names
    json.dumps(section)


def test_sweep_trials_skip_the_model_checks(trained, prepared_small, tmp_path):
    model, y_test, p_test = trained
    cfg = OmegaConf.create({"eval": group_config("eval"),
                            "data": group_config("data", ["data.batch_size=16"]), "sweep": {"study_name": "s"}})
    cfg.eval.bootstrap = 100
    cfg.eval.calibration.enabled = False  # keep the module's model as trained
    section, served = evaluate_clinical(model, cfg, prepared_small, y_test, p_test, tmp_path)
    assert "robustness" not in section and "ood" not in section
    np.testing.assert_array_equal(served, p_test)
    assert set(section["timings_s"]) == {"operating_point_calibration_subgroups"}


def test_bad_eval_setting_fails_with_a_way_out(trained, prepared_small, tmp_path):
    model, y_test, p_test = trained
    cfg = OmegaConf.create({"eval": group_config("eval"), "data": group_config("data", ["data.batch_size=16"])})
    cfg.eval.target_sensitivity = 1.5  # a range validate_config would have refused before training
    out = tmp_path / "run" / "evaluation" / "clinical"
    with pytest.raises(ValueError, match=f"eval.target_sensitivity.*trainer.run_dir={tmp_path / 'run'}"):
        evaluate_clinical(model, cfg, prepared_small, y_test, p_test, out)
