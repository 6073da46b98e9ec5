"""Calibration: expected calibration error, Brier score, reliability diagram, temperature scaling.

The thesis admitted its confidences were not probabilities (§5.3). Temperature scaling divides the
model's logit by one scalar T fitted on the validation split (T > 1 softens an over-confident
model). It is monotonic, so it never changes the ranking (AUC) — only what the number means. The
fitted T travels in model.json (``calibration.temperature``) and, optionally, as a layer inside the
exported model so served probabilities are calibrated without any change on the serving side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

_EPS = 1e-7


def probs_to_logits(probs) -> np.ndarray:
    """Logits of sigmoid probabilities, clipped so 0 and 1 stay finite."""
    p = np.clip(np.asarray(probs, dtype=float).ravel(), _EPS, 1 - _EPS)
    return logit(p)


def apply_temperature(probs, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logit(p) / T)``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return expit(probs_to_logits(probs) / temperature)


# Sharpening (T < 1) a model beyond what a small validation split supports is the dangerous
# direction (confident wrong "benign"), so the default search never sharpens more than 2x.
DEFAULT_BOUNDS = (0.5, 10.0)


def fit_temperature(y_true, probs, *, bounds: tuple[float, float] = DEFAULT_BOUNDS) -> float:
    """Fit the temperature that minimises the validation log-loss (negative log-likelihood).

    Args:
        y_true: validation labels, 1 = malignant.
        probs: uncalibrated validation malignant probabilities.
        bounds: search interval for T (``eval.calibration.min_temperature`` / ``max_temperature``).

    Returns:
        The temperature T (> 0).
    """
    y = np.asarray(y_true).astype(int).ravel()
    z = probs_to_logits(probs)
    if len(np.unique(y)) < 2:
        raise ValueError("fitting a temperature needs both benign and malignant validation cases")

    def nll(log_t: float) -> float:
        return log_loss(y, np.clip(expit(z / np.exp(log_t)), _EPS, 1 - _EPS), labels=[0, 1])

    # Search log(T) so the optimiser treats sharpening and softening symmetrically.
    res = minimize_scalar(nll, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded")
    return float(np.exp(res.x))


def expected_calibration_error(y_true, probs, n_bins: int = 10) -> float:
    """ECE: bin-size-weighted mean |observed frequency - mean predicted probability| (uniform bins).

    Uses `sklearn.calibration.calibration_curve` for the per-bin values and the same bin edges for
    the per-bin counts, which calibration_curve does not return.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probs, dtype=float).ravel()
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    counts = counts[counts > 0]  # calibration_curve drops empty bins too
    return float(np.sum(counts / p.size * np.abs(prob_true - prob_pred)))


def calibration_metrics(y_true, probs, n_bins: int = 10) -> dict:
    """ECE, Brier score and log-loss of malignant probabilities."""
    y = np.asarray(y_true).astype(int).ravel()
    p = np.clip(np.asarray(probs, dtype=float).ravel(), 0.0, 1.0)
    return {
        "ece": expected_calibration_error(y, p, n_bins),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1])),
    }


def calibrate(y_val, p_val, y_test, p_test, n_bins: int = 10, bounds: tuple[float, float] = DEFAULT_BOUNDS) -> dict:
    """Fit T on validation and report calibration before and after, on validation and test.

    The log-loss-optimal T can still raise the binned calibration error on a small validation split
    (typically by sharpening a weak model toward confident verdicts); such a T is not applied: the
    model keeps its own probabilities (T = 1) and the report says why.

    Returns:
        ``{"method": "temperature", "temperature": T applied, "fitted_temperature": T fitted,
        "applied": bool, "not_applied_reason": str | None, "at_bound": bool, "n_bins": ..,
        "before": {...}, "after": {...}, "validation": {"before": {...}, "after": {...}}}`` where
        before/after hold the *test* ECE, Brier and log-loss (``validation``: the same on the split T
        was fitted on); ``at_bound`` says the fit hit a search limit (too little validation data,
        or a degenerate model).
    """
    fitted = fit_temperature(y_val, p_val, bounds=bounds)
    val_before = calibration_metrics(y_val, p_val, n_bins)
    val_fitted = calibration_metrics(y_val, apply_temperature(p_val, fitted), n_bins)
    applied = val_fitted["ece"] <= val_before["ece"] + 1e-12
    temperature = fitted if applied else 1.0
    return {
        "method": "temperature",
        "temperature": temperature,
        "fitted_temperature": fitted,
        "applied": applied,
        "not_applied_reason": None if applied else (
            f"T = {fitted:.3f} raised the validation ECE ({val_before['ece']:.3f} -> {val_fitted['ece']:.3f})"),
        "at_bound": bool(np.isclose(fitted, bounds, rtol=1e-3).any()),
        "n_bins": n_bins,
        "before": calibration_metrics(y_test, p_test, n_bins),
        "after": calibration_metrics(y_test, apply_temperature(p_test, temperature), n_bins),
        "validation": {"before": val_before, "after": val_fitted if applied else val_before},
    }


def plot_reliability(y_true, probs_before, probs_after, path: str | Path, n_bins: int = 10) -> Path:
    """Reliability diagram (observed malignant frequency vs predicted probability), before/after.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.asarray(y_true).astype(int).ravel()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    for probs, name in ((probs_before, "before"), (probs_after, "after temperature scaling")):
        p = np.asarray(probs, dtype=float).ravel()
        true, pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
        ece = expected_calibration_error(y, p, n_bins)
        ax.plot(pred, true, "o-", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("predicted malignant probability")
    ax.set_ylabel("observed malignant fraction")
    ax.set_title("Reliability diagram (test split)")
    ax.legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def threshold_after_temperature(threshold: float, temperature: float) -> float:
    """The same decision boundary expressed on calibrated probabilities.

    Temperature scaling is monotonic, so ``p >= t`` on raw scores is exactly
    ``calibrated(p) >= calibrated(t)``; the bundle must carry the threshold on the scale it serves.
    """
    return float(apply_temperature([threshold], temperature)[0])


def fold_temperature(model, temperature: float, *, inplace: bool = False):
    """A copy of ``model`` (or, with ``inplace``, the model itself) whose output is temperature-scaled.

    The classifier ends in ``Dense(1, activation="sigmoid")``; dividing that layer's kernel and bias
    by T divides the logit by T, so the calibrated model is made of standard layers only: it saves,
    loads and converts to LiteRT like the original, and serving needs no change.

    Raises:
        ValueError: when the last layer is not a one-unit sigmoid Dense (`ensemble.build_ensemble`
            ends in one, so ensembles calibrate the same way).
    """
    import keras

    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    last = model.layers[-1]
    config = last.get_config()
    if not isinstance(last, keras.layers.Dense) or config.get("units") != 1 or config.get("activation") != "sigmoid":
        raise ValueError(
            f"fold_temperature needs a model ending in Dense(1, activation='sigmoid'); "
            f"{model.name!r} ends in {type(last).__name__} {last.name!r}"
        )
    if inplace:
        # The trainer logs and exports the model object it evaluated: scaling it in place makes
        # the logged model the calibrated one without another copy of a large backbone.
        calibrated = model
    else:
        calibrated = keras.models.clone_model(model)
        calibrated.set_weights(model.get_weights())
    layer = calibrated.get_layer(last.name)
    layer.set_weights([w / temperature for w in layer.get_weights()])
    return calibrated
