"""Operating point: the threshold meets the target sensitivity on validation; CIs behave."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score, recall_score

from melanoma_exp.evaluation.operating_point import (
    auc_with_ci,
    choose_threshold,
    evaluate_at_threshold,
    sensitivity_specificity,
)


def constructed_scores(n=400, seed=0):
    """Overlapping beta-distributed scores: malignant skew high, benign skew low."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.where(y == 1, rng.beta(5, 2, n), rng.beta(2, 5, n))
    return y, s


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 0.99])
def test_threshold_reaches_target_sensitivity_on_validation(target):
    y, s = constructed_scores()
    op = choose_threshold(y, s, "target_sensitivity", target_sensitivity=target)
    assert recall_score(y, s >= op.threshold) >= target
    assert op.sensitivity == pytest.approx(recall_score(y, s >= op.threshold))
    # It is the highest such threshold: the next higher score drops below the target,
    # so no specificity is given away.
    higher = np.unique(s[s > op.threshold])
    if higher.size:
        assert recall_score(y, s >= higher[0]) < target


def test_higher_target_costs_specificity():
    y, s = constructed_scores()
    low = choose_threshold(y, s, target_sensitivity=0.8)
    high = choose_threshold(y, s, target_sensitivity=0.99)
    assert high.threshold < low.threshold
    assert high.specificity <= low.specificity
    assert high.sensitivity >= 0.99


def test_youden_and_f_beta_are_the_best_over_all_thresholds():
    y, s = constructed_scores(seed=1)
    candidates = np.unique(s)
    youden = choose_threshold(y, s, "youden")
    j = [sum(sensitivity_specificity(y, s, t)) - 1 for t in candidates]
    assert sum(sensitivity_specificity(y, s, youden.threshold)) - 1 == pytest.approx(max(j))

    f2 = choose_threshold(y, s, "f_beta", beta=2.0)
    best = max(fbeta_score(y, s >= t, beta=2.0) for t in candidates)
    assert fbeta_score(y, s >= f2.threshold, beta=2.0) == pytest.approx(best)
    # beta > 1 leans toward sensitivity compared with F1
    f1 = choose_threshold(y, s, "f_beta", beta=1.0)
    assert f1_score(y, s >= f1.threshold) >= f1_score(y, s >= f2.threshold)
    assert f2.threshold <= f1.threshold


def test_bootstrap_ci_contains_estimate_and_shrinks_with_more_data():
    y_small, s_small = constructed_scores(n=80, seed=2)
    y_big, s_big = constructed_scores(n=2000, seed=2)
    small = evaluate_at_threshold(y_small, s_small, 0.5, n_resamples=500)
    big = evaluate_at_threshold(y_big, s_big, 0.5, n_resamples=500)
    for r in (small, big):
        for key in ("sensitivity", "specificity"):
            low, high = r[f"{key}_ci"]
            assert low <= r[key] <= high
    assert big["n_malignant"] + big["n_benign"] == big["n"] == 2000
    width = lambda r: r["sensitivity_ci"][1] - r["sensitivity_ci"][0]  # noqa: E731
    assert width(big) < width(small)


def test_errors_name_the_problem():
    y, s = constructed_scores()
    with pytest.raises(ValueError, match="Known: target_sensitivity, youden, f_beta"):
        choose_threshold(y, s, "accuracy")
    with pytest.raises(ValueError, match="both benign and malignant"):
        choose_threshold(np.zeros(10), np.linspace(0, 1, 10))


def test_threshold_stays_strictly_inside_zero_one():
    # saturated scores (exact 0 and 1) and a useless model: still a threshold model.json accepts
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.0])
    for method in ("target_sensitivity", "youden", "f_beta"):
        t = choose_threshold(y, s, method).threshold
        assert 0.0 < t < 1.0


def test_auc_interval_holds_the_estimate_covers_the_truth_and_narrows_with_data():
    from sklearn.metrics import roc_auc_score

    y, s = constructed_scores(n=120, seed=3)
    small = auc_with_ci(y, s, n_resamples=500, seed=0)
    assert small["auc"] == pytest.approx(roc_auc_score(y, s))
    assert small["auc_ci"][0] < small["auc"] < small["auc_ci"][1]
    # the true AUC of Beta(5,2) vs Beta(2,5) scores is P(X > Y) (~0.96): a 95 % interval from 120 cases holds it
    rng = np.random.default_rng(1)
    truth = float(np.mean(rng.beta(5, 2, 10**6) > rng.beta(2, 5, 10**6)))
    assert small["auc_ci"][0] < truth < small["auc_ci"][1]
    y_big, s_big = constructed_scores(n=2000, seed=3)
    big = auc_with_ci(y_big, s_big, n_resamples=500, seed=0)
    assert big["auc_ci"][1] - big["auc_ci"][0] < 0.6 * (small["auc_ci"][1] - small["auc_ci"][0])
    perfect = auc_with_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_resamples=50)
    assert perfect["auc"] == 1.0 and perfect["auc_ci"] == [1.0, 1.0]
    one_class = auc_with_ci([1, 1], [0.3, 0.4])
    assert one_class["auc"] is None and one_class["n_malignant"] == 2
