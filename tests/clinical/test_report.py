"""The clinical section end to end: threshold and calibration on val, test CIs, subgroups, plots,
MLflow metrics and the model-card text; the model-dependent sections on a tiny real model."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from melanoma_exp import DISCLAIMER
from melanoma_exp.config import group_config
from melanoma_exp.evaluation.clinical_report import (
    clinical_evaluation,
    flagged_subgroups,
    mlflow_metrics,
    model_card_markdown,
    served_probabilities,
)
from melanoma_exp.evaluation.model_checks import (
    images_from_dataset,
    ood_section,
    robustness_section,
    tta_section,
)

from .tiny_models import small_cnn, smooth_images


@pytest.fixture
def eval_cfg():
    """The real conf/eval/default.yaml, with fewer bootstrap resamples to stay quick."""
    cfg = group_config("eval")
    cfg.bootstrap = 300
    return cfg


def split(n, seed):
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-0.5, 2.0, n)
    y = (rng.random(n) < expit(true_logit)).astype(int)
    p = expit(3 * true_logit)  # ranks well but is over-confident (logits 3x too large)
    index = pd.DataFrame({"sex": rng.choice(["male", "female"], n), "age_approx": rng.choice([30, 50, 70], n),
                          "fitzpatrick_skin_type": rng.choice(["II", "IV", "VI"], n),
                          "attribution": "synthetic"})
    return y, p, index


def test_clinical_section_is_complete_and_consistent(eval_cfg, tmp_path):
    y_val, p_val, _ = split(400, 0)
    y_test, p_test, index = split(400, 1)
    section = clinical_evaluation(y_val, p_val, y_test, p_test, eval_cfg, test_index=index, out_dir=tmp_path)
    op = section["operating_point"]
    assert op["chosen_on"] == "val" and op["sensitivity"] >= 0.95
    assert section["threshold"] == op["threshold"] == op["test"]["threshold"]
    # the threshold lives on the served (calibrated) scale
    served = served_probabilities(p_test, section)
    np.testing.assert_allclose(served, expit(logit(np.clip(p_test, 1e-7, 1 - 1e-7)) / section["calibration"]["temperature"]))
    assert op["test"]["sensitivity"] == pytest.approx(np.mean(served[y_test == 1] >= section["threshold"]))
    assert section["calibration"]["after"]["ece"] < section["calibration"]["before"]["ece"]
    assert sum(r["n"] for r in section["subgroups"]["groups"]["sex"]) == 400
    assert {p.split("/")[-1] for p in section["plots"]} == {"operating_point.png", "reliability.png", "subgroups.png"}
    assert section["disclaimer"] == DISCLAIMER
    json.dumps(section)  # JSON-serialisable as it stands

    metrics = mlflow_metrics(section)
    assert metrics["val/threshold"] == section["threshold"]
    assert metrics["test/sensitivity_at_threshold_ci_low"] <= metrics["test/sensitivity_at_threshold"]
    auc = section["test_auc"]
    assert auc["n"] == 400 and metrics["test/auc_ci_low"] < auc["auc"] < metrics["test/auc_ci_high"]
    assert section["at_0.5"]["threshold"] == 0.5 and section["at_0.5"]["n"] == 400
    assert "subgroups/fitzpatrick_skin_type/VI/sensitivity" in metrics
    assert all(np.isfinite(v) for v in metrics.values())
    card = model_card_markdown(section)
    assert f"{section['threshold']:.3f}" in card and DISCLAIMER in card and "Calibration" in card


def test_other_threshold_methods_and_no_calibration(eval_cfg):
    y_val, p_val, _ = split(300, 2)
    y_test, p_test, _ = split(300, 3)
    eval_cfg.calibration.enabled = False
    eval_cfg.threshold_method = "youden"
    section = clinical_evaluation(y_val, p_val, y_test, p_test, eval_cfg)
    assert section["calibration"] is None and section["subgroups"] is None and section["plots"] == []
    np.testing.assert_array_equal(served_probabilities(p_test, section), p_test)
    assert section["operating_point"]["method"] == "youden"
    with pytest.raises(ValueError, match="eval.threshold_method"):  # the schema refuses it on assignment
        eval_cfg.threshold_method = "accuracy"


def test_flagged_subgroup_reaches_tags_and_model_card(eval_cfg):
    y_val, p_val, _ = split(400, 4)
    y_test, p_test, index = split(600, 5)
    worse = (index["fitzpatrick_skin_type"] == "VI").to_numpy() & (y_test == 1)
    p_test = np.where(worse, 1e-4, p_test)  # missed even after calibration
    section = clinical_evaluation(y_val, p_val, y_test, p_test, eval_cfg, test_index=index)
    assert "fitzpatrick_skin_type=VI" in flagged_subgroups(section)
    assert mlflow_metrics(section)["subgroups/flagged"] >= 1
    assert "⚠ trails_overall" in model_card_markdown(section)


def test_model_sections_on_a_tiny_model(eval_cfg, tmp_path):
    import tensorflow as tf

    model = small_cnn()
    images = smooth_images(40, seed=3)
    labels = (images.mean(axis=(1, 2, 3)) > 130).astype(int)
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype("float32"))).batch(16)
    x, y = images_from_dataset(ds, limit=20)
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,)

    eval_cfg.robustness.max_images = 6
    eval_cfg.ood.n_non_lesion = 40
    eval_cfg.ood.n_components = 8
    eval_cfg.ood.gate.size, eval_cfg.ood.gate.views, eval_cfg.ood.compare = 32, 1, False  # the gate's own test: test_ood_gate
    eval_cfg.ood.n_objects = 8
    eval_cfg.ood.crops_per_photo, eval_cfg.ood.fresh_lesions.n = 2, 8
    rob = robustness_section(model, images, 0.5, eval_cfg, out_dir=tmp_path)
    assert rob["n_images"] == 6 and (tmp_path / "robustness.png").is_file()
    ood = ood_section(model, (images[:20], labels[:20]), images[20:30], images[30:], eval_cfg, out_dir=tmp_path)
    assert ood["threshold"] is not None and (tmp_path / "ood.json").is_file()
    assert set(ood["held_out"]) >= {"auroc", "lesion_rejection_rate", "non_lesion_detection_rate"}
    tta = tta_section(model, images[:8], labels[:8], 0.5, eval_cfg)
    assert tta["transforms"] == list(eval_cfg.tta_transforms)

    y_val, p_val, _ = split(200, 6)
    section = {**clinical_evaluation(y_val, p_val, y_val, p_val, eval_cfg), "robustness": rob, "ood": ood, "tta": tta}
    metrics = mlflow_metrics(section)
    assert {"robustness/swing_median_pp", "ood/auroc", "tta/latency_factor"} <= set(metrics)
    card = model_card_markdown(section)
    assert "Phone-photo robustness" in card and "Not-a-lesion" in card
