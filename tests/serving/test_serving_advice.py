"""The advice agrees with the operating point, for any threshold: one rule (serving/recommend.py) on the
bands of model.json, walked over thresholds x a fine probability grid. The app's Advisor is held to
the same table through the shared fixtures (mobile/tools/make_fixtures.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from melanoma_exp.export.bundle import DEFAULT_BANDS
from serving.recommend import advice_band, check_bands, recommend

THRESHOLDS = (0.02, 0.045, 0.1, 0.3, 0.5, 0.8)
GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 20001), np.array(THRESHOLDS)]))


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_every_band_is_reachable_advice_is_monotone_and_malignant_means_p_at_least_threshold(threshold):
    levels = [b["level"] for b in DEFAULT_BANDS["benign"]] + [DEFAULT_BANDS["malignant"]["level"]]
    seen, last_severity = set(), -1
    for p in GRID:
        label, band = advice_band(float(p), threshold, DEFAULT_BANDS)
        assert label == ("malignant" if p >= threshold else "benign"), (p, threshold)
        assert band["severity"] >= last_severity, f"milder advice at p={p} than just below (t={threshold})"
        last_severity = band["severity"]
        seen.add(band["level"])
        assert (band is DEFAULT_BANDS["malignant"]) == (label == "malignant")
    assert seen == set(levels), f"unreachable at t={threshold}: {set(levels) - seen}"


def test_at_the_thesis_threshold_the_bands_are_table_5_1():
    # Table 5.1 (threshold 0.5): benign >= 90 % likely benign, >= 80 % monitor, >= 60 % see a
    # dermatologist, below that immediate examination; malignant: seek care.
    expected = {0.02: "likely_benign", 0.10: "likely_benign", 0.15: "monitor", 0.20: "monitor",
                0.25: "see_dermatologist", 0.40: "see_dermatologist", 0.41: "immediate_examination",
                0.4999: "immediate_examination", 0.5: "seek_care", 0.97: "seek_care"}
    got = {p: recommend(p, 0.5, DEFAULT_BANDS, [])[1]["level"] for p in expected}
    assert got == expected


def test_sensitivity_first_threshold_reaches_every_benign_band():
    # The demo bundle's operating point (0.045) used to leave only "likely benign" for benign verdicts.
    levels = [recommend(p, 0.045, DEFAULT_BANDS, [])[1]["level"] for p in (0.005, 0.012, 0.03, 0.04, 0.05)]
    assert levels == ["likely_benign", "monitor", "see_dermatologist", "immediate_examination", "seek_care"]


def test_a_bad_photo_leads_with_retake_and_keeps_the_worrying_advice():
    label, advice = recommend(0.6, 0.5, DEFAULT_BANDS, ["blurry"])
    assert label == "malignant" and advice["level"] == "retake_photo"
    assert DEFAULT_BANDS["malignant"]["text"] in advice["text"]


def test_no_band_text_calls_a_lesion_safe():
    texts = [b["text"] for b in DEFAULT_BANDS["benign"]] + [DEFAULT_BANDS["malignant"]["text"]]
    assert not any("safe" in t.lower() for t in texts)


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.update(rule="benign_probability"), "rule"),
    (lambda b: b["benign"][1].update(max_threshold_fraction=0.1), "rise strictly"),
    (lambda b: b["benign"][-1].update(max_threshold_fraction=0.9), "must be 1.0"),
    (lambda b: b["benign"][2].update(severity=0), "severity must never fall"),
    (lambda b: b["malignant"].update(severity=1), "severity must never fall"),
    (lambda b: b.update(benign=[]), "benign is empty"),
])
def test_bands_that_would_break_the_guarantees_are_rejected_by_name(change, message):
    bands = copy.deepcopy(DEFAULT_BANDS)
    change(bands)
    with pytest.raises(ValueError, match=message):
        check_bands(bands)
