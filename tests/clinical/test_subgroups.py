"""Subgroup report: tables sum to the totals, trailing groups are flagged."""

import numpy as np
import pandas as pd
import pytest

from melanoma_exp.evaluation.subgroups import age_band, subgroup_markdown, subgroup_report


def metadata(n=300, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.DataFrame({
        "sex": rng.choice(["male", "female", None], n, p=[0.45, 0.45, 0.1]),
        "age_approx": rng.choice([25, 35, 50, 65, 80, np.nan], n),
        "anatom_site_general": rng.choice(["head/neck", "torso", "lower extremity"], n),
        "fitzpatrick_skin_type": rng.choice(["I", "II", "III", "IV", "V", "VI"], n),
        "attribution": rng.choice(["Clinic A", "Clinic B"], n),
    })
    y = (rng.random(n) < 0.4).astype(int)
    s = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.15, n), 0, 1)
    return index, y, s


def test_subgroup_tables_sum_to_totals():
    index, y, s = metadata()
    report = subgroup_report(index, y, s, threshold=0.5)
    overall = report["overall"]
    assert overall["n"] == len(y) and overall["n_malignant"] == y.sum()
    assert set(report["groups"]) == {"sex", "age_band", "anatomic_site", "fitzpatrick_skin_type", "image_source"}
    for rows in report["groups"].values():
        for key in ("n", "n_malignant", "n_benign", "true_positives", "true_negatives"):
            assert sum(r[key] for r in rows) == overall[key], key
        for r in rows:
            if r["n_malignant"]:
                low, high = r["sensitivity_ci"]
                assert low <= r["sensitivity"] <= high
    sexes = {r["value"] for r in report["groups"]["sex"]}
    assert sexes == {"male", "female", "unknown"}  # missing values are a group, not dropped


def test_group_that_trails_overall_sensitivity_is_flagged():
    index, y, s = metadata(n=600, seed=1)
    # The model misses most melanomas on the darkest skin types.
    dark = index["fitzpatrick_skin_type"].isin(["V", "VI"]).to_numpy()
    s = np.where(dark & (y == 1), 0.3, s)
    report = subgroup_report(index, y, s, threshold=0.5, margin=0.05)
    flagged = {(r["attribute"], r["value"]) for r in report["flagged"] if r["flag"] == "trails_overall"}
    assert ("fitzpatrick_skin_type", "V") in flagged and ("fitzpatrick_skin_type", "VI") in flagged
    assert ("fitzpatrick_skin_type", "II") not in flagged
    md = subgroup_markdown(report)
    assert "⚠ trails_overall" in md and "fitzpatrick_skin_type" in md


def test_missing_columns_are_reported_not_invented():
    index, y, s = metadata()
    report = subgroup_report(index.drop(columns=["fitzpatrick_skin_type"]), y, s, 0.5)
    assert "fitzpatrick_skin_type" in report["missing_attributes"]
    assert "fitzpatrick_skin_type" not in report["groups"]


@pytest.mark.parametrize("age,band", [(5, "<30"), (30, "30-44"), (59, "45-59"), (74, "60-74"),
                                      (85, "75+"), (None, "unknown"), ("n/a", "unknown")])
def test_age_bands(age, band):
    assert age_band(age) == band


def test_length_mismatch_is_an_error():
    index, y, s = metadata()
    with pytest.raises(ValueError, match="must match"):
        subgroup_report(index.iloc[:10], y, s, 0.5)
