"""Decision threshold ("operating point") for the malignant class, with bootstrap confidence intervals.

Convention used everywhere in the project: a lesion is called malignant when its malignant probability
is **>= threshold** (the same rule as `sklearn.metrics.roc_curve`). The threshold is chosen on the
validation split and then only *applied* to the test split, so the test numbers stay honest.

Missing a melanoma costs more than a false alarm, so the default method fixes the sensitivity
(recall of malignant) at a target and takes the highest threshold that reaches it, which gives the
best specificity among thresholds meeting the target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from melanoma_exp.schema import THRESHOLD_METHODS

METHODS = THRESHOLD_METHODS
THRESHOLD_MIN = 1e-6


@dataclass(frozen=True)
class OperatingPoint:
    """A chosen threshold and what it achieved on the split it was chosen on."""

    threshold: float
    method: str
    sensitivity: float
    specificity: float
    target_sensitivity: float | None = None
    beta: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (goes into report.json and model.json)."""
        return asdict(self)


def _check_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} entries but scores has {s.size}")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"y_true must hold 0 (benign) / 1 (malignant), got values {sorted(set(y))}")
    if y.sum() == 0 or y.sum() == y.size:
        raise ValueError(
            "choosing a threshold needs both benign and malignant cases; "
            f"got {int(y.sum())} malignant of {y.size}"
        )
    return y, s


def sensitivity_specificity(y_true, scores, threshold: float) -> tuple[float, float]:
    """Sensitivity (recall of malignant) and specificity (recall of benign) at a threshold.

    Args:
        y_true: 0/1 labels, 1 = malignant.
        scores: malignant probabilities.
        threshold: malignant when score >= threshold.

    Returns:
        (sensitivity, specificity); NaN for a class that has no cases.
    """
    y = np.asarray(y_true).astype(int).ravel()
    pred = (np.asarray(scores, dtype=float).ravel() >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    return float(sens), float(spec)


def choose_threshold(
    y_true,
    scores,
    method: str = "target_sensitivity",
    *,
    target_sensitivity: float = 0.95,
    beta: float = 2.0,
) -> OperatingPoint:
    """Choose the decision threshold on validation scores.

    Args:
        y_true: validation labels, 1 = malignant.
        scores: validation malignant probabilities.
        method: ``target_sensitivity`` (highest threshold whose sensitivity >= target),
            ``youden`` (max sensitivity + specificity - 1) or ``f_beta`` (max F-beta of malignant;
            beta > 1 weighs sensitivity more).
        target_sensitivity: used by ``target_sensitivity``.
        beta: used by ``f_beta``.

    Returns:
        The OperatingPoint with the validation sensitivity/specificity it reaches.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown eval.threshold_method {method!r}. Known: {', '.join(METHODS)}")
    y, s = _check_inputs(y_true, scores)
    if method == "target_sensitivity":
        if not 0.0 < target_sensitivity <= 1.0:
            raise ValueError(f"eval.target_sensitivity must be in (0, 1], got {target_sensitivity}")
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        # tpr rises as the threshold falls: the first index reaching the target is the highest
        # such threshold, i.e. the best specificity at the required sensitivity.
        idx = int(np.argmax(tpr >= target_sensitivity - 1e-12))
        threshold = float(thr[idx])
    elif method == "youden":
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        idx = int(np.argmax(tpr - fpr))
        threshold = float(thr[idx])
    else:
        precision, recall, thr = precision_recall_curve(y, s)
        b2 = beta**2
        with np.errstate(divide="ignore", invalid="ignore"):
            fbeta = (1 + b2) * precision * recall / (b2 * precision + recall)
        fbeta = np.nan_to_num(fbeta[:-1])  # the last point has no threshold
        threshold = float(thr[int(np.argmax(fbeta))])
    # roc_curve's first threshold is +inf ("call nothing malignant") and a saturated sigmoid can
    # give exactly 0: keep the threshold strictly inside (0, 1), as model.json requires.
    threshold = float(np.clip(threshold if np.isfinite(threshold) else 1.0, THRESHOLD_MIN, 1 - THRESHOLD_MIN))
    sens, spec = sensitivity_specificity(y, s, threshold)
    return OperatingPoint(
        threshold=threshold,
        method=method,
        sensitivity=sens,
        specificity=spec,
        target_sensitivity=target_sensitivity if method == "target_sensitivity" else None,
        beta=beta if method == "f_beta" else None,
    )


def proportion_ci(values, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0):
    """Bootstrap percentile CI of the mean of 0/1 outcomes (e.g. "was this malignant case caught?").

    Returns:
        (low, high), or (nan, nan) when there are fewer than two outcomes.
    """
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2:
        return float("nan"), float("nan")
    if np.all(v == v[0]):
        # scipy warns on a degenerate sample; every resample has the same mean anyway.
        return float(v[0]), float(v[0])
    res = stats.bootstrap(
        (v,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def auc_with_ci(y_true, scores, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """ROC AUC with a bootstrap percentile CI, resampling malignant and benign cases separately (the
    class counts are fixed by the split, as for sensitivity and specificity).

    Returns:
        ``{"auc", "auc_ci": [low, high], "n", "n_malignant", "n_benign", "confidence", "n_resamples"}``;
        AUC and CI are None when a class is missing.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    pos, neg = s[y == 1], s[y == 0]
    out = {"auc": None, "auc_ci": [None, None], "n": int(y.size), "n_malignant": int(pos.size),
           "n_benign": int(neg.size), "confidence": confidence, "n_resamples": int(n_resamples)}
    if pos.size == 0 or neg.size == 0:
        return out
    out["auc"] = float(roc_auc_score(y, s))
    rng = np.random.default_rng(seed)
    # AUC = P(score of a malignant > score of a benign) (+ half the ties), per resample via ranks
    aucs = np.empty(int(n_resamples))
    for i in range(aucs.size):
        p, n = rng.choice(pos, pos.size), rng.choice(neg, neg.size)
        ranks = stats.rankdata(np.concatenate([p, n]))
        aucs[i] = (ranks[: p.size].sum() - p.size * (p.size + 1) / 2) / (p.size * n.size)
    alpha = (1 - confidence) / 2
    out["auc_ci"] = [float(np.quantile(aucs, alpha)), float(np.quantile(aucs, 1 - alpha))]
    return out


def evaluate_at_threshold(
    y_true, scores, threshold: float, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict:
    """Sensitivity and specificity at a fixed threshold with bootstrap CIs.

    The bootstrap is stratified by class (malignant and benign cases are resampled separately), which
    is what a sensitivity/specificity CI means: the class counts are fixed by the test split.

    Returns:
        ``{"threshold", "n", "n_malignant", "n_benign", "sensitivity", "sensitivity_ci",
        "specificity", "specificity_ci", "confidence"}``.
    """
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    pred = s >= threshold
    caught = pred[y == 1].astype(float)
    cleared = (~pred[y == 0]).astype(float)
    sens, spec = sensitivity_specificity(y, s, threshold)
    return {
        "threshold": float(threshold),
        "n": int(y.size),
        "n_malignant": int(caught.size),
        "n_benign": int(cleared.size),
        "sensitivity": sens,
        "sensitivity_ci": list(proportion_ci(caught, n_resamples=n_resamples, confidence=confidence, seed=seed)),
        "specificity": spec,
        "specificity_ci": list(
            proportion_ci(cleared, n_resamples=n_resamples, confidence=confidence, seed=seed + 1)
        ),
        "confidence": confidence,
    }
