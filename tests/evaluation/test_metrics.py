"""Test metrics equal scikit-learn's on fixed predictions; the baseline, report and CSV formats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from melanoma_exp import DISCLAIMER
from melanoma_exp.evaluation.metrics import baseline_probability, classification_metrics, scalar_metrics
from melanoma_exp.evaluation.plots import plot_confusion, plot_pr, plot_roc, plot_training_curves
from melanoma_exp.evaluation.report import build_report, summary_table, write_predictions, write_report

Y = np.array([1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0])
P = np.array([0.9, 0.2, 0.4, 0.7, 0.6, 0.1, 0.3, 0.55, 0.05, 0.8, 0.45, 0.51])
REPORT_TEST_KEYS = {
    "accuracy", "auc", "pr_auc", "sensitivity", "specificity", "precision_malignant", "recall_malignant",
    "f1_malignant", "f2_malignant", "precision_benign", "recall_benign", "f1_benign", "confusion_matrix", "n",
}


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_metrics_equal_scikit_learn(threshold):
    got = classification_metrics(Y, P, threshold)
    pred = (P >= threshold).astype(int)
    assert got["accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert got["auc"] == pytest.approx(roc_auc_score(Y, P))
    assert got["pr_auc"] == pytest.approx(average_precision_score(Y, P))
    for label, pos in (("malignant", 1), ("benign", 0)):
        assert got[f"precision_{label}"] == pytest.approx(precision_score(Y, pred, pos_label=pos))
        assert got[f"recall_{label}"] == pytest.approx(recall_score(Y, pred, pos_label=pos))
        assert got[f"f1_{label}"] == pytest.approx(f1_score(Y, pred, pos_label=pos))
        assert got[f"f2_{label}"] == pytest.approx(fbeta_score(Y, pred, beta=2, pos_label=pos))
    tn, fp, fn, tp = confusion_matrix(Y, pred).ravel()
    assert got["confusion_matrix"] == [[tn, fp], [fn, tp]]
    assert got["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert got["specificity"] == pytest.approx(tn / (tn + fp))
    assert got["n"] == len(Y)
    assert REPORT_TEST_KEYS <= set(got)


def test_f2_weights_recall_over_precision():
    # A model that flags everything: recall 1, precision 5/12 -> F2 well above F1.
    got = classification_metrics(Y, np.ones_like(P))
    assert got["recall_malignant"] == 1.0
    assert got["f2_malignant"] > got["f1_malignant"]


def test_baseline_is_the_most_frequent_training_class():
    base = baseline_probability(np.array([0, 0, 0, 1]), n_test=len(Y))
    assert base.shape == (len(Y),) and np.all(base == 0.0)
    metrics = classification_metrics(Y, base)
    assert metrics["sensitivity"] == 0.0 and metrics["specificity"] == 1.0
    assert metrics["accuracy"] == pytest.approx(np.mean(Y == 0))
    assert metrics["auc"] == pytest.approx(0.5)
    assert np.all(baseline_probability(np.array([1, 1, 0]), 3) == 1.0)


def test_single_class_truth_gives_null_auc_in_the_report(tmp_path):
    metrics = classification_metrics(np.zeros(4), np.array([0.1, 0.2, 0.7, 0.3]))
    assert np.isnan(metrics["auc"])
    report = build_report(model={"name": "x", "image_size": 32, "weights": None}, data={}, threshold=0.5,
                          monitor={"name": "val/accuracy", "value": 0.5, "epoch": 0}, test=metrics,
                          baseline=metrics)
    path = write_report(report, tmp_path / "report.json")
    loaded = json.loads(path.read_text())  # strict JSON: no NaN tokens
    assert loaded["test"]["auc"] is None
    assert loaded["disclaimer"] == DISCLAIMER


def test_scalar_metrics_flatten_the_confusion_matrix():
    flat = scalar_metrics(classification_metrics(Y, P), "test")
    assert {"test/accuracy", "test/tn", "test/fp", "test/fn", "test/tp"} <= set(flat)
    assert "test/confusion_matrix" not in flat
    assert flat["test/tp"] + flat["test/fn"] == Y.sum()


def test_predictions_csv_is_in_isic_challenge_format(tmp_path):
    path = write_predictions(["ISIC_1", "ISIC_2"], [0.25, 0.9], tmp_path / "p.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["image", "benign", "malignant"]
    assert frame["malignant"].tolist() == [0.25, 0.9]
    assert np.allclose(frame["benign"] + frame["malignant"], 1.0)


def test_plots_and_summary_table(tmp_path):
    history = [{"epoch": e, "train/loss": 1 / (e + 1), "val/loss": 1.2 / (e + 1), "train/accuracy": 0.5 + e / 10,
                "val/accuracy": 0.5 + e / 12} for e in range(4)]
    base = baseline_probability(np.zeros(3), len(Y))
    paths = [
        plot_training_curves(history, 2, tmp_path / "curves.png"),
        plot_roc(Y, P, base, tmp_path / "roc.png"),
        plot_pr(Y, P, base, tmp_path / "pr.png"),
        plot_confusion(classification_metrics(Y, P)["confusion_matrix"], tmp_path / "cm.png"),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = summary_table({"test": classification_metrics(Y, P), "baseline": classification_metrics(Y, base)})
    assert "sensitivity" in table and "baseline" in table
