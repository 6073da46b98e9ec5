"""The clinical summary in model.json and MODEL_CARD.md, through the export's real functions."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from melanoma_exp import DISCLAIMER
from melanoma_exp.config import group_config
from melanoma_exp.evaluation.clinical_report import clinical_evaluation
from melanoma_exp.export.bundle import build_model_json, meta_from_report
from melanoma_exp.export.model_card import render_model_card


def section_with_trailing_group():
    rng = np.random.default_rng(0)
    n = 500
    true_logit = rng.normal(-0.5, 2.0, n)
    y = (rng.random(n) < expit(true_logit)).astype(int)
    p = expit(2 * true_logit)
    index = pd.DataFrame({"fitzpatrick_skin_type": rng.choice(["II", "VI"], n), "sex": None})
    p_test = np.where((index["fitzpatrick_skin_type"] == "VI") & (y == 1), 1e-4, p)
    cfg = group_config("eval", ["eval.bootstrap=200", "eval.calibration.enabled=true"])
    return clinical_evaluation(y, p, y, p_test, cfg, test_index=index)


def test_model_json_and_card_carry_the_clinical_summary():
    section = section_with_trailing_group()
    report = {"model": {"name": "tiny"}, "threshold": section["threshold"], "test": {}, "baseline": {},
              "clinical": section}
    spec = build_model_json(meta_from_report(report, name="t", version="1"), height=32, width=32)
    text = json.dumps(spec, allow_nan=False)  # strict JSON for the app, NaN-free
    clinical = json.loads(text)["clinical"]
    assert spec["decision_threshold"] == section["threshold"]
    assert clinical["threshold_method"] == "target_sensitivity" and clinical["threshold_chosen_on"] == "val"
    assert clinical["calibration"]["applied_in_model"] is True
    assert clinical["calibration"]["temperature"] == section["calibration"]["temperature"]
    assert [g["value"] for g in clinical["flagged_subgroups"]] == ["VI"]
    card = render_model_card(spec)
    assert "## Clinical evaluation" in card and "fitzpatrick_skin_type = VI" in card
    assert DISCLAIMER in card


def test_card_says_when_the_fitted_temperature_was_not_applied():
    from melanoma_exp.export.clinical_summary import bundle_summary, model_card_lines

    section = section_with_trailing_group()
    section["calibration"].update(temperature=1.0, applied=False,
                                  not_applied_reason="T = 0.500 raised the validation ECE (0.198 -> 0.382)")
    summary = bundle_summary(section)
    assert summary["calibration"]["temperature"] == 1.0 and "0.198 -> 0.382" in summary["calibration"]["not_applied_reason"]
    card = "\n".join(model_card_lines(summary))
    assert "fitted but not applied: T = 0.500 raised the validation ECE" in card and "Calibrated by" not in card


def test_bundle_without_clinical_section_is_unchanged():
    spec = build_model_json(meta_from_report({"threshold": 0.4}), height=32, width=32)
    assert spec["clinical"] is None
    assert "Clinical evaluation" not in render_model_card(spec)


def test_ood_scorer_travels_in_the_bundle(prepared_small, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from melanoma_exp.data.nonlesion import non_lesion_images
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.evaluation.model_checks import images_from_dataset
    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor
    from melanoma_exp.export.bundle import export_bundle

    from .tiny_models import nested_classifier

    model = nested_classifier()
    train = images_from_dataset(make_dataset(prepared_small, "train", batch_size=32, training=False))
    val = images_from_dataset(make_dataset(prepared_small, "val", batch_size=32, training=False))[0]
    non, _ = non_lesion_images(40, 32, seed=3)
    embed = feature_extractor(model).predict
    detector = MahalanobisOOD(n_components=8).fit(embed(train[0], verbose=0), train[1])
    detector.fit_threshold(embed(val, verbose=0), embed(non[:20], verbose=0))
    bundle = export_bundle(model, tmp_path / "bundle", meta={"name": "t", "version": "1", "threshold": 0.5},
                           ood={"detector": json.loads(json.dumps(detector.to_dict()))})

    spec = json.loads((bundle / "model.json").read_text())
    assert spec["ood"]["quality_issue"] == "not_a_lesion"
    assert spec["ood"]["threshold"] == pytest.approx(detector.threshold ** 2)  # mahalanobis: squared distance
    assert spec["decision_threshold"] == 0.5
    interpreter = Interpreter(model_path=str(bundle / spec["ood"]["file"]))
    interpreter.allocate_tensors()
    flagged = []
    for image in non[20:]:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
        interpreter.invoke()
        value = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).item()
        flagged.append(value >= spec["ood"]["threshold"])
    expected = detector.is_out_of_distribution(embed(non[20:], verbose=0))
    assert np.mean(np.array(flagged) == expected) >= 0.95  # LiteRT agrees with the detector
