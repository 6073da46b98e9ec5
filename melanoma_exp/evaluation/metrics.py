"""Binary classification metrics with scikit-learn (never by hand), malignant = positive class.

F-beta uses beta = 2 (recall weighted twice as much as precision): missing a melanoma costs more
than a false alarm, as the thesis argues.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    fbeta_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

BETA = 2.0
LABELS = ("benign", "malignant")


def _safe(fn, *args, **kwargs) -> float:
    """A ranking metric is undefined with a single class in y_true: NaN, not a crash."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns (or raises) on a single class
        try:
            return float(fn(*args, **kwargs))
        except ValueError:
            return math.nan


def classification_metrics(y_true, probability, threshold: float = 0.5) -> dict:
    """Every test metric of report.json for predicted P(malignant) at `threshold`.

    Args:
        y_true: 0/1 labels (1 = malignant).
        probability: predicted P(malignant), same length.
        threshold: decision threshold; P >= threshold predicts malignant.

    Returns:
        accuracy, auc, pr_auc, sensitivity, specificity, precision/recall/f1/f2 per class,
        confusion_matrix [[tn, fp], [fn, tp]] and n.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    probability = np.asarray(probability, dtype=float).ravel()
    y_pred = (probability >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1], zero_division=0
    )
    f2 = fbeta_score(y_true, y_pred, beta=BETA, labels=[0, 1], average=None, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "auc": _safe(roc_auc_score, y_true, probability),
        "pr_auc": _safe(average_precision_score, y_true, probability),
        # sensitivity = recall of malignant, specificity = recall of benign
        "sensitivity": float(recall[1]),
        "specificity": float(recall[0]),
    }
    for index, label in enumerate(LABELS):
        out[f"precision_{label}"] = float(precision[index])
        out[f"recall_{label}"] = float(recall[index])
        out[f"f1_{label}"] = float(f1[index])
        out[f"f2_{label}"] = float(f2[index])
    out["confusion_matrix"] = matrix.tolist()
    out["n"] = int(len(y_true))
    return out


def baseline_probability(y_train, n_test: int) -> np.ndarray:
    """P(malignant) of scikit-learn's most-frequent-class dummy fitted on the training labels."""
    y_train = np.asarray(y_train).astype(int).ravel()
    dummy = DummyClassifier(strategy="most_frequent")
    dummy.fit(np.zeros((len(y_train), 1)), y_train)
    proba = dummy.predict_proba(np.zeros((n_test, 1)))
    classes = list(dummy.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(n_test)


def scalar_metrics(metrics: dict, prefix: str) -> dict[str, float]:
    """Flat `prefix/name` -> float view for MLflow (drops the matrix, keeps tn/fp/fn/tp)."""
    out = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    out.update({f"{prefix}/tn": tn, f"{prefix}/fp": fp, f"{prefix}/fn": fn, f"{prefix}/tp": tp})
    return out
