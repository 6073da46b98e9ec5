"""The clinical summary in model.json and MODEL_CARD.md, through the export's real functions."""

import json

import numpy as np
import pandas as pd
from scipy.special import expit

from melanoma_exp import DISCLAIMER
from melanoma_exp.clinical.report import clinical_evaluation
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
    cfg = {"bootstrap": 200, "calibration": {"enabled": True}}
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


def test_bundle_without_clinical_section_is_unchanged():
    spec = build_model_json(meta_from_report({"threshold": 0.4}), height=32, width=32)
    assert spec["clinical"] is None
    assert "Clinical evaluation" not in render_model_card(spec)
